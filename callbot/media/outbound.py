"""Per-call outbound audio: frames queued for the shared pacer, cleared at once."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from callbot.media.codec import AudioCodec
from callbot.media.g711 import Pcm
from callbot.media.pacer import Pacer


@dataclass(slots=True)
class OutFrame:
    """One packet interval of bot audio, encoded and as PCM."""

    payload: bytes
    pcm: Pcm
    utterance_id: str
    # Samples of this utterance sent before this frame (what the caller heard so far).
    utterance_offset: int


FrameSink = Callable[[OutFrame], None]
FrameTap = Callable[[OutFrame], None]
_RECALL_FRAMES = 100  # frames kept after sending for `recall` (2 s of 20 ms frames)


class OutboundAudio:
    """Reframes bot PCM into packet-sized frames and hands them to the pacer.

    `clear()` drops everything queued in one call: barge-in depends on it.
    `pause()` stops sending but keeps the queue, so `resume()` continues where
    the caller stopped hearing (a backchannel or a cough over the bot).
    `recall(n)` puts the last `n` frames sent back at the head of the queue: a
    client that buffers ahead of its playout dropped them unheard.
    """

    def __init__(
        self,
        pacer: Pacer,
        codec: AudioCodec,
        sample_rate: int,
        packet_ms: int,
        sink: FrameSink,
        *,
        lead_s: float = 0.0,
        max_queue_s: float = 600.0,
    ) -> None:
        self._pacer = pacer
        self._codec = codec
        self._sink = sink
        self._lead_s = lead_s
        self.frame_samples = sample_rate * packet_ms // 1000
        self.interval_s = packet_ms / 1000.0
        self._max_frames = int(max_queue_s / self.interval_s)
        self._queue: deque[OutFrame] = deque()
        self._recent: deque[OutFrame] = deque(maxlen=_RECALL_FRAMES)
        self._residual = np.zeros(0, dtype=np.int16)
        self._residual_utterance = ""
        self._utterance_offsets: dict[str, int] = {}
        self._closed = False
        self._paused = False
        self._taps: list[FrameTap] = []
        self.frames_sent = 0
        self.frames_dropped = 0

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return not self._queue and not self._pacer.is_active(self)

    @property
    def paused(self) -> bool:
        return self._paused

    def add_tap(self, tap: FrameTap) -> None:
        """Also hand every sent frame to `tap` (echo reference, played position)."""
        self._taps.append(tap)

    def pause(self) -> None:
        """Stop sending at the next frame; keep everything queued."""
        self._paused = True
        self._pacer.deactivate(self)

    def resume(self) -> None:
        """Send the queued frames again, from where `pause()` stopped."""
        if self._paused:
            self._paused = False
            self._wake()

    def recall(self, n: int) -> int:
        """Queue the last `n` frames sent again, first; return how many (at most ~2 s)."""
        back = 0
        while back < n and self._recent:
            self._queue.appendleft(self._recent.pop())
            back += 1
        self._wake()
        return back

    def push(self, pcm: Pcm, utterance_id: str = "") -> None:
        """Queue PCM at the call's rate; whole frames become ready to send."""
        if self._closed:
            return
        if utterance_id != self._residual_utterance and self._residual.size:
            self.flush()
        self._residual_utterance = utterance_id
        n = self.frame_samples
        if not self._residual.size and pcm.size == n:
            # The common case (echo, most TTS frames): exactly one frame, no copy.
            self._enqueue(pcm, utterance_id)
            self._wake()
            return
        data = np.concatenate((self._residual, pcm)) if self._residual.size else pcm
        whole = data.size - data.size % n
        for start in range(0, whole, n):
            self._enqueue(data[start : start + n], utterance_id)
        self._residual = data[whole:].copy()
        self._wake()

    def flush(self) -> None:
        """Pad the partial frame with silence and queue it (end of a segment)."""
        if self._residual.size:
            frame = np.zeros(self.frame_samples, dtype=np.int16)
            frame[: self._residual.size] = self._residual
            self._enqueue(frame, self._residual_utterance)
            self._residual = np.zeros(0, dtype=np.int16)
            self._wake()

    def clear(self) -> int:
        """Drop every queued frame now (and end a pause); return how many were dropped."""
        self._paused = False
        dropped = len(self._queue) + (1 if self._residual.size else 0)
        self._queue.clear()
        self._recent.clear()
        self._residual = np.zeros(0, dtype=np.int16)
        self._pacer.deactivate(self)
        self.frames_dropped += dropped
        return dropped

    def close(self) -> None:
        self.clear()
        self._closed = True

    def emit_next(self) -> bool:
        if not self._queue:
            return False
        frame = self._queue.popleft()
        self.frames_sent += 1
        self._recent.append(frame)
        self._sink(frame)
        for tap in self._taps:
            tap(frame)
        return True

    def _enqueue(self, pcm: Pcm, utterance_id: str) -> None:
        if len(self._queue) >= self._max_frames:
            self.frames_dropped += 1
            return
        offset = self._utterance_offsets.get(utterance_id, 0)
        self._utterance_offsets[utterance_id] = offset + pcm.size
        self._queue.append(OutFrame(self._codec.encode(pcm), pcm, utterance_id, offset))

    def _wake(self) -> None:
        if self._queue and not self._closed and not self._paused:
            self._pacer.activate(self, self._lead_s)
