"""Opt-in call recording: a stereo WAV, caller on the left and bot on the right."""

from __future__ import annotations

import queue
import threading
import wave
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from callbot.media.g711 import Pcm

# Interleave and hand to the writer thread about once a second of audio.
_FLUSH_SECONDS = 1.0


class _WriterThread:
    """One background thread does every recording's file I/O, in submission order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], Future[None] | None]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None], done: Future[None] | None = None) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="callbot-recording-writer", daemon=True
                )
                self._thread.start()
        self._queue.put((job, done))

    def _run(self) -> None:
        while True:
            job, done = self._queue.get()
            try:
                job()
                if done is not None:
                    done.set_result(None)
            except Exception as exc:  # a disk error must not kill the writer
                if done is not None and not done.done():
                    done.set_exception(exc)


_WRITER = _WriterThread()


class Recording:
    """Aligns caller and bot audio on the media clock and streams them to disk.

    Caller samples land at their media position; bot frames land at the media
    position current when they were sent, never overlapping the previous one.
    """

    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.wav: wave.Wave_write | None = None
        self._caller = np.zeros(0, dtype=np.int16)
        self._bot = np.zeros(0, dtype=np.int16)
        self._base = 0  # media sample index of _caller[0]
        self._bot_pos = 0  # next bot sample index
        self._paused = False
        self._started = False

    def start(self) -> None:
        _WRITER.submit(self._open_file)
        self._started = True

    def pause(self) -> None:
        """Write silence on both channels until resume() (sensitive input)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def caller(self, pcm: Pcm, media_pos: int) -> None:
        if self._paused:
            pcm = np.zeros_like(pcm)
        self._place("caller", pcm, media_pos)
        if self._caller.size >= self.sample_rate * _FLUSH_SECONDS:
            self._flush(self._base + self._caller.size)

    def bot(self, pcm: Pcm, media_pos: int) -> None:
        if self._paused:
            pcm = np.zeros_like(pcm)
        pos = max(self._bot_pos, media_pos, self._base)
        self._place("bot", pcm, pos)
        self._bot_pos = pos + pcm.size

    def _place(self, channel: str, pcm: Pcm, pos: int) -> None:
        buf = self._caller if channel == "caller" else self._bot
        start = pos - self._base
        end = start + pcm.size
        if end > buf.size:
            buf = np.concatenate((buf, np.zeros(end - buf.size, dtype=np.int16)))
        buf[start:end] = pcm
        if channel == "caller":
            self._caller = buf
        else:
            self._bot = buf

    def _flush(self, upto: int) -> None:
        n = upto - self._base
        if n <= 0 or not self._started:
            return
        stereo = np.zeros((n, 2), dtype=np.int16)
        caller = self._caller[:n]
        bot = self._bot[:n]
        stereo[: caller.size, 0] = caller
        stereo[: bot.size, 1] = bot
        data = stereo.tobytes()
        _WRITER.submit(lambda: self._write_file(data))
        self._caller = self._caller[n:]
        self._bot = self._bot[n:]
        self._base = upto

    def close(self) -> Future[None]:
        """Write what is left and close the file; the future resolves once on disk."""
        done: Future[None] = Future()
        if not self._started:
            done.set_result(None)
            return done
        self._flush(self._base + max(self._caller.size, self._bot.size))
        _WRITER.submit(self._close_file, done)
        self._started = False
        return done

    # Run on the writer thread only.

    def _open_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed by _close_file
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(self.sample_rate)
        self.wav = wav

    def _write_file(self, data: bytes) -> None:
        if self.wav is not None:
            self.wav.writeframesraw(data)

    def _close_file(self) -> None:
        if self.wav is not None:
            self.wav.close()
            self.wav = None
