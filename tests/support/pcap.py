"""Writing RTP captures for sipp to replay (play_pcap_audio)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from callroster.rtp import g711


def write_rtp_pcap(path: Path, codec: str, payload_type: int, pcm: NDArray[np.int16]) -> None:
    """A capture of one RTP stream (20 ms packets) as sipp's play_pcap_audio replays it; the
    addresses in it are placeholders that sipp rewrites."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(len(pcm) // 160):
        payload = g711.encode(codec, pcm[i * 160 : (i + 1) * 160])
        rtp = struct.pack("!BBHII", 0x80, payload_type, i, i * 160, 0x1234ABCD) + payload
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = (
            struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(udp),
                0,
                0,
                64,
                17,
                0,
                bytes([10, 0, 0, 1]),
                bytes([10, 0, 0, 2]),
            )
            + udp
        )
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        seconds, micros = divmod(i * 20_000, 1_000_000)
        out += struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))
