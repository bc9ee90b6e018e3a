"""update_level/update_talking behave exactly as update, and the sliding min/max of the
steady-noise window matches a plain window padded with NaN."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from callroster.media.talk import TalkDetector, level_dbfs, level_from_power


class _NaiveWindow(TalkDetector):
    """The floor tracking with a NaN-padded numpy window, as the detector first had it."""

    def reset(self) -> None:
        super().reset()
        self._naive = np.full(self._steady_window, np.nan)
        self._naive_next = 0

    def _track_floor(self, floor: float, level: float) -> None:
        floor = level if level < floor else min(level, floor + self._rise_per_frame)
        window = self._naive
        if window.size:
            window[self._naive_next] = level
            self._naive_next = (self._naive_next + 1) % window.size
            lowest = float(window.min())
            if float(window.max()) - lowest <= self._steady_range_db and lowest > floor:
                floor = lowest
        self._floor = floor


_levels = st.lists(
    st.one_of(st.none(), st.floats(-100.0, 0.0), st.sampled_from([-60.0, -58.0, -30.0])),
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(_levels, st.sampled_from([None, 0.02, 0.1, 0.5]), st.floats(0.0, 1.0))
def test_the_sliding_window_matches_the_naive_one(
    levels: list[float | None], steady: float | None, sensitivity: float
) -> None:
    fast = TalkDetector(steady_noise_s=steady, sensitivity=sensitivity)
    naive = _NaiveWindow(steady_noise_s=steady, sensitivity=sensitivity)
    for i, level in enumerate(levels):
        if i == 150:
            fast.reset()
            naive.reset()
        assert fast.update_level(level) == naive.update_level(level)


def test_update_is_update_level_of_the_frame_level() -> None:
    rng = np.random.default_rng(1)
    a, b, c = TalkDetector(), TalkDetector(), TalkDetector()
    for i in range(400):
        amplitude = 3000.0 if (i // 60) % 2 else 30.0
        frame = (rng.standard_normal(160) * amplitude).astype(np.int16)
        expected = a.update(frame)
        assert b.update_level(level_dbfs(frame)) == expected
        assert c.update_talking(level_dbfs(frame)) == expected.talking


def test_level_from_power() -> None:
    frame = np.full(160, 1000, dtype=np.int16)
    assert level_from_power(1000.0**2) == level_dbfs(frame)
    assert level_from_power(0.0) == level_dbfs(np.zeros(160, dtype=np.int16)) == -100.0
    assert math.isclose(level_from_power(32768.0**2), 0.0)


def test_mixer_set_flags_is_set_muted_and_set_held() -> None:
    from callroster.media.mixer import Mixer

    a, b = Mixer(), Mixer()
    for mixer in (a, b):
        mixer.add_leg("x", "PCMU")
        mixer.add_leg("y", "PCMA")
    for muted, held in ((True, False), (True, True), (False, True), (False, False)):
        a.set_muted("x", muted)
        a.set_held("x", held)
        b.set_flags("x", muted=muted, held=held)
        assert (a.is_muted("x"), a.is_held("x"), a.any_held) == (
            b.is_muted("x"),
            b.is_held("x"),
            b.any_held,
        )
        assert a._silenced == b._silenced and a._held == b._held
