"""G.711 against CPython's audioop (the reference g711.c), exhaustively, and by ear."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from callroster.rtp import g711

with warnings.catch_warnings():
    # audioop is deprecated from 3.11 and gone in 3.13; here it is only the test oracle.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))
REFERENCE: dict[str, tuple[Callable[[bytes, int], bytes], Callable[[bytes, int], bytes]]] = {
    "PCMU": (audioop.lin2ulaw, audioop.ulaw2lin),
    "PCMA": (audioop.lin2alaw, audioop.alaw2lin),
}
# Largest magnitude each law can represent (its top code decodes to this).
TOP = {"PCMU": 32124, "PCMA": 32256}


@pytest.mark.parametrize("codec", g711.CODECS)
def test_encode_matches_audioop_for_every_int16(codec: str) -> None:
    lin2law, _ = REFERENCE[codec]
    assert g711.encode(codec, ALL_SAMPLES) == lin2law(ALL_SAMPLES.tobytes(), 2)


@pytest.mark.parametrize("codec", g711.CODECS)
def test_decode_matches_audioop_for_every_code(codec: str) -> None:
    _, law2lin = REFERENCE[codec]
    decoded = g711.decode(codec, ALL_CODES)
    assert decoded.dtype == np.int16
    assert decoded.tobytes() == law2lin(ALL_CODES, 2)


@pytest.mark.parametrize("codec", g711.CODECS)
def test_round_trip_error_stays_within_half_a_step(codec: str) -> None:
    # A 4-bit mantissa makes each step 1/16 of its segment's base, so the error is at most
    # half of that (1/32 of the magnitude) plus the finest step; beyond the top code the
    # value clips to it.
    x = ALL_SAMPLES.astype(np.int32)
    back = g711.decode(codec, g711.encode(codec, ALL_SAMPLES)).astype(np.int32)
    error = np.abs(back - x)
    in_range = np.abs(x) <= TOP[codec]
    assert np.all(error[in_range] <= 8 + np.abs(x[in_range]) / 32)
    assert np.all(back[~in_range] == np.sign(x[~in_range]) * TOP[codec])


@pytest.mark.parametrize("codec", g711.CODECS)
def test_decoded_values_are_fixed_points(codec: str) -> None:
    # Re-encoding what a code decodes to gives back that code; the one exception is µ-law's
    # "negative zero" 0x7F, which decodes to 0 and comes back as the positive zero 0xFF.
    levels = g711.decode(codec, ALL_CODES)
    codes = np.frombuffer(g711.encode(codec, levels), dtype=np.uint8)
    changed = np.nonzero(codes != np.arange(256))[0].tolist()
    assert changed == ([0x7F] if codec == "PCMU" else [])
    assert np.array_equal(g711.decode(codec, codes.tobytes()), levels)


@pytest.mark.parametrize("codec", g711.CODECS)
def test_decode_is_monotonic_in_magnitude(codec: str) -> None:
    levels = np.sort(g711.decode(codec, ALL_CODES).astype(np.int32))
    assert levels[0] == -TOP[codec] and levels[-1] == TOP[codec]
    assert len(np.unique(levels)) >= 255


def _snr_db(reference: NDArray[np.float64], received: NDArray[np.float64]) -> float:
    noise = received - reference
    return float(10 * np.log10(np.sum(reference**2) / np.sum(noise**2)))


@pytest.mark.parametrize("codec", g711.CODECS)
@pytest.mark.parametrize("dbfs", [-3.0, -20.0, -35.0])
def test_a_1khz_tone_survives_with_snr_above_30_db(codec: str, dbfs: float) -> None:
    t = np.arange(8000) / 8000
    amplitude = 32767 * 10 ** (dbfs / 20)
    # A small phase offset keeps the samples from landing on a handful of repeating values.
    tone = np.round(amplitude * np.sin(2 * np.pi * 1000 * t + 0.3)).astype(np.int16)
    received = g711.decode(codec, g711.encode(codec, tone))
    assert _snr_db(tone.astype(np.float64), received.astype(np.float64)) > 30


def test_silence_frames_decode_to_silence() -> None:
    assert set(g711.SILENCE) == {"PCMU", "PCMA"}
    for codec, payload in g711.SILENCE.items():
        assert len(payload) == g711.FRAME_SAMPLES
        assert np.all(np.abs(g711.decode(codec, payload)) <= 8)
        assert g711.encode(codec, np.zeros(g711.FRAME_SAMPLES, np.int16)) == payload


def test_decode_returns_a_writable_copy_and_encode_takes_any_shape() -> None:
    pcm = g711.decode("PCMU", b"\x00\x80" * 80)
    pcm[0] = 1  # the caller owns the array; the shared table is untouched
    assert g711.decode("PCMU", b"\x00")[0] == -32124
    assert g711.encode("PCMA", pcm.reshape(2, 80)) == g711.encode("PCMA", pcm)
    assert g711.encode("PCMU", pcm[::2]) == g711.encode("PCMU", pcm[::2].copy())
    assert g711.decode("PCMA", b"").shape == (0,)


def test_bad_codec_and_bad_dtype_are_refused() -> None:
    with pytest.raises(ValueError, match="G722"):
        g711.decode("G722", b"\x00")
    with pytest.raises(ValueError, match="pcmu"):
        g711.encode("pcmu", np.zeros(4, np.int16))
    with pytest.raises(TypeError, match="int32"):
        g711.encode("PCMU", np.zeros(4, np.int32))
