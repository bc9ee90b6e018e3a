"""One call's media, both directions, without sockets: RTP in (source latched and checked,
SSRC checked, telephone-events split off, audio of any packet size into the jitter buffer),
PCM frames out each tick, and RTP out in the packet size the far end asked for. Pure: the
adapter passes datagrams, addresses and ``now`` in.

A leg whose offer/answer settled SRTP keys (``srtp``, see rtp/srtp.py) unprotects each
datagram before anything else reads it (a stranger's only when the latch is open, so that
only an authenticated packet can move the leg), and protects each packet after it is built.
A clear leg pays one ``is None`` test for this per packet, nothing more."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from callroster.rtp import g711
from callroster.rtp.g711 import FRAME_SAMPLES
from callroster.rtp.jitter import JitterBuffer
from callroster.rtp.latch import SourceLatch
from callroster.rtp.packet import RTP_VERSION, RtpError, RtpSender, is_rtcp, parse_rtp
from callroster.rtp.srtp import SrtpContext
from callroster.rtp.telephone_event import DtmfReceiver
from callroster.sdp.offer_answer import Negotiated

SSRC_TAKEOVER_SILENCE = 2.0  # seconds of silence from the old SSRC before a new one is taken
CONCEALMENT_GAIN = 0.5
MAX_PACKET_SAMPLES = 960  # 120 ms of G.711, the most a=ptime may ask for (sdp/offer_answer.py)
DEFAULT_PTIME_MS = 20
_SILENCE_OCTET = {"PCMU": 0xFF, "PCMA": 0xD5}  # G.711 zero, for what a packet never filled
# The common case, taken apart without building an RtpPacket: version 2, no padding, no
# extension, no CSRCs (first octet exactly 0x80) and a 160-byte payload.
_PLAIN_FIRST_OCTET = 0x80
_PLAIN_SIZE = 12 + FRAME_SAMPLES
_PLAIN_FIELDS = struct.Struct("!2xHII")
_RTCP_TYPES = range(64, 96)  # as in rtp.packet.is_rtcp


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
    send_failures: int = 0  # packets the socket refused (see bridge/media_tick.py)
    latched: int = 0  # times the leg's address moved to where its RTP really comes from


@dataclass
class RtpSession:
    """Media state of one call leg."""

    codec: str  # PCMU | PCMA
    payload_type: int
    telephone_event_pt: int | None
    remote: tuple[str, int]
    sender: RtpSender
    counters: RtpCounters = field(default_factory=RtpCounters)
    # False while the phone holds us (it said sendonly/inactive, RFC 3264 forbids sending),
    # and for a call we dial until its answer says where to send.
    sending: bool = True
    ptime: int = DEFAULT_PTIME_MS  # the packet time the far end asked for (a=ptime)
    srtp: SrtpContext | None = None  # SRTP keys, when the offer/answer settled some

    @property
    def encrypted(self) -> bool:
        """Whether this leg's media is SRTP (the roster's padlock, with TLS signalling)."""
        return self.srtp is not None

    def __post_init__(self) -> None:
        self.advertised = self.remote  # where the SDP says; remote is where we send
        self.latch = SourceLatch()
        self.ptime_samples = self.ptime * 8  # samples in each packet we send
        self._outgoing = bytearray()  # samples not yet sent when ptime is not 20 ms
        self.jitter = self._jitter_buffer()
        self.dtmf = DtmfReceiver(self.telephone_event_pt)
        self._ssrc: int | None = None
        self._last_from_ssrc = 0.0
        self._last_payload: bytes | None = None
        self._last_codec = self.codec
        self._last_pcm: NDArray[np.int16] | None = None  # _last_payload decoded, when asked
        self._concealed = 0
        self._fast_pt = self._plain_payload_type()

    def _plain_payload_type(self) -> int:
        """The payload type the fast path in :meth:`receive` may take, or -1 for none.

        A payload type that the slow path would treat otherwise (RTCP's range, or the same
        number as telephone-event) never takes the fast path.
        """
        pt = self.payload_type
        if pt in _RTCP_TYPES or pt == self.telephone_event_pt:
            return -1
        return pt

    def _jitter_buffer(self) -> JitterBuffer:
        return JitterBuffer(frame_samples=FRAME_SAMPLES, silence=_SILENCE_OCTET[self.codec])

    def update_remote(
        self, remote: tuple[str, int], codec: str, payload_type: int, telephone_event_pt: int | None
    ) -> None:
        """A re-INVITE moved or re-negotiated the stream.

        The same address again (a phone behind NAT re-INVITEs with its private address, e.g.
        to hold) keeps the address the leg latched to; a new one is a move, and the stream
        may latch afresh.
        """
        if remote != self.advertised:
            self.advertised = self.remote = remote
            self.latch.restart()
            self._ssrc = None
        if codec != self.codec or payload_type != self.payload_type:
            self.codec, self.payload_type = codec, payload_type
            self.sender.payload_type = payload_type
            self.jitter = self._jitter_buffer()
            self._outgoing.clear()
        if telephone_event_pt != self.telephone_event_pt:
            self.telephone_event_pt = telephone_event_pt
            self.dtmf = DtmfReceiver(telephone_event_pt)
        self._fast_pt = self._plain_payload_type()

    def follow(self, negotiated: Negotiated) -> None:
        """Send and receive as an offer/answer exchange settled it (where, which codec and
        telephone-event type, and whether the other end wants our audio at all)."""
        self.update_remote(
            (negotiated.remote_address, negotiated.remote_port),
            negotiated.codec,
            negotiated.payload_type,
            negotiated.telephone_event_pt,
        )
        self.sending = not negotiated.on_hold
        if negotiated.srtp is not None:
            if self.srtp is None:
                self.srtp = SrtpContext(negotiated.srtp)
            else:
                self.srtp.rekey(negotiated.srtp)
        if negotiated.ptime != self.ptime:
            self.ptime, self.ptime_samples = negotiated.ptime, negotiated.ptime * 8
            self._outgoing.clear()

    def receive(self, data: bytes, source: tuple[str | int, ...], now: float) -> str | None:
        """Take one datagram. Returns a digit when a new key press arrives, else None.

        Anything that is not this call's media (another address, RTCP, garbage, an SSRC that
        is not the one we locked on to) is counted and dropped, never raised.
        """
        if self.srtp is not None:
            plain = self._unprotect(self.srtp, data, source, now)
            if plain is None:
                return None
            data = plain
        elif (source[0], source[1]) != self.remote and not self._latches(data, source, now):
            self.counters.from_strangers += 1
            return None
        if (
            len(data) == _PLAIN_SIZE
            and data[0] == _PLAIN_FIRST_OCTET
            and data[1] & 0x7F == self._fast_pt
        ):
            # Fast path: the same checks and counters as below, in the same order, for the
            # packet every leg sends 50 times a second.
            sequence, timestamp, ssrc = _PLAIN_FIELDS.unpack_from(data)
            if ssrc != self._ssrc:
                if self._ssrc is None or now - self._last_from_ssrc > SSRC_TAKEOVER_SILENCE:
                    self._ssrc = ssrc
                else:
                    self.counters.wrong_ssrc += 1
                    return None
            self._last_from_ssrc = now
            self.counters.received += 1
            self.jitter.push_fields(sequence, timestamp, ssrc, data[12:], now)
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
        if (
            packet.payload_type != self.payload_type
            or not 0 < len(packet.payload) <= MAX_PACKET_SAMPLES
        ):
            self.counters.wrong_payload_type += 1
            return None
        self.jitter.push(packet, now)  # any packet size: the buffer works in samples
        return None

    def _unprotect(
        self, srtp: SrtpContext, data: bytes, source: tuple[str | int, ...], now: float
    ) -> bytes | None:
        """An SRTP datagram's plain RTP, or None (dropped and counted): a stranger's is
        looked at only while the latch may move, and moves it only once authenticated."""
        stranger = (source[0], source[1]) != self.remote
        if stranger and self.latch.closed(
            now, latched=self._ssrc is not None, silent_for=now - self._last_from_ssrc
        ):
            self.counters.from_strangers += 1
            return None
        plain = srtp.unprotect(data)
        if plain is None:
            return None
        if stranger and not self._latches(plain, source, now):
            self.counters.from_strangers += 1
            return None
        return plain

    def _latches(self, data: bytes, source: tuple[str | int, ...], now: float) -> bool:
        """Whether a datagram from a stranger moves the leg to the stranger (symmetric RTP,
        see rtp/latch.py); if so, it is taken as the leg's own from here on."""
        latch = self.latch
        if latch.closed(now, latched=self._ssrc is not None, silent_for=now - self._last_from_ssrc):
            return False  # the common case under a flood: nothing parsed
        if len(data) < 12 or data[0] >> 6 != RTP_VERSION:
            return False
        payload_type = data[1] & 0x7F
        if payload_type != self.payload_type and payload_type != self.telephone_event_pt:
            return False
        try:
            packet = parse_rtp(data)
        except RtpError:
            return False
        address = (str(source[0]), int(source[1]))
        if not latch.consider(address, packet.ssrc, packet.sequence, locked_ssrc=self._ssrc):
            return False
        self.remote = address
        self.counters.latched += 1
        return True

    def next_pcm(self, now: float) -> NDArray[np.int16] | None:
        """This tick's decoded frame, concealed when one is missing, None when silent."""
        audio = self.next_audio(now)
        if isinstance(audio, bytes):
            return self.last_pcm()
        return audio

    def next_audio(self, now: float) -> bytes | NDArray[np.int16] | None:
        """This tick's frame as :meth:`next_pcm` gives it, but a received frame comes as its
        payload, not decoded: the bridge needs only the level of most legs' frames, and
        computes those for a whole room at once. :meth:`last_pcm` decodes it."""
        frame = self.jitter.pop(now)
        if frame.kind == "audio" and frame.payload is not None:
            self._last_payload = frame.payload
            self._last_codec = self.codec
            self._last_pcm = None
            self._concealed = 0
            return frame.payload
        if frame.kind == "concealed" and self._last_payload is not None:
            # Repeat the last frame, quieter each time: fills a gap without a click.
            self._concealed += 1
            gain = CONCEALMENT_GAIN**self._concealed
            return (self.last_pcm().astype(np.float32) * gain).astype(np.int16)
        return None

    def last_pcm(self) -> NDArray[np.int16]:
        """The last received frame, decoded (once, on first use).

        Raises:
            LookupError: before the first frame.
        """
        if self._last_pcm is None:
            if self._last_payload is None:
                raise LookupError("no frame received yet")
            self._last_pcm = g711.decode(self._last_codec, self._last_payload)
        return self._last_pcm

    def packet(self, payload: bytes) -> bytes:
        """The next outgoing RTP packet carrying ``payload`` (one 20 ms frame)."""
        self.counters.sent += 1
        packet = self.sender.next_packet(payload, FRAME_SAMPLES)
        return packet if self.srtp is None else self.srtp.protect(packet)

    def packets(self, payload: bytes) -> list[bytes]:
        """The RTP packets one 20 ms frame makes at the far end's packet time: two of 10 ms,
        one of 20, and for longer packets none until enough frames have been given (for 30
        ms: none, one, one; the timestamps stay contiguous)."""
        size = self.ptime_samples
        if size == len(payload) and not self._outgoing:
            return [self.packet(payload)]
        outgoing = self._outgoing
        outgoing += payload
        packets: list[bytes] = []
        while len(outgoing) >= size:
            packets.append(self.sender.next_packet(bytes(outgoing[:size]), size))
            del outgoing[:size]
        self.counters.sent += len(packets)
        if self.srtp is not None:
            return [self.srtp.protect(packet) for packet in packets]
        return packets
