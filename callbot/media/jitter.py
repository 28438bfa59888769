"""Jitter buffer for one inbound RTP stream: packets in, one fixed-size frame out per pop.

Pure and clock-free: the caller passes arrival times and calls `pop()` once per
output frame interval. All positions are extended RTP timestamps, with one
timestamp unit per PCM sample (true of G.711 and L16), so packet sizes of
10-40 ms and the output frame size are independent.

Gaps are told apart by sequence numbers: a timestamp gap with contiguous sequence
numbers (or after comfort noise) is silence suppression and plays as silence; a
gap with missing sequence numbers is loss and is concealed by repeating the last
frame with a fade, then silence. Clock drift is absorbed by merging two frames
into one (sender fast) or stretching one into two (sender slow), preferably in
quiet frames; an empty buffer holds playout and rebuffers to the target depth.
"""

from __future__ import annotations

import bisect

import numpy as np

from callbot.media.drift import DriftControl
from callbot.media.g711 import Pcm
from callbot.media.jitter_types import Frame, FrameKind, JitterStats, PushResult
from callbot.media.reception import Arrival, ReceptionTracker
from callbot.media.rtp import TS_MOD

__all__ = ["Frame", "FrameKind", "JitterBuffer", "JitterStats", "PushResult"]

# Consecutive late packets that mean the sender's timestamps jumped backwards.
_LATE_RUN_RESYNC = 10
# Entries kept at most; real streams stay far below (max depth / 10 ms packets).
_MAX_ENTRIES = 1024
_INT16 = np.dtype(np.int16)


class _Entry:
    """One stored packet (a slotted class: several are made and read per frame)."""

    __slots__ = ("comfort_noise", "end", "pcm", "seq", "start")

    def __init__(self, seq: int, start: int, pcm: Pcm, comfort_noise: bool) -> None:
        self.seq = seq
        self.start = start
        self.pcm = pcm
        self.comfort_noise = comfort_noise
        self.end = start + len(pcm)


class JitterBuffer:
    """Reorders, deduplicates, conceals and paces one RTP stream of decoded PCM."""

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        frame_ms: int = 20,
        target_ms: int = 60,
        max_ms: int = 300,
        conceal_ms: int = 60,
        force_adjust_ms: int = 2000,
        quiet_level: float = 330.0,
    ) -> None:
        if sample_rate <= 0 or frame_ms <= 0:
            raise ValueError("sample rate and frame size must be positive")
        self.sample_rate = sample_rate
        self.frame = sample_rate * frame_ms // 1000
        self.target = sample_rate * target_ms // 1000
        self.max_depth = sample_rate * max_ms // 1000
        if self.target < self.frame or self.max_depth < self.target + 3 * self.frame:
            raise ValueError(
                f"need frame {frame_ms} <= target {target_ms} and max {max_ms} >= target + 3 frames"
            )
        self.conceal_len = sample_rate * conceal_ms // 1000
        self.quiet_level = quiet_level
        self._drift = DriftControl(
            self.target, self.frame, max(1, 1000 // frame_ms), max(1, force_adjust_ms // frame_ms)
        )
        self._tracker = ReceptionTracker(sample_rate)
        self._late = self._overflow = self._concealed = self._underruns = 0
        self._drops = self._inserts = self._resets = 0
        fade = np.linspace(0.0, 1.0, self.frame, endpoint=False) + 0.5 / self.frame
        self._fade_in = fade
        self._fade_out = fade[::-1]
        self._reset_playout()

    def _reset_playout(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._starts: list[int] = []
        self._end: int | None = None  # cached _max_end(), None when the entries changed
        self._play: int | None = None
        self._playing = False
        self._played_any = False
        self._last: _Entry | None = None
        self._late_run = 0
        self._history = np.zeros(self.frame, dtype=np.int16)  # last audio frame played
        self._last_out = self._history  # last frame returned, whatever it was
        self._conceal_run = 0
        self._fill_conceals = False
        self._drift.reset()

    def reset(self) -> None:
        """Start over for a new source (new SSRC); statistics stay cumulative."""
        self._tracker.reset()
        self._reset_playout()
        self._resets += 1

    @property
    def depth(self) -> int:
        """Buffered samples ahead of the playout position, holes included."""
        if self._play is None or not self._starts:
            return 0
        return max(0, self._max_end() - self._play)

    def _max_end(self) -> int:
        end = self._end
        if end is None:
            # Entries never overlap much; the last few starts decide the end.
            entries = self._entries
            end = self._end = max([entries[s].end for s in self._starts[-4:]])
        return end

    @property
    def stats(self) -> JitterStats:
        t = self._tracker
        return JitterStats(
            received=t.received,
            lost=t.lost,
            late=self._late,
            duplicates=t.duplicates,
            discarded=t.discarded,
            overflow=self._overflow,
            concealed_frames=self._concealed,
            underruns=self._underruns,
            drift_drops=self._drops,
            drift_inserts=self._inserts,
            resets=self._resets + t.restarts,
            jitter=t.jitter_seconds,
        )

    def push(
        self,
        seq: int,
        timestamp: int,
        pcm: Pcm,
        arrival_time: float,
        *,
        marker: bool = False,
        comfort_noise: bool = False,
        copy: bool = True,
    ) -> PushResult:
        """Add one packet's decoded PCM (ignored for comfort noise, payload type 13).

        `marker` is accepted for completeness: talkspurt starts are recognised by
        contiguous sequence numbers across the timestamp gap, which also works when
        the marked packet is lost. `copy=False` hands `pcm` over (a fresh decode
        nobody else holds): it is kept as it is, never written.
        """
        del marker
        # `is` first: comparing a dtype with a type object is slow, and this runs per packet.
        if pcm.ndim != 1 or (pcm.dtype is not _INT16 and pcm.dtype != np.int16):
            raise ValueError(f"PCM must be 1-D int16, got {pcm.ndim}-D {pcm.dtype}")
        if not comfort_noise and len(pcm) == 0:
            self._tracker.discarded += 1
            return PushResult.DISCARDED
        tracker = self._tracker
        arrival = tracker.accept(seq, timestamp, arrival_time)
        if arrival is Arrival.PROBATION:
            return PushResult.DISCARDED
        if arrival is Arrival.DUPLICATE:
            return PushResult.DUPLICATE
        if arrival is Arrival.RESTART:
            self._reset_playout()
        body = np.zeros(0, dtype=np.int16) if comfort_noise else pcm.copy() if copy else pcm
        entry = _Entry(tracker.ext_seq, tracker.ext_timestamp, body, comfort_noise)

        if self._play is None or (not self._played_any and entry.start < self._play):
            self._play = entry.start
        elif self._played_any and (
            entry.end <= self._play if len(body) else entry.start < self._play
        ):
            self._late += 1
            self._late_run += 1
            if self._late_run < _LATE_RUN_RESYNC:
                return PushResult.LATE
            # The sender's clock went backwards: follow it from here.
            self._reset_playout()
            self._resets += 1
            self._play = entry.start
        self._late_run = 0
        if entry.start in self._entries:
            self._tracker.duplicates += 1
            return PushResult.DUPLICATE
        if not self._starts or entry.start > self._starts[-1]:
            self._starts.append(entry.start)  # in order: the usual case
        else:
            bisect.insort(self._starts, entry.start)
        self._entries[entry.start] = entry
        end = self._end
        if end is not None and entry.end > end:
            end = self._end = entry.end
        if end is None:
            end = self._max_end()
        if end - self._play > self.max_depth or len(self._starts) > _MAX_ENTRIES:
            self._enforce_bounds()
        return PushResult.STORED

    def _enforce_bounds(self) -> None:
        assert self._play is not None
        end = self._max_end()
        if end - self._play > self.max_depth:
            self._skip_to(end - self.target)
        while len(self._starts) > _MAX_ENTRIES:
            self._skip_to(self._entries[self._starts[0]].end + 1)

    def _skip_to(self, position: int) -> None:
        """Move playout forward; packets left wholly behind count as overflow."""
        assert self._play is not None
        if position <= self._play:
            return
        before = len(self._starts)
        audio_before = sum(1 for e in self._entries.values() if len(e.pcm))
        self._advance(position)
        audio_after = sum(1 for e in self._entries.values() if len(e.pcm))
        self._overflow += audio_before - audio_after
        if len(self._starts) != before:
            self._conceal_run = self.conceal_len  # what was skipped cannot be continued
        self._drift.reset()

    def pop(self) -> Frame:
        """The next output frame: always exactly one frame of samples."""
        if self._play is None:
            return self._held_frame()
        if not self._playing:
            if self.depth < self.target:
                return self._held_frame()
            if self._played_any:
                # Back from a hold: skip the silent lead so that `target` is buffered.
                first = self._entries[self._starts[0]].start
                self._play = max(self._play, min(first, self._max_end() - self.target))
            self._playing = True
            self._played_any = True
            self._drift.reset()
        depth = max(0, self._max_end() - self._play) if self._starts else 0
        drift = self._drift
        drift.observe(depth)
        if drift.pending > 0 and depth >= 2 * self.frame and self._may_adjust(2):
            return self._merge_frame()
        if drift.pending < 0 and depth >= self.frame and self._may_adjust(1):
            return self._stretch_frame()
        start = self._play
        frame = self.frame
        starts = self._starts
        if starts:
            head = self._entries[starts[0]]
            if head.start <= start and head.end >= start + frame:
                # The usual case: in-order packets, the frame lies in the head packet.
                out = head.pcm[start - head.start : start - head.start + frame]
                self._conceal_run = 0
                self._play = start + frame
                if head.end == start + frame:
                    self._advance(start + frame)
                self._history = self._last_out = out
                return Frame(out, FrameKind.AUDIO, start % TS_MOD, frame)
        out, audio, concealed, stop, run = self._render(start, self.frame)
        self._conceal_run = run
        consumed = self.frame
        if stop is not None:
            # Ran dry inside this frame: hold playout here and rebuffer.
            consumed = stop
            self._advance(start + stop)
            prev = self._prev_entry(start + stop)
            self._fill_conceals = prev is not None and not prev.comfort_noise
            self._underruns += self._fill_conceals
            self._playing = False
            tail, tail_concealed = self._fill(self.frame - stop)
            out[stop:] = tail
            concealed += tail_concealed
        else:
            self._advance(start + consumed)
        return self._emit(out, audio, concealed, start, consumed)

    def _held_frame(self) -> Frame:
        out, concealed = self._fill(self.frame)
        return self._emit(out, 0, concealed, 0, 0)

    def _emit(self, out: Pcm, audio: int, concealed: int, start: int, consumed: int) -> Frame:
        if concealed:
            kind = FrameKind.CONCEALED
            self._concealed += 1
        elif audio:
            kind = FrameKind.AUDIO
            self._history = out
        else:
            kind = FrameKind.SILENCE
        self._last_out = out
        timestamp = start % TS_MOD if consumed else None
        return Frame(out, kind, timestamp, consumed)

    def _prev_entry(self, position: int) -> _Entry | None:
        """The packet that starts at or before `position` and does not cover it."""
        idx = bisect.bisect_right(self._starts, position) - 1
        return self._entries[self._starts[idx]] if idx >= 0 else self._last

    def _advance(self, position: int) -> None:
        self._play = position
        starts, entries = self._starts, self._entries
        while starts:
            entry = entries[starts[0]]
            if entry.end > position or entry.start >= position:
                break
            del entries[starts.pop(0)]
            self._last = entry
            if self._end is not None and (not starts or entry.end >= self._end):
                self._end = None  # the end may have left with it: recompute when asked

    def _render(self, start: int, n: int) -> tuple[Pcm, int, int, int | None, int]:
        """Samples [start, start+n) without side effects.

        Returns (pcm, audio samples, concealed samples, offset where the buffer ran
        dry or None, concealment run length afterwards).
        """
        idx = bisect.bisect_right(self._starts, start) - 1
        if idx >= 0:
            head = self._entries[self._starts[idx]]
            if head.end >= start + n:
                # All inside one packet (in-order packets of the frame size or
                # larger): a view, the entries are never written to.
                offset = start - head.start
                return head.pcm[offset : offset + n], n, 0, None, 0
        return self._render_general(start, n)

    def _render_general(self, start: int, n: int) -> tuple[Pcm, int, int, int | None, int]:
        """`_render` across packets, holes and the end of the buffer."""
        out = np.zeros(n, dtype=np.int16)
        pos, end, run = start, start + n, self._conceal_run
        audio = concealed = 0
        while pos < end:
            idx = bisect.bisect_right(self._starts, pos) - 1
            entry = self._entries[self._starts[idx]] if idx >= 0 else None
            if entry is not None and entry.end > pos:
                take = min(entry.end, end) - pos
                offset = pos - entry.start
                out[pos - start : pos - start + take] = entry.pcm[offset : offset + take]
                audio += take
                run = 0
                pos += take
                continue
            if idx + 1 >= len(self._starts):
                return out, audio, concealed, pos - start, run
            following = self._entries[self._starts[idx + 1]]
            hole_end = min(following.start, end)
            lost = self._loss_end(entry if entry is not None else self._last, following)
            count = max(0, min(lost, hole_end) - pos)
            if count:
                out[pos - start : pos - start + count], faded = self._conceal(run, count)
                concealed += faded
                run += count
            pos = hole_end
        return out, audio, concealed, None, run

    @staticmethod
    def _loss_end(prev: _Entry | None, following: _Entry) -> int:
        """Where the concealed part of a gap ends: missing packets are assumed to
        follow `prev` with its duration; the rest of the gap is silence suppression."""
        if prev is None or prev.comfort_noise:
            return -(1 << 62)  # no loss
        missing = following.seq - prev.seq - 1
        return prev.end + max(0, missing) * len(prev.pcm)

    def _conceal(self, run: int, count: int) -> tuple[Pcm, int]:
        """Repeat the last audio frame with a linear fade from `run` samples in."""
        index = np.arange(run, run + count)
        gain = np.clip(1.0 - index / max(1, self.conceal_len), 0.0, 1.0)
        samples = self._history[index % self.frame] * gain
        return np.rint(samples).astype(np.int16), int(np.count_nonzero(gain))

    def _fill(self, count: int) -> tuple[Pcm, int]:
        """Samples for a hold: concealment after audio, silence otherwise."""
        if not self._fill_conceals:
            return np.zeros(count, dtype=np.int16), 0
        out, faded = self._conceal(self._conceal_run, count)
        self._conceal_run += count
        return out, faded

    def _may_adjust(self, frames: int) -> bool:
        if self._drift.forced:
            return True
        assert self._play is not None
        out = self._render(self._play, frames * self.frame)[0].astype(np.float64)
        return float(np.sqrt(np.mean(out * out))) < self.quiet_level

    def _merge_frame(self) -> Frame:
        """Play two frames in one frame's time, cross-faded (sender clock fast)."""
        assert self._play is not None
        start = self._play
        out, audio, concealed, _, run = self._render(start, 2 * self.frame)
        mixed = out[: self.frame] * self._fade_out + out[self.frame :] * self._fade_in
        self._conceal_run = run
        self._advance(start + 2 * self.frame)
        self._drops += 1
        self._drift.reset()
        return self._emit(np.rint(mixed).astype(np.int16), audio, concealed, start, 2 * self.frame)

    def _stretch_frame(self) -> Frame:
        """Play one extra frame without advancing (sender clock slow).

        It starts like the next frame and ends like the previous one, so both
        joins stay continuous.
        """
        assert self._play is not None
        out, audio, concealed, _, _ = self._render(self._play, self.frame)
        mixed = out * self._fade_out + self._last_out * self._fade_in
        self._inserts += 1
        self._drift.reset()
        return self._emit(np.rint(mixed).astype(np.int16), audio, concealed, self._play, 0)
