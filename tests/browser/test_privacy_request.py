"""A data-subject access request from a real browser (Debian chromium) against a running
service (``serve``) whose mail server is a real SMTP server (aiosmtpd on 127.0.0.1): the
public form, the one-time code from the email the service sent to the address on record,
then the download link, whose ZIP holds the person's data (the demo host) with its
README. Each page passes axe-core with no serious or critical violation, fits a 390 px phone
and has targets of 24 px or more (tests/browser/test_accessibility.py's ``check``)."""

from __future__ import annotations

import email
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from tests.browser.test_accessibility import check, shots_folder
from tests.support.browser import chromium
from tests.support.service import RunningService, running_service
from tests.support.smtp import MailServerProcess
from tests.support.waiting import wait_until_sync

from callroster.accounts import demo as demo_seed

pytestmark = pytest.mark.browser


@pytest.fixture
def service(tmp_path: Path, mail_server: MailServerProcess) -> Iterator[RunningService]:
    mail = mail_server.service_settings("privacy@callroster.test")
    with running_service(tmp_path / "data", settings=mail) as running:
        yield running


def test_access_request_from_form_to_code_to_download(
    service: RunningService, mail_server: MailServerProcess, tmp_path: Path
) -> None:
    shots = shots_folder(tmp_path)
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
        page = context.new_page()
        page.goto(f"{service.base_url}/privacy/request")
        check(page, "privacy-request", shots)
        page.get_by_label("A copy of my personal data").check()
        page.get_by_label("Your email address").fill(demo_seed.DEMO_HOST_EMAIL.upper())
        page.get_by_role("button", name="Send the request").click()
        page.wait_for_url(re.compile(r".*/privacy/request/crpr_[\w-]+$"))
        expect(page.locator("#sent")).to_contain_text("a one-time code of 8 digits")

        wait_until_sync(lambda: mail_server.mailbox.received, 20, "the code's email")
        (recipients, raw), *_ = mail_server.mailbox.received
        assert recipients == [demo_seed.DEMO_HOST_EMAIL]  # as on record, not as typed
        body = email.message_from_bytes(raw).get_payload()
        code = re.search(r"code is (\d{8})", str(body))
        assert code, body

        page.get_by_label("Code").fill("00000000")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#message")).to_have_text("That code is not right. 4 tries left.")
        check(page, "privacy-request-code", shots)
        page.get_by_label("Code").fill(code.group(1))
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#notice")).to_have_text("Thank you: it is you.")
        check(page, "privacy-request-done", shots)

        with page.expect_download() as download:
            page.get_by_role("link", name="Download your data (ZIP)").click()
        assert download.value.suggested_filename == "my-callroster-data.zip"
        archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
        assert "README.txt" in archive.namelist()
        (user,) = json.loads(archive.read("users.json"))
        assert user["email"] == demo_seed.DEMO_HOST_EMAIL and user["role"] == "host"
        assert "users.csv" in archive.namelist()
