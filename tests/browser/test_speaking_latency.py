"""The speaking indicator on the Live Call Status page follows a caller's talk spurts, timed
against the RTP the caller sends (tests/support/talker.py): it lights after each spurt starts,
goes dark after each ends, and never lights on the line noise before the first.

Only generous functional bounds are asserted here; the timing target (lit within 300 ms) is
measured by ``make bench`` (bench/speaking.py, bench/results/speaking.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service
from tests.support.talker import Plan, open_roster, run_talk, spurt_results

pytestmark = pytest.mark.browser

LIT_WITHIN_S = 2.0
DARK_WITHIN_S = 3.0


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    with running_service(tmp_path / "data") as running:
        yield running


def test_the_speaking_indicator_lights_for_each_talk_spurt_and_not_for_noise(
    service: RunningService, tmp_path: Path
) -> None:
    demo = service.demo()
    plan = Plan(spurts=3)
    with chromium() as browser:
        page = open_roster(browser, demo["web_url"])  # a guest's view
        run = run_talk(service, demo, page, tmp_path / "call", plan)
    assert run.sipp_status == 0  # the call stayed up to the end and hung up cleanly
    assert len(run.spurts) == plan.spurts
    analysis = spurt_results(run)
    detail = f"spurts {analysis.spurts}, page changes {run.classes}, sent {run.spurts}"
    assert analysis.lit_before_first_spurt == 0, f"lit on line noise: {detail}"
    for result in analysis.spurts:
        assert result.lit_after is not None and result.lit_after < LIT_WITHIN_S, detail
        assert result.dark_after is not None and result.dark_after < DARK_WITHIN_S, detail
        assert result.extra_lights == 0, f"lit again on the noise between spurts: {detail}"
