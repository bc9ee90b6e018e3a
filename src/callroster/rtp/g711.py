"""ITU-T G.711 µ-law (PCMU) and A-law (PCMA) for 16-bit linear PCM, table-driven.

Both directions are a single numpy fancy-index into a table built once at import: 256 entries
to decode, 65536 entries to encode (indexed by the sample's bit pattern as ``uint16``). The
tables are computed from the G.711 segment rules exactly as CPython's ``audioop`` (Sun's
reference ``g711.c``) applies them to 16-bit input, and ``tests/rtp/test_g711.py`` checks every
one of the 65536 inputs and 256 codes against ``audioop``. One known divergence from the ITU
G.191 software tools: for µ-law, ``audioop`` truncates a negative sample to 14 bits before
negating it where G.191 takes the ones' complement, so 508 negative inputs that sit exactly on
a decision boundary get the neighbouring code (an error of one step, within G.711's
quantisation). A-law agrees with G.191 everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, TypeVar

import numpy as np
from numpy.typing import NDArray

#: Samples in one 20 ms frame at 8 kHz, the packetisation every G.711 leg uses here.
FRAME_SAMPLES: Final = 160

#: The codecs this module speaks, by their RTP/AVP encoding name (RFC 3551).
CODECS: Final = ("PCMU", "PCMA")

#: One 20 ms frame of encoded silence per codec. Read-only, because every leg shares it.
SILENCE: Final[Mapping[str, bytes]] = MappingProxyType(
    {"PCMU": b"\xff" * FRAME_SAMPLES, "PCMA": b"\xd5" * FRAME_SAMPLES}
)

# Upper ends of the eight segments, in 14-bit (µ-law) and 13-bit (A-law) magnitude units.
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_BIAS = 0x84  # µ-law adds 132 (33 in 14-bit units) so the segments are powers of two
_ULAW_CLIP = 8159  # largest 14-bit magnitude that still fits after the bias


def _segment(magnitude: NDArray[np.int32], ends: NDArray[np.int32]) -> NDArray[np.int32]:
    """Index of the first segment whose end is >= magnitude (8 when past the last one)."""
    return np.searchsorted(ends, magnitude, side="left").astype(np.int32)


def _ulaw_encode_all(pcm: NDArray[np.int32]) -> NDArray[np.uint8]:
    """µ-law codes for 16-bit samples held in int32 (the vectorised form of the G.711 rule)."""
    sample = pcm >> 2  # 14-bit linear, arithmetic shift as the reference does
    negative = sample < 0
    magnitude = np.minimum(np.abs(sample), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(magnitude, _ULAW_SEG_END)
    # Magnitudes at the clip land just past segment 7 and take the largest code, 0x7F.
    mantissa = (magnitude >> (np.minimum(seg, 7) + 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | mantissa)
    # µ-law transmits every bit inverted; the sign bit is 1 for positive samples.
    mask = np.where(negative, 0x7F, 0xFF)
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_all(code: NDArray[np.int32]) -> NDArray[np.int16]:
    """Linear 16-bit values of µ-law codes."""
    inverted = ~code & 0xFF
    seg = (inverted >> 4) & 0x07
    magnitude = (((inverted & 0x0F) << 3) + _ULAW_BIAS) << seg
    return np.where(inverted & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(
        np.int16
    )


def _alaw_encode_all(pcm: NDArray[np.int32]) -> NDArray[np.uint8]:
    """A-law codes for 16-bit samples held in int32."""
    sample = pcm >> 3  # 13-bit linear
    negative = sample < 0
    # A-law folds negatives with the ones' complement, so -1 and 0 share a magnitude.
    magnitude = np.where(negative, -sample - 1, sample)
    # The largest 13-bit magnitude is 0xFFF, the end of segment 7, so no clip is needed.
    seg = _segment(magnitude, _ALAW_SEG_END)
    mantissa = (magnitude >> np.maximum(seg, 1)) & 0x0F  # segments 0 and 1 share one step
    code = (seg << 4) | mantissa
    # Even-bit inversion (0x55) keeps the line busy with transitions; bit 7 set means positive.
    mask = np.where(negative, 0x55, 0xD5)
    return (code ^ mask).astype(np.uint8)


def _alaw_decode_all(code: NDArray[np.int32]) -> NDArray[np.int16]:
    """Linear 16-bit values of A-law codes."""
    value = code ^ 0x55
    seg = (value >> 4) & 0x07
    mantissa = (value & 0x0F) << 4
    magnitude = np.where(seg == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(seg - 1, 0))
    return np.where(value & 0x80, magnitude, -magnitude).astype(np.int16)


_Item = TypeVar("_Item", bound=np.generic)

_ALL_CODES = np.arange(256, dtype=np.int32)
# Position i holds the int16 sample whose bit pattern is the uint16 i, so that encode() can
# index with a zero-copy uint16 view of its input.
_ALL_SAMPLES = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _frozen(table: NDArray[_Item]) -> NDArray[_Item]:
    table.setflags(write=False)  # shared by every call; a stray write would corrupt all audio
    return table


_DECODE: Final[dict[str, NDArray[np.int16]]] = {
    "PCMU": _frozen(_ulaw_decode_all(_ALL_CODES)),
    "PCMA": _frozen(_alaw_decode_all(_ALL_CODES)),
}
_ENCODE: Final[dict[str, NDArray[np.uint8]]] = {
    "PCMU": _frozen(_ulaw_encode_all(_ALL_SAMPLES)),
    "PCMA": _frozen(_alaw_encode_all(_ALL_SAMPLES)),
}


def _table(tables: dict[str, NDArray[_Item]], codec: str) -> NDArray[_Item]:
    try:
        return tables[codec]
    except KeyError:
        raise ValueError(f"unknown G.711 codec {codec!r}; expected one of {CODECS}") from None


def decode(codec: str, payload: bytes) -> NDArray[np.int16]:
    """Decode a G.711 payload to linear PCM.

    Args:
        codec: ``"PCMU"`` (µ-law) or ``"PCMA"`` (A-law).
        payload: one byte per sample, any length.

    Returns:
        A new, writable int16 array with one sample per payload byte.

    Raises:
        ValueError: if the codec is not PCMU or PCMA.
    """
    table = _table(_DECODE, codec)
    return table[np.frombuffer(payload, dtype=np.uint8)]


def encode(codec: str, pcm: NDArray[np.int16]) -> bytes:
    """Encode linear PCM to a G.711 payload.

    Args:
        codec: ``"PCMU"`` (µ-law) or ``"PCMA"`` (A-law).
        pcm: int16 samples of any shape, taken in C order.

    Returns:
        One byte per sample.

    Raises:
        ValueError: if the codec is not PCMU or PCMA.
        TypeError: if the samples are not int16; converting silently would hide a caller that
            passes a float or int32 mix that has not been saturated.
    """
    table = _table(_ENCODE, codec)
    samples = np.asarray(pcm)
    if samples.dtype != np.int16:
        raise TypeError(f"G.711 encodes int16 samples, not {samples.dtype}")
    return table[samples.reshape(-1).view(np.uint16)].tobytes()


# Square of every code's decoded sample, as int64: the energy of a frame straight from its
# payload, without decoding it first.
_SQUARES: Final[dict[str, NDArray[np.int64]]] = {
    codec: _frozen(table.astype(np.int64) ** 2) for codec, table in _DECODE.items()
}


def sums_of_squares(codec: str, payloads: bytes, frame_size: int = FRAME_SAMPLES) -> list[int]:
    """Sum of the squared decoded samples of each frame in a run of equal-sized payloads.

    This is what an RMS level needs, for many legs in one table lookup and one reduction.
    Exact: the sums are integers, whatever order numpy adds them in.

    Args:
        codec: ``"PCMU"`` or ``"PCMA"``.
        payloads: the frames' payloads concatenated, ``frame_size`` bytes each.

    Raises:
        ValueError: if the codec is not PCMU or PCMA, or ``payloads`` is not whole frames.
    """
    table = _table(_SQUARES, codec)
    if len(payloads) % frame_size:
        raise ValueError(f"{len(payloads)} bytes is not a whole number of {frame_size}-byte frames")
    codes = np.frombuffer(payloads, dtype=np.uint8).reshape(-1, frame_size)
    sums: list[int] = table[codes].sum(axis=1).tolist()
    return sums
