"""Symmetric RTP (RFC 4961): learn where a leg's media really comes from, and send there.

A phone behind NAT, or on a host with several addresses, advertises one address in its SDP
and sends from another; a bridge that only accepts (and sends to) the advertised address
gives it one-way audio or none. Media servers latch instead (rtpengine's learning, Asterisk's
``strictrtp`` probation, FreeSWITCH's auto-adjust). This is that decision, pure: the session
asks :meth:`SourceLatch.consider` about each datagram from an address that is not the leg's
current one, and moves the leg only when it says so.

The rules, which keep the protection a fixed source check gives:

- **Latch once, early.** Until the leg's current address has sent audio, a stranger may take
  its place if it sends :data:`PROBATION` well-formed RTP packets of a negotiated payload
  type with one SSRC and consecutive sequence numbers (a spoofer spraying single packets,
  or several sources at once, never completes it), within :data:`LATCH_WINDOW` seconds of the
  first datagram the leg's port received.
- **Move again only for the same stream.** Once the leg is latched (its address sent audio),
  a stranger takes over only when the latched address has been silent for
  :data:`RELATCH_SILENCE` seconds and the stranger carries the SSRC the leg locked on to: the
  phone's NAT binding changed, the stream did not.
- Everything else is the caller's to count and drop. Limits: an attacker who knows the leg's
  port and sends a plausible stream before the phone does, in the first seconds, wins the
  latch, as with every latching media server; the far end still hears only the conference.
"""

from __future__ import annotations

from dataclasses import dataclass

from callroster.rtp.packet import SEQUENCE_MODULO

Address = tuple[str, int]

LATCH_WINDOW = 10.0  # seconds from the port's first datagram in which a first latch may happen
PROBATION = 3  # consecutive packets a new source must send before it is latched
RELATCH_SILENCE = 2.0  # seconds the latched source must be silent before its SSRC may move


@dataclass(slots=True)
class _Candidate:
    source: Address
    ssrc: int
    sequence: int
    packets: int


class SourceLatch:
    """Whether a stranger's packet should move the leg's media address to the stranger."""

    def __init__(self) -> None:
        self._window_ends: float | None = None
        self._candidate: _Candidate | None = None
        self.moves = 0  # times the leg's address moved to where its media comes from

    def restart(self) -> None:
        """The SDP moved the stream: a first latch may happen again."""
        self._window_ends = None
        self._candidate = None

    def closed(self, now: float, *, latched: bool, silent_for: float) -> bool:
        """True when no stranger could move the leg now, whatever it sent (the cheap test
        made before a stranger's packet is even parsed)."""
        if latched:
            return silent_for <= RELATCH_SILENCE
        if self._window_ends is None:
            self._window_ends = now + LATCH_WINDOW
        return now > self._window_ends

    def consider(
        self, source: Address, ssrc: int, sequence: int, *, locked_ssrc: int | None
    ) -> bool:
        """A well-formed RTP packet of a negotiated payload type from ``source``, which is not
        the leg's address, arrived while :meth:`closed` was False. True: latch to it now.

        Args:
            source: Where it came from.
            ssrc: Its SSRC.
            sequence: Its sequence number.
            locked_ssrc: The SSRC the leg locked on to, when the leg is latched.
        """
        if locked_ssrc is not None:
            moved = ssrc == locked_ssrc
        else:
            candidate = self._candidate
            if (
                candidate is not None
                and candidate.source == source
                and candidate.ssrc == ssrc
                and sequence == (candidate.sequence + 1) % SEQUENCE_MODULO
            ):
                candidate.sequence = sequence
                candidate.packets += 1
            else:
                candidate = self._candidate = _Candidate(source, ssrc, sequence, 1)
            moved = candidate.packets >= PROBATION
        if moved:
            self._candidate = None
            self.moves += 1
        return moved
