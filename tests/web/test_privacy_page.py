"""The privacy page (``web/privacy.py``), in-process over https://testserver: public, in the
site's layout and linked from every page's footer; its tables are the inventory's holdings
for each audience, in order; and it is generated: a period configured for a country, a
different default period, or a session lifetime changed in code changes what it says."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from fastapi import FastAPI
from tests.conftest import FakeClock
from tests.web.test_signin import browser, signin_app

from callroster.accounts import session_policy
from callroster.config import Settings, load_settings
from callroster.privacy import notice
from callroster.privacy.inventory import INVENTORY, LegalBasis, Protection, Reader
from callroster.privacy.retention import DEFAULT_PERIODS, Period, RetentionPolicy
from callroster.privacy.retention_classes import RetentionClass
from callroster.store.store import Store, open_store
from callroster.web.privacy import privacy_body, retention_terms

HTML = {"Accept": "text/html"}


@pytest.fixture
def app(store: Store, settings: Settings) -> FastAPI:
    return signin_app(store, settings)


def _rows(html: str, table_id: str) -> list[str]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [unescape(w) for w in re.findall(r'<tr data-where="([^"]+)"', table)]


def test_the_page_is_public_in_the_layout_and_linked_from_every_page(app: FastAPI) -> None:
    answer = browser(app).get("/privacy", headers=HTML)
    assert answer.status_code == 200
    assert "<h1>Privacy</h1>" in answer.text and '<header class="site">' in answer.text
    assert 'href="/privacy/request"' in answer.text
    assert '<a href="/privacy" aria-current="page">Privacy</a>' in answer.text
    home = browser(app).get("/", headers=HTML).text
    assert '<footer class="site">' in home and '<a href="/privacy">Privacy</a>' in home


def test_each_table_is_the_inventory_for_its_audience(app: FastAPI) -> None:
    html = browser(app).get("/privacy", headers=HTML).text
    terms = retention_terms(RetentionPolicy())
    shown: set[str] = set()
    for audience in notice.AUDIENCES:
        expected = [row.where for row in notice.rows_for(audience, terms)]
        assert _rows(html, f"{audience.key}-data") == expected
        assert len(expected) >= 8
        shown.update(expected)
    # Everything declared about an account's people or its guests is on the page; only the
    # platform's own staff's sessions are not.
    hidden = {h.where for h in INVENTORY.holdings} - shown
    assert hidden == {"operator_sessions.source"}
    for text in (
        "legs.name_enc,number_enc",
        "call_records.number_enc",
        "sessions.source,created_at,last_seen_at",
    ):
        assert text in shown
    assert "Encrypted with a key of the account&#x27;s own" in html


def test_the_periods_in_force_are_on_the_page(
    tmp_path: Path, store: Store, clock: FakeClock
) -> None:
    default = browser(signin_app(store, load_settings(data=tmp_path / "data"))).get("/privacy")
    assert "6 months from the end of the call" in default.text
    assert "12 months from the date of the call" in default.text
    assert "accounts kept in GB" not in default.text
    configured = load_settings(
        data=tmp_path / "data",
        retention_overrides={"GB": {"call_records": "3 months", "service_data": 90}},
    )
    other = open_store(configured, clock=clock)
    try:
        page = browser(signin_app(other, configured)).get("/privacy").text
    finally:
        other.close()
    assert "accounts kept in GB (London): 3 months" in page
    assert "accounts kept in GB (London): 90 days" in page
    assert "6 months from the end of the call" in page  # elsewhere, the default


def test_a_changed_period_or_lifetime_changes_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    before = privacy_body(retention_terms(RetentionPolicy()))
    longer = RetentionPolicy(
        periods={**DEFAULT_PERIODS, RetentionClass.CALL_RECORDS: Period(months=9)}
    )
    after = privacy_body(retention_terms(longer))
    assert "6 months from the end of the call" in before and "9 months" not in before
    assert "9 months from the end of the call" in after
    assert "12 hours at most" in before
    monkeypatch.setattr(session_policy, "ORDINARY_LIFETIME", session_policy.IDLE_LIMIT * 40)
    assert "10 hours at most" in privacy_body(retention_terms(RetentionPolicy()))


def test_every_retention_class_and_every_declared_value_has_words() -> None:
    terms = retention_terms(RetentionPolicy())
    assert set(terms.periods) == set(RetentionClass)
    assert set(notice.PROTECTION_WORDS) == set(Protection)
    assert set(notice.READER_WORDS) == set(Reader)
    assert set(notice.BASIS_WORDS) == set(LegalBasis)
    with pytest.raises(ValueError, match="no terms"):
        notice.RetentionTerms({RetentionClass.AUDIT: "forever"})
