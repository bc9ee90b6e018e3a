"""The privacy page in a real browser (Debian chromium) against ``callroster serve`` with a
retention override configured for GB: reached from the home page's footer; each of its tables
shows the inventory's holdings for that audience, in order and in the same words as
``privacy/notice.py`` makes them; the configured period is on it; and it passes axe-core with
no serious or critical violation, fits a 390 px phone (each row a card) and is shot at both
widths (tests/browser/test_accessibility.py's ``check``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.browser.test_accessibility import DESKTOP, PHONE, check, shots_folder
from tests.support.browser import chromium
from tests.support.service import running_service

from callroster.privacy import notice
from callroster.privacy.retention import RetentionPolicy
from callroster.web.privacy import retention_terms

pytestmark = pytest.mark.browser
OVERRIDES = {"GB": {"call_records": "3 months"}}


def test_the_privacy_page_is_the_inventory_and_passes_axe(tmp_path: Path) -> None:
    terms = retention_terms(RetentionPolicy.from_overrides(OVERRIDES))
    settings = {"retention_overrides": json.dumps(OVERRIDES)}
    with running_service(tmp_path / "data", demo=False, settings=settings) as service:
        with chromium() as browser:
            page = browser.new_context(viewport=DESKTOP).new_page()
            page.goto(service.base_url)
            page.get_by_role("contentinfo").get_by_role("link", name="Privacy").click()
            page.wait_for_url(f"{service.base_url}/privacy")
            expect(page.locator("h1")).to_have_text("Privacy")
            for audience in notice.AUDIENCES:
                rows = notice.rows_for(audience, terms)
                table = page.locator(f"#{audience.key}-data")
                expect(table.locator("tbody tr")).to_have_count(len(rows))
                assert table.locator("tbody tr").evaluate_all(
                    "(trs) => trs.map((tr) => tr.dataset.where)"
                ) == [row.where for row in rows]
                cells = table.locator("tbody tr").evaluate_all(
                    "(trs) => trs.map((tr) => [...tr.children].map((c) => c.innerText.trim()))"
                )
                assert cells == [
                    [row.what, row.why, row.how_long, row.protection, row.readers] for row in rows
                ]
            expect(page.locator("#retention")).to_contain_text(
                "accounts kept in GB (London): 3 months"
            )
            expect(page.get_by_role("link", name="Make a request")).to_have_attribute(
                "href", "/privacy/request"
            )
            check(page, "privacy", shots_folder(tmp_path))
            # On a phone each row is a card: the cells say which column they are.
            page.set_viewport_size(PHONE)
            label = page.locator("#guests-data tbody td").first.evaluate(
                "(td) => getComputedStyle(td, '::before').content"
            )
            assert label == '"Why"'
