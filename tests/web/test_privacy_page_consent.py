"""The privacy page says how long consent records are kept (issue 16): the consent's own
time, then the proof period the settings give (``consent_proof_days``), in words; and it
lists what a consent record holds."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FakeClock
from tests.web.test_signin import browser, signin_app

from callroster.config import load_settings
from callroster.privacy.retention import RetentionPolicy
from callroster.store.store import Store, open_store
from callroster.web.privacy import privacy_body, retention_terms

SAID = "As long as the choice lasts (until it is changed, or one month), then {} as proof"


def test_the_proof_period_in_force_is_on_the_page(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    default = browser(signin_app(store, load_settings(data=tmp_path / "data"))).get("/privacy")
    assert SAID.format("3 years") in default.text
    assert 'data-class="consent"' in default.text
    assert "consent_records.ip_enc,user_agent_enc" in default.text
    configured = load_settings(data=tmp_path / "data", consent_proof_days=400)
    other = open_store(configured, clock=clock)
    try:
        page = browser(signin_app(other, configured)).get("/privacy").text
    finally:
        other.close()
    assert SAID.format("400 days") in page and SAID.format("3 years") not in page


def test_no_proof_period_says_so() -> None:
    body = privacy_body(retention_terms(RetentionPolicy(), consent_proof_days=0))
    assert SAID.format("no longer") in body
    assert SAID.format("1 year") in privacy_body(retention_terms(RetentionPolicy(), 365))
