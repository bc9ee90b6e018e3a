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

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp

from callroster.sdp.crypto import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80
from callroster.sdp.offer_answer import SrtpKeys

_PROFILES = {
    AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}
# libsrtp through cffi, as pylibsrtp binds it (no stubs: a compiled module).
_binding: Any = importlib.import_module("pylibsrtp._binding")
_ffi, _lib = _binding.ffi, _binding.lib
# libsrtp's status codes (positions in pylibsrtp's table of its texts) for the two failures
# a peer, or an attacker, can cause at will; and the one for a packet too long for the buffer.
_AUTH = pylibsrtp.ERRORS.index("authentication failure")
_REPLAY = (
    pylibsrtp.ERRORS.index("replay check failed (bad index)"),
    pylibsrtp.ERRORS.index("replay check failed (index too old)"),
)
_TOO_LONG = pylibsrtp.ERRORS.index("unsupported parameter")
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
        self._inbound = _inbound(keys)
        self._outbound = _outbound(keys)
        self._unprotect = self._inbound.process
        self._protect = self._outbound.process

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
            self._inbound = _inbound(keys)
            self._unprotect = self._inbound.process
        if not same_suite or keys.local_key != old.local_key:
            self._outbound = _outbound(keys)
            self._protect = self._outbound.process
        self.keys = keys
        self.counters.rekeys += 1

    def protect(self, packet: bytes) -> bytes:
        """One RTP packet of ours, encrypted and authenticated.

        Raises:
            pylibsrtp.Error: libsrtp refused (only for a packet the bridge did not build).
        """
        result = self._protect(packet)
        if result.__class__ is int:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[result])
        return result  # type: ignore[return-value]  # bytes: the only other outcome

    def unprotect(self, data: bytes) -> bytes | None:
        """The plain RTP packet inside one received datagram, or None when it is dropped
        (failed authentication, a replay, SRTCP, or not SRTP at all), counted."""
        if len(data) < 12:
            self.counters.other_failures += 1
            return None
        if data[1] & 0x7F in _RTCP_TYPES:
            self.counters.rtcp += 1  # SRTCP (RFC 5761 mux): nothing the bridge uses
            return None
        result = self._unprotect(data)
        if result.__class__ is not int:
            return result  # type: ignore[return-value]  # bytes: the only other outcome
        if result == _AUTH:
            self.counters.auth_failures += 1
        elif result in _REPLAY:
            self.counters.replays += 1
        else:
            self.counters.other_failures += 1
        return None


class _Direction:
    """One libsrtp session and its protect (or unprotect) function, called through cffi
    with buffers made once: pylibsrtp's own methods allocate and copy on every call and
    raise on every failure. The session's buffer and state are pylibsrtp's (kept alive by
    holding the session).

    :attr:`process` is a closure over everything it needs (no attribute look-ups per packet)
    and copies the result out with ``ffi.unpack``; bench/srtp_per_packet.py measures what is
    left around libsrtp's own time."""

    def __init__(self, keys_suite: str, key: bytes, ssrc_type: int, function: Any) -> None:
        policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=_PROFILES[keys_suite])
        policy.window_size = REPLAY_WINDOW
        self._session = pylibsrtp.Session(policy)
        self.process = _processor(self._session, function)


def _processor(session: pylibsrtp.Session, function: Any) -> Callable[[bytes], bytes | int]:
    """``process(data)``: the packet protected (or unprotected), or libsrtp's failure code."""
    buffer: Any = session._cdata  # noqa: SLF001 - see _Direction
    state: Any = session._srtp[0]  # noqa: SLF001
    # Room left for the tag (and an MKI) protect adds, as pylibsrtp reserves it.
    room = len(buffer) - pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN
    length: Any = _ffi.new("int *")
    memmove, unpack = _ffi.memmove, _ffi.unpack

    def process(data: bytes) -> bytes | int:
        size = len(data)
        if size > room:
            return _TOO_LONG
        memmove(buffer, data, size)
        length[0] = size
        status = function(state, buffer, length)
        if status:
            return int(status)
        result: bytes = unpack(buffer, length[0])
        return result

    return process


def _inbound(keys: SrtpKeys) -> _Direction:
    any_inbound = pylibsrtp.Policy.SSRC_ANY_INBOUND
    return _Direction(keys.suite, keys.remote_key, any_inbound, _lib.srtp_unprotect)


def _outbound(keys: SrtpKeys) -> _Direction:
    any_outbound = pylibsrtp.Policy.SSRC_ANY_OUTBOUND
    return _Direction(keys.suite, keys.local_key, any_outbound, _lib.srtp_protect)
