"""Where SRTP's time per packet goes: :class:`SrtpContext` against libsrtp called bare.

For each suite, N 172-byte RTP packets (12-byte header, 160 bytes of G.711) with rising
sequence numbers are protected by one leg's context and unprotected by the far end's, and
the wall time of each loop is divided by N. Four ways, interleaved, several rounds, fresh
sessions each round (the replay windows would refuse a second pass):

- ``libsrtp``: the C function alone through cffi, on one buffer made once, no copy in or
  out beyond the memmove every caller needs (the floor for any Python caller);
- ``libsrtp+copy``: the same plus the packet copied out to ``bytes`` (what a caller must return);
- ``SrtpContext``: callroster.rtp.srtp as the bridge calls it;
- ``pylibsrtp``: pylibsrtp's own ``Session.protect``/``unprotect`` (for scale);
- ``SrtpContext (before)``: only with ``BENCH_SRTP_BEFORE=path/to/old/srtp.py``, another
  version of the module loaded beside this one, for an A/B in the same run.

``python -m bench.srtp_per_packet`` prints a Markdown table (median and best of the rounds).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import pylibsrtp

from callroster.rtp import srtp
from callroster.rtp.srtp import SrtpContext
from callroster.sdp.crypto import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80
from callroster.sdp.offer_answer import SrtpKeys

PACKETS = int(os.environ.get("BENCH_SRTP_PACKETS", "20000"))
ROUNDS = int(os.environ.get("BENCH_SRTP_ROUNDS", "7"))
KEY_A = bytes(range(30))
KEY_B = bytes(range(100, 130))

BEFORE = os.environ.get("BENCH_SRTP_BEFORE")


@functools.cache
def _before() -> Any:
    """The other version of callroster.rtp.srtp named by BENCH_SRTP_BEFORE."""
    spec = importlib.util.spec_from_file_location("srtp_before", BEFORE or "")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def packets(count: int) -> list[bytes]:
    """RTP packets of 172 bytes, PCMU, sequence numbers from 1."""
    payload = bytes(range(160))
    return [
        struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x1234) + payload
        for seq in range(1, count + 1)
    ]


def _timed(function: Callable[[bytes], Any], data: list[bytes]) -> tuple[int, list[Any]]:
    out = []
    append = out.append
    start = time.perf_counter_ns()
    for item in data:
        append(function(item))
    return time.perf_counter_ns() - start, out


def _bare(suite: str, key: bytes, inbound: bool, copy: bool) -> Callable[[bytes], Any]:
    """libsrtp's protect or unprotect through cffi with nothing around it."""
    ssrc = pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND
    policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc, srtp_profile=srtp._PROFILES[suite])  # noqa: SLF001
    policy.window_size = srtp.REPLAY_WINDOW
    session = pylibsrtp.Session(policy)
    ffi, lib = srtp._ffi, srtp._lib  # noqa: SLF001
    buffer, state, length = session._cdata, session._srtp[0], ffi.new("int *")  # noqa: SLF001
    function = lib.srtp_unprotect if inbound else lib.srtp_protect
    memmove, unpack = ffi.memmove, ffi.unpack

    def call(data: bytes) -> Any:
        size = len(data)
        memmove(buffer, data, size)
        length[0] = size
        status = function(state, buffer, length)
        if copy:
            return unpack(buffer, length[0])
        return status

    call.session = session  # type: ignore[attr-defined]  # keep it alive
    return call


def _keys(local: bytes, remote: bytes, suite: str) -> SrtpKeys:
    return SrtpKeys(suite=suite, local_key=local, remote_key=remote, tag=1)


def _pair(way: str, suite: str) -> tuple[Callable[[bytes], Any], Callable[[bytes], Any]]:
    """(protect, unprotect) for one way of calling, fresh sessions."""
    if way.startswith("SrtpContext"):
        context = _before().SrtpContext if way.endswith("(before)") else SrtpContext
        ours = context(_keys(KEY_A, KEY_B, suite))
        theirs = context(_keys(KEY_B, KEY_A, suite))
        return ours.protect, theirs.unprotect
    if way == "pylibsrtp":
        profile = srtp._PROFILES[suite]  # noqa: SLF001
        tx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=KEY_A, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
            )
        )
        rx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=KEY_A, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile
            )
        )
        return tx.protect, rx.unprotect
    copy = way == "libsrtp+copy"
    return _bare(suite, KEY_A, False, copy), _bare(suite, KEY_A, True, copy)


WAYS = ("libsrtp", "libsrtp+copy", "SrtpContext", "pylibsrtp") + (
    ("SrtpContext (before)",) if BEFORE else ()
)


def measure() -> dict[tuple[str, str, str], list[float]]:
    """ns per packet for each (suite, way, direction), one figure per round."""
    plain = packets(PACKETS)
    results: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for suite in (AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM):
            # Every way protects with KEY_A, the same SSRC and sequence numbers: the same bytes.
            protected = _timed(_pair("libsrtp+copy", suite)[0], plain)[1]
            for way in WAYS:
                protect, unprotect = _pair(way, suite)
                elapsed, out = _timed(protect, plain)
                if way == "libsrtp":  # the bare loop returns statuses: every one must be 0 (ok)
                    assert not any(out), "libsrtp refused a packet"
                else:
                    assert out == protected, f"{way} protected differently"
                results.setdefault((suite, way, "protect"), []).append(elapsed / PACKETS)
                elapsed, out = _timed(unprotect, protected)
                if way == "libsrtp":
                    assert not any(out), "libsrtp refused a packet"
                else:
                    assert out == plain, f"{way} did not round-trip"
                results.setdefault((suite, way, "unprotect"), []).append(elapsed / PACKETS)
    return results


def report(results: dict[tuple[str, str, str], list[float]]) -> str:
    lines = [
        f"{PACKETS:,} packets of 172 bytes per loop, {ROUNDS} interleaved rounds; "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"pylibsrtp {pylibsrtp.__version__}.",
        "",
        "| suite | way | protect ns (median / best) | unprotect ns (median / best) |",
        "|---|---|---|---|",
    ]
    for suite in (AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM):
        for way in WAYS:
            cells = []
            for direction in ("protect", "unprotect"):
                figures = results[(suite, way, direction)]
                cells.append(f"{statistics.median(figures):,.0f} / {min(figures):,.0f}")
            lines.append(f"| {suite} | {way} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    print(report(measure()))


if __name__ == "__main__":
    main()
