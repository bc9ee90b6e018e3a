"""The N-1 mixer, judged by what each listener hears."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from callroster.media import tones
from callroster.media.mixer import FRAME_SAMPLES, Mixer
from callroster.rtp import g711

RATE = 8000


def tone(freq: float, amplitude: float, phase: float = 0.0) -> NDArray[np.int16]:
    t = np.arange(FRAME_SAMPLES) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.int16)


def rms(pcm: NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def spectrum(pcm: NDArray[np.int16]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Frequencies and magnitudes; 160 samples give 50 Hz bins, so 600 and 1000 Hz are exact."""
    mags = np.abs(np.fft.rfft(pcm.astype(np.float64))) / (FRAME_SAMPLES / 2)
    freqs = np.fft.rfftfreq(FRAME_SAMPLES, 1 / RATE).astype(np.float64)
    return freqs, mags


def peak_hz(pcm: NDArray[np.int16]) -> float:
    freqs, mags = spectrum(pcm)
    return float(freqs[np.argmax(mags)])


def amplitude_at(pcm: NDArray[np.int16], hz: float) -> float:
    freqs, mags = spectrum(pcm)
    return float(mags[np.argmin(np.abs(freqs - hz))])


@pytest.fixture
def room() -> Mixer:
    """A (talking), B (silent), C (muted), D (on hold), E (sends nothing), mixed codecs."""
    mixer = Mixer()
    for leg, codec in [("A", "PCMU"), ("B", "PCMA"), ("C", "PCMU"), ("D", "PCMA"), ("E", "PCMU")]:
        mixer.add_leg(leg, codec)
    mixer.set_muted("C", True)
    mixer.set_held("D", True)
    return mixer


def test_each_listener_hears_the_others_and_not_themselves(room: Mixer) -> None:
    music = tones.hold_music_loop()[17]
    out = room.mix(
        {
            "A": tone(1000, 8000),
            "B": np.zeros(FRAME_SAMPLES, np.int16),
            "C": tone(600, 8000),
            "D": tone(1500, 8000),
            "E": None,
        },
        hold_music=music,
    )
    # B hears A's 1 kHz at A's level (8000 peak, 5657 RMS), and nothing of muted C.
    heard_by_b = out.pcm("B")
    assert peak_hz(heard_by_b) == 1000
    assert rms(heard_by_b) == pytest.approx(8000 / np.sqrt(2), rel=1e-3)
    assert amplitude_at(heard_by_b, 600) < 1
    # A hears none of its own tone: the others are silent, muted or held.
    assert not out.pcm("A").any()
    # Nobody hears C's 600 Hz or held D's 1500 Hz; C and E still hear A.
    for leg in "ABCE":
        assert amplitude_at(out.pcm(leg), 600) < 1
        assert amplitude_at(out.pcm(leg), 1500) < 1
    for leg in "CE":
        assert peak_hz(out.pcm(leg)) == 1000
        assert np.array_equal(out.pcm(leg), heard_by_b)
    # D, on hold, hears exactly the hold music and nothing of A.
    assert np.array_equal(out.pcm("D"), music)
    # And that is what goes on the wire, in each leg's codec.
    for leg in "ABCDE":
        assert out.encoded(leg) == g711.encode(room.codec(leg), out.pcm(leg))


def test_two_talkers_hear_each_other_and_the_rest_hear_both(room: Mixer) -> None:
    room.set_muted("C", False)
    out = room.mix({"A": tone(1000, 6000), "C": tone(600, 4000)})
    assert peak_hz(out.pcm("A")) == 600 and amplitude_at(out.pcm("A"), 1000) < 1
    assert peak_hz(out.pcm("C")) == 1000 and amplitude_at(out.pcm("C"), 600) < 1
    heard_by_b = out.pcm("B")
    assert amplitude_at(heard_by_b, 1000) == pytest.approx(6000, rel=1e-3)
    assert amplitude_at(heard_by_b, 600) == pytest.approx(4000, rel=1e-3)
    assert set(out.per_leg_pcm) == {"A", "C"}
    assert np.array_equal(out.common_pcm, heard_by_b)


def test_the_sum_saturates_once_at_the_end_not_part_way() -> None:
    mixer = Mixer()
    for leg in "XYZW":
        mixer.add_leg(leg, "PCMU")
    level = np.full(FRAME_SAMPLES, 30000, np.int16)
    out = mixer.mix({"X": level, "Y": level, "Z": -level, "W": None})
    # Clipping after X + Y would leave 32767 - 30000 = 2767; int16 wrap-around gives garbage.
    assert np.all(out.pcm("W") == 30000)
    assert np.all(out.pcm("X") == 0) and np.all(out.pcm("Y") == 0)
    assert np.all(out.pcm("Z") == 32767)  # 60000 really is too loud: clipped, not wrapped
    # The same holds in any order of the inputs.
    again = mixer.mix({"Z": -level, "Y": level, "X": level})
    assert np.all(again.common_pcm == 30000)


def test_negative_overload_saturates_to_the_int16_minimum() -> None:
    mixer = Mixer()
    for leg in "XYZ":
        mixer.add_leg(leg, "PCMA")
    low = np.full(FRAME_SAMPLES, -32768, np.int16)
    out = mixer.mix({"X": low, "Y": low}, extra=low)
    assert np.all(out.pcm("Z") == -32768) and np.all(out.pcm("X") == -32768)


def test_extra_is_heard_by_everyone_but_held_legs(room: Mixer) -> None:
    beep = tones.join_tone()[1]
    out = room.mix({"A": tone(1000, 5000)}, extra=beep)
    assert np.array_equal(out.pcm("A"), beep)  # A hears the tone, still not itself
    for leg in "BCE":
        assert np.array_equal(out.pcm(leg), tone(1000, 5000) + beep)
    assert not out.pcm("D").any()  # hold without music is silence
    assert out.encoded("D") == g711.SILENCE["PCMA"]


def test_only_talkers_contribute_when_the_caller_says_who_talks(room: Mixer) -> None:
    room.set_muted("C", False)
    hiss = np.random.default_rng(1).normal(0, 300, FRAME_SAMPLES).astype(np.int16)
    out = room.mix({"A": tone(1000, 8000), "B": hiss, "C": hiss}, talking=["A", "A", "D", "Z"])
    assert out.contributors == ("A",)  # listed twice, held and unknown legs are left out
    assert np.array_equal(out.pcm("B"), tone(1000, 8000))
    assert not out.pcm("A").any()


def test_cost_grows_with_talkers_and_codecs_not_legs() -> None:
    mixer = Mixer()
    legs = [f"leg{i}" for i in range(100)]
    for i, leg in enumerate(legs):
        mixer.add_leg(leg, "PCMU" if i % 2 else "PCMA")
    talkers = ["leg3", "leg40", "leg77"]
    frames = {leg: tone(300 + 100 * i, 3000) for i, leg in enumerate(talkers)}
    out = mixer.mix(frames)
    payloads = {leg: out.encoded(leg) for leg in legs}
    payloads = {leg: out.encoded(leg) for leg in legs}  # asking twice costs nothing more
    assert out.encode_count <= 3 + 2
    assert set(out.per_leg_pcm) == set(talkers)
    listeners = [leg for leg in legs if leg not in talkers]
    by_codec = {mixer.codec(leg): payloads[leg] for leg in listeners}
    for leg in listeners:
        assert payloads[leg] is by_codec[mixer.codec(leg)]  # one shared bytes object
    for leg in legs:
        assert payloads[leg] == g711.encode(mixer.codec(leg), out.pcm(leg))


def test_a_silent_tick_costs_no_encode() -> None:
    mixer = Mixer()
    mixer.add_leg("a", "PCMU")
    mixer.add_leg("b", "PCMA")
    out = mixer.mix({"a": None, "b": None})
    assert out.encoded("a") == g711.SILENCE["PCMU"]
    assert out.encoded("b") == g711.SILENCE["PCMA"]
    assert out.encode_count == 0


def test_outputs_are_read_only_because_they_are_shared(room: Mixer) -> None:
    out = room.mix({"A": tone(1000, 8000)}, hold_music=tones.hold_music_loop()[0])
    for leg in "ABD":
        with pytest.raises(ValueError, match="read-only"):
            out.pcm(leg)[0] = 1


def test_leg_changes_take_effect_on_the_next_tick_only(room: Mixer) -> None:
    out = room.mix({"A": tone(1000, 8000)})
    room.set_held("B", True)
    room.remove_leg("E")
    room.add_leg("F", "PCMA")
    assert peak_hz(out.pcm("B")) == 1000 and out.encoded("E")  # the old tick is unchanged
    with pytest.raises(KeyError):
        out.pcm("F")
    later = room.mix({"A": tone(1000, 8000), "E": tone(600, 8000)})  # E is gone: ignored
    assert not later.pcm("B").any()
    assert np.array_equal(later.pcm("F"), tone(1000, 8000))
    assert amplitude_at(later.pcm("F"), 600) < 1


def test_flags_and_leg_errors(room: Mixer) -> None:
    assert room.leg_ids == ("A", "B", "C", "D", "E")
    assert room.is_muted("C") and room.is_held("D") and not room.is_muted("A")
    room.set_muted("C", False)
    room.set_held("D", False)
    assert not room.is_muted("C") and not room.is_held("D")
    with pytest.raises(ValueError, match="already"):
        room.add_leg("A", "PCMU")
    with pytest.raises(ValueError, match="G722"):
        room.add_leg("G", "G722")
    for call in (room.remove_leg, lambda leg: room.set_muted(leg, True)):
        with pytest.raises(KeyError):
            call("nobody")


@pytest.mark.parametrize(
    "frame",
    [np.zeros(80, np.int16), np.zeros(FRAME_SAMPLES, np.int32), np.zeros((2, 80), np.int16)],
)
def test_a_frame_that_is_not_160_int16_samples_is_refused(room: Mixer, frame: object) -> None:
    with pytest.raises(ValueError, match="'A'"):
        room.mix({"A": frame})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="extra"):
        room.mix({}, extra=frame)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hold_music"):
        room.mix({}, hold_music=frame)  # type: ignore[arg-type]


# --- Property: any conference, any flags, any frames -----------------------------------------

KINDS = ["none", "noise", "loud", "max", "min", "zero"]


def make_frame(kind: str, seed: int) -> NDArray[np.int16] | None:
    rng = np.random.default_rng(seed)
    if kind == "none":
        return None
    if kind == "noise":
        return rng.integers(-32768, 32768, FRAME_SAMPLES).astype(np.int16)
    if kind == "loud":
        return rng.choice(np.array([-32768, -32767, 32767], np.int16), FRAME_SAMPLES)
    value = {"max": 32767, "min": -32768, "zero": 0}[kind]
    return np.full(FRAME_SAMPLES, value, np.int16)


leg_spec = st.tuples(
    st.sampled_from(g711.CODECS),
    st.booleans(),  # muted
    st.booleans(),  # held
    st.sampled_from(KINDS),
    st.integers(0, 2**32 - 1),
    st.booleans(),  # listed as talking
)


@settings(max_examples=150, deadline=None)
@given(
    specs=st.lists(leg_spec, max_size=8),
    use_talking=st.booleans(),
    hold_kind=st.sampled_from(KINDS),
    extra_kind=st.sampled_from(KINDS),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_conference_mixes_to_saturated_n_minus_1(
    specs: list[tuple[str, bool, bool, str, int, bool]],
    use_talking: bool,
    hold_kind: str,
    extra_kind: str,
    seed: int,
) -> None:
    mixer = Mixer()
    inputs: dict[str, NDArray[np.int16] | None] = {}
    for i, (codec, muted, held, kind, frame_seed, _) in enumerate(specs):
        mixer.add_leg(f"L{i}", codec)
        mixer.set_muted(f"L{i}", muted)
        mixer.set_held(f"L{i}", held)
        inputs[f"L{i}"] = make_frame(kind, frame_seed)
    talking = [f"L{i}" for i, spec in enumerate(specs) if spec[5]] if use_talking else None
    hold = make_frame(hold_kind, seed)
    extra = make_frame(extra_kind, seed + 1)

    out = mixer.mix(inputs, hold_music=hold, extra=extra, talking=talking)

    # The same mix from its definition, in exact Python integers, clipped once.
    def contributes(i: int) -> bool:
        codec, muted, held, _, _, talks = specs[i]
        leg = f"L{i}"
        return not muted and not held and inputs[leg] is not None and (talking is None or talks)

    def heard_by(i: int) -> NDArray[np.int64]:
        total = np.zeros(FRAME_SAMPLES, np.int64) if extra is None else extra.astype(np.int64)
        for j in range(len(specs)):
            frame = inputs[f"L{j}"]
            if j != i and contributes(j) and frame is not None:
                total += frame
        return np.clip(total, -32768, 32767)

    for i, spec in enumerate(specs):
        leg = f"L{i}"
        pcm = out.pcm(leg)
        assert pcm.dtype == np.int16 and pcm.shape == (FRAME_SAMPLES,)
        if spec[2]:
            expected = np.zeros(FRAME_SAMPLES, np.int64) if hold is None else hold
        else:
            expected = heard_by(i)
        assert np.array_equal(pcm, expected)
        assert (leg in out.per_leg_pcm) == contributes(i)
        assert len(out.encoded(leg)) == FRAME_SAMPLES
    codecs_in_use = {spec[0] for spec in specs}
    assert out.encode_count <= len(out.per_leg_pcm) + 2 * len(codecs_in_use)
