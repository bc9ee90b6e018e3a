"""One call's media, both directions, without sockets: RTP in (source and SSRC checked,
telephone-events split off, audio into the jitter buffer), PCM frames out each tick, and RTP
out. Pure: the adapter passes datagrams, addresses and ``now`` in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from callroster.rtp import g711
from callroster.rtp.jitter import JitterBuffer
from callroster.rtp.packet import RtpError, RtpSender, is_rtcp, parse_rtp
from callroster.rtp.telephone_event import DtmfReceiver

FRAME_SAMPLES = 160
SSRC_TAKEOVER_SILENCE = 2.0  # seconds of silence from the old SSRC before a new one is taken
CONCEALMENT_GAIN = 0.5


@dataclass
class RtpCounters:
    received: int = 0
    from_strangers: int = 0
    malformed: int = 0
    rtcp: int = 0
    wrong_ssrc: int = 0
    wrong_payload_type: int = 0
    digits: int = 0
    sent: int = 0


@dataclass
class RtpSession:
    """Media state of one call leg."""

    codec: str  # PCMU | PCMA
    payload_type: int
    telephone_event_pt: int | None
    remote: tuple[str, int]
    sender: RtpSender
    counters: RtpCounters = field(default_factory=RtpCounters)

    def __post_init__(self) -> None:
        self.jitter = JitterBuffer(frame_samples=FRAME_SAMPLES)
        self.dtmf = DtmfReceiver(self.telephone_event_pt)
        self._ssrc: int | None = None
        self._last_from_ssrc = 0.0
        self._last_pcm: NDArray[np.int16] | None = None
        self._concealed = 0

    def update_remote(
        self, remote: tuple[str, int], codec: str, payload_type: int, telephone_event_pt: int | None
    ) -> None:
        """A re-INVITE moved or re-negotiated the stream."""
        self.remote = remote
        if codec != self.codec or payload_type != self.payload_type:
            self.codec, self.payload_type = codec, payload_type
            self.sender.payload_type = payload_type
            self.jitter = JitterBuffer(frame_samples=FRAME_SAMPLES)
        if telephone_event_pt != self.telephone_event_pt:
            self.telephone_event_pt = telephone_event_pt
            self.dtmf = DtmfReceiver(telephone_event_pt)

    def receive(self, data: bytes, source: tuple[str, int], now: float) -> str | None:
        """Take one datagram. Returns a digit when a new key press arrives, else None.

        Anything that is not this call's media (another address, RTCP, garbage, an SSRC that
        is not the one we locked on to) is counted and dropped, never raised.
        """
        if (source[0], source[1]) != self.remote:
            self.counters.from_strangers += 1
            return None
        if is_rtcp(data):
            self.counters.rtcp += 1
            return None
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.counters.malformed += 1
            return None
        # Telephone-events may come with an SSRC of their own (sipp does this); the source
        # address check above is what keeps strangers out, and the receiver dedupes events.
        if self.telephone_event_pt is not None and packet.payload_type == self.telephone_event_pt:
            self.counters.received += 1
            digit = self.dtmf.receive(packet)
            if digit is not None:
                self.counters.digits += 1
            return digit
        if self._ssrc is None or (
            packet.ssrc != self._ssrc and now - self._last_from_ssrc > SSRC_TAKEOVER_SILENCE
        ):
            self._ssrc = packet.ssrc
        if packet.ssrc != self._ssrc:
            self.counters.wrong_ssrc += 1
            return None
        self._last_from_ssrc = now
        self.counters.received += 1
        if packet.payload_type != self.payload_type or len(packet.payload) != FRAME_SAMPLES:
            self.counters.wrong_payload_type += 1
            return None
        self.jitter.push(packet, now)
        return None

    def next_pcm(self, now: float) -> NDArray[np.int16] | None:
        """This tick's decoded frame, concealed when one is missing, None when silent."""
        frame = self.jitter.pop(now)
        if frame.kind == "audio" and frame.payload is not None:
            self._last_pcm = g711.decode(self.codec, frame.payload)
            self._concealed = 0
            return self._last_pcm
        if frame.kind == "concealed" and self._last_pcm is not None:
            # Repeat the last frame, quieter each time: fills a gap without a click.
            self._concealed += 1
            gain = CONCEALMENT_GAIN**self._concealed
            return (self._last_pcm.astype(np.float32) * gain).astype(np.int16)
        return None

    def packet(self, payload: bytes) -> bytes:
        """The next outgoing RTP packet carrying ``payload`` (one 20 ms frame)."""
        self.counters.sent += 1
        return self.sender.next_packet(payload, FRAME_SAMPLES)
