"""A real WebRTC peer (aiortc) standing in for a browser where a test needs to measure audio
in Python: it sends a speech-like tone and records what it hears, at 8 kHz mono."""

from __future__ import annotations

import asyncio
import contextlib
import fractions

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from av.audio.resampler import AudioResampler
from numpy.typing import NDArray

RATE = 8000
FRAME = 160


class ToneTrack(MediaStreamTrack):
    """A microphone saying a tone in 300 ms bursts (so talk detection takes it for a voice),
    paced in real time, 20 ms a frame."""

    kind = "audio"

    def __init__(self, frequency: float, level: float = 0.35) -> None:
        super().__init__()
        self._frequency = frequency
        self._level = level
        self._sample = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._sample / RATE
        await asyncio.sleep(max(0.0, due - loop.time()))
        t = (self._sample + np.arange(FRAME)) / RATE
        gate = (t % 0.4) < 0.3
        pcm = (self._level * 32767 * np.sin(2 * np.pi * self._frequency * t) * gate).astype(
            np.int16
        )
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sample
        frame.time_base = fractions.Fraction(1, RATE)
        self._sample += FRAME
        return frame


class WebClient:
    """One WebRTC participant: ``offer()``, hand the SDP to the service, ``accept(answer)``;
    what it hears accumulates in :meth:`heard` (floats in -1..1, 8 kHz)."""

    def __init__(self, frequency: float) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTrack(ToneTrack(frequency))
        self._chunks: list[NDArray[np.int16]] = []
        self._reader: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        local = self.pc.localDescription
        assert local is not None
        return local.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._reader = asyncio.ensure_future(self._record(track))

    async def _record(self, track: MediaStreamTrack) -> None:
        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            for plain in resampler.resample(frame):
                self._chunks.append(plain.to_ndarray().reshape(-1).copy())

    def heard(self) -> NDArray[np.float64]:
        if not self._chunks:
            return np.zeros(0)
        return np.concatenate(self._chunks).astype(np.float64) / 32768.0

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.pc.close()
