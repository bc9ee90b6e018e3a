"""A browser on the call: its WebRTC connection (aiortc) made to look like a phone's RTP.

The bridge mixes 8 kHz G.711 legs on one 20 ms clock. A browser leg joins that path
unchanged: what the browser says is cut into 20 ms frames, encoded as µ-law and handed to the
leg's ``RtpSession`` as RTP packets from the leg's own (pretend) address, so the jitter
buffer, the talk detector and the mixer treat it like any phone. What the bridge sends to the
leg (``WebPeer.transport.sendto``, as for a phone's socket) is decoded and queued for the
browser's outgoing track, paced by the bridge's own clock.

PCMU is the only codec offered to the browser: the mix is narrowband, and PCMU costs no
encoder work compared with Opus. ICE uses the host's own addresses without STUN or TURN, so a
browser must reach the service directly (a browser behind NAT to a public service is fine;
two NATs in the way are not).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.exceptions import OperationError
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from av.audio.resampler import AudioResampler
from numpy.typing import NDArray

from callroster.rtp import g711
from callroster.rtp.g711 import FRAME_SAMPLES  # 20 ms at 8 kHz
from callroster.rtp.packet import RtpSender

log = logging.getLogger(__name__)

RATE = 8000
PAYLOAD_TYPE = 0  # PCMU
_OUTGOING_QUEUE = 10  # 200 ms: a browser that stops reading loses the oldest frames
_RTP_HEADER = 12  # our own packets carry no CSRC list and no extension
_closing: set[asyncio.Future[None]] = set()


class WebPeerError(Exception):
    """The browser's offer cannot be answered (no audio, no PCMU, malformed SDP)."""


class _OutgoingAudio(MediaStreamTrack):
    """The mix for this browser, one 20 ms frame each time the bridge's clock sends one."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[NDArray[np.int16]] = asyncio.Queue(_OUTGOING_QUEUE)
        self._pts = 0

    def push(self, pcm: NDArray[np.int16]) -> None:
        if self.frames.full():
            self.frames.get_nowait()
        self.frames.put_nowait(pcm)

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pcm = await self.frames.get()
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += len(pcm)
        return frame


class _MixTransport(asyncio.DatagramTransport):
    """Where the bridge "sends" this leg's RTP: the payload goes to the browser's track."""

    def __init__(self, peer: WebPeer) -> None:
        super().__init__()
        self._peer = peer
        self._closing = False

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if self._closing or len(data) <= _RTP_HEADER:
            return
        self._peer.outgoing.push(g711.decode("PCMU", bytes(data[_RTP_HEADER:])))

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._peer.close()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class WebPeer:
    """One browser's connection. ``on_packet`` gets each 20 ms of its audio as an RTP packet;
    ``on_closed`` is called once when the connection fails or ends."""

    # A pretend source address for the leg's RtpSession, which takes media only from there.
    address = ("webrtc", 0)

    def __init__(self, on_packet: Callable[[bytes], None], on_closed: Callable[[], None]) -> None:
        self._on_packet = on_packet
        self._on_closed = on_closed
        self._pc = RTCPeerConnection()
        self.outgoing = _OutgoingAudio()
        self.transport = _MixTransport(self)
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self._sender = RtpSender(
            ssrc=secrets.randbits(32),
            initial_sequence=secrets.randbits(16),
            initial_timestamp=secrets.randbits(32),
            payload_type=PAYLOAD_TYPE,
        )
        self._pending = np.zeros(0, dtype=np.int16)
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_state)

    async def answer(self, offer_sdp: str) -> str:
        """Answers the browser's offer (with its ICE candidates) and returns the answer SDP.

        Raises:
            WebPeerError: no audio in the offer, or no PCMU, or SDP that cannot be parsed.
        """
        # The transceiver exists before the offer is applied, so that the offer's audio
        # takes it, with PCMU as the only codec it may agree on.
        transceiver = self._pc.addTransceiver(self.outgoing, direction="sendrecv")
        transceiver.setCodecPreferences(
            [
                codec
                for codec in RTCRtpSender.getCapabilities("audio").codecs
                if codec.mimeType.lower() == "audio/pcmu"
            ]
        )
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except OperationError:
            raise WebPeerError("the browser offered no PCMU audio") from None
        except Exception as exc:  # noqa: BLE001 - aiortc's parser fails in many ways (even assert)
            raise WebPeerError(f"the offer cannot be read ({type(exc).__name__})") from None
        if transceiver.mid is None:
            raise WebPeerError("the offer has no audio")
        try:
            answer = await self._pc.createAnswer()
            if answer is None:
                raise WebPeerError("the offer cannot be answered")
            await self._pc.setLocalDescription(answer)
        except WebPeerError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. an offer with no usable direction
            raise WebPeerError(f"the offer cannot be answered ({type(exc).__name__})") from None
        local = self._pc.localDescription
        assert local is not None
        return local.sdp

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, AudioFrame)
            for plain in resampler.resample(frame):
                self._take(plain.to_ndarray().reshape(-1).astype(np.int16, copy=False))

    def _take(self, samples: NDArray[np.int16]) -> None:
        pending = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        whole = len(pending) - len(pending) % FRAME_SAMPLES
        for start in range(0, whole, FRAME_SAMPLES):
            payload = g711.encode("PCMU", pending[start : start + FRAME_SAMPLES])
            self._on_packet(self._sender.next_packet(payload, FRAME_SAMPLES))
        self._pending = pending[whole:].copy()

    async def _on_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self.close()

    def close(self) -> None:
        """Ends the connection (idempotent); ``on_closed`` runs once."""
        if self._closed:
            return
        self._closed = True
        self.outgoing.stop()
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(RuntimeError):  # no loop any more: nothing left to close
            closing = asyncio.ensure_future(self._pc.close())
            _closing.add(closing)  # a task nobody holds may be collected before it ends
            closing.add_done_callback(_closing.discard)
        self.transport.close()
        self._on_closed()
