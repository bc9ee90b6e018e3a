"""SRTP (RFC 3711, and RFC 7714 for AES-GCM) for one call leg, through libsrtp.

:class:`SrtpContext` holds the leg's two libsrtp sessions: one that unprotects what the far
end sends (its key, any SSRC) and one that protects what the bridge sends (our key). Keys come
from an SDES exchange (sdp/crypto.py, sdp/offer_answer.py).

A packet that fails authentication (tampered, wrong key, or someone else's) or that replays
one already seen is counted and dropped: :meth:`SrtpContext.unprotect` returns None, never
raises, because it runs for every datagram on the media path. SRTCP is unprotected only to
be counted and dropped, as the bridge drops plain RTCP.

Re-keying (a re-INVITE with new ``a=crypto``) is :meth:`SrtpContext.rekey`: a direction
whose key changed gets a fresh libsrtp session; one whose key did not keeps its state.
"""

from __future__ import annotations

from dataclasses import dataclass

import pylibsrtp

from callroster.sdp.crypto import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80
from callroster.sdp.offer_answer import SrtpKeys

_PROFILES = {
    AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}
# libsrtp's error texts for the two failures a peer (or an attacker) can cause at will.
_REPLAY = ("replay check failed (bad index)", "replay check failed (index too old)")
_AUTH = "authentication failure"
_RTCP_TYPES = range(64, 96)  # RFC 5761 4: second octet 192-223 (as in rtp/packet.py)
# Replay window in packets: libsrtp's default (128) is 2.5 s of 20 ms packets; a longer
# window lets late packets of a jittery link through without letting replays in.
REPLAY_WINDOW = 1024


@dataclass
class SrtpCounters:
    """What SRTP dropped on one leg."""

    auth_failures: int = 0
    replays: int = 0
    other_failures: int = 0  # too short to be SRTP, and any other libsrtp refusal
    rtcp: int = 0  # SRTCP received (counted, not used)
    rekeys: int = 0


class SrtpContext:
    """One leg's SRTP: inbound unprotect, outbound protect."""

    def __init__(self, keys: SrtpKeys) -> None:
        self.keys = keys
        self.counters = SrtpCounters()
        self._inbound = _session(keys.suite, keys.remote_key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        self._outbound = _session(keys.suite, keys.local_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)

    @property
    def suite(self) -> str:
        return self.keys.suite

    def rekey(self, keys: SrtpKeys) -> None:
        """New keys from a re-INVITE: each direction whose key (or the suite) changed starts
        afresh; an unchanged direction keeps its rollover counter and replay window."""
        old = self.keys
        if keys == old:
            return
        same_suite = keys.suite == old.suite
        if not same_suite or keys.remote_key != old.remote_key:
            self._inbound = _session(keys.suite, keys.remote_key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        if not same_suite or keys.local_key != old.local_key:
            self._outbound = _session(
                keys.suite, keys.local_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND
            )
        self.keys = keys
        self.counters.rekeys += 1

    def protect(self, packet: bytes) -> bytes:
        """One RTP packet of ours, encrypted and authenticated."""
        return self._outbound.protect(packet)

    def unprotect(self, data: bytes) -> bytes | None:
        """The plain RTP packet inside one received datagram, or None when it is dropped
        (failed authentication, a replay, SRTCP, or not SRTP at all), counted."""
        if len(data) < 12:
            self.counters.other_failures += 1
            return None
        if data[1] & 0x7F in _RTCP_TYPES:
            self.counters.rtcp += 1  # SRTCP (RFC 5761 mux): nothing the bridge uses
            return None
        try:
            return self._inbound.unprotect(data)
        except pylibsrtp.Error as exc:
            reason = str(exc)
            if reason == _AUTH:
                self.counters.auth_failures += 1
            elif reason in _REPLAY:
                self.counters.replays += 1
            else:
                self.counters.other_failures += 1
            return None
        except ValueError:  # longer than libsrtp's buffer: not a packet of ours
            self.counters.other_failures += 1
            return None


def _session(suite: str, key: bytes, ssrc_type: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=_PROFILES[suite])
    policy.window_size = REPLAY_WINDOW
    return pylibsrtp.Session(policy)
