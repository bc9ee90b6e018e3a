"""The whole onboarding, as people would do it, against a running service (`serve`, no demo):
the operator adds an access number to the plan and, at /operator in chromium, creates a
customer account; its first administrator opens the set-up link, chooses a password, sets up
the second factor and adds a host at /admin; the host signs in, finds their conference on My
conferences and its invitation (with the access number and the PIN); a real sipp caller
dials that access number, keys that PIN, and appears on the host's Live Call Status.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pyotp
import pytest
from playwright.sync_api import expect
from tests.support.browser import chromium
from tests.support.peers import sipp_command, sipp_tone_file
from tests.support.service import running_service

from callroster.accounts.actor import operator_cli
from callroster.config import load_settings
from callroster.store.store import open_store

pytestmark = pytest.mark.browser
OPERATOR = operator_cli("test")
ACCESS_NUMBER = "+442079460777"
ADMIN_EMAIL = "ida.admin@noddack.example"
HOST_EMAIL = "walter.host@noddack.example"
ADMIN_PASSWORD = "Granite-Lantern-Meadow-47"
HOST_PASSWORD = "Copper-Willow-Station-83"
CALLER = "+447700900123"
PHONE = {"width": 390, "height": 844}


def test_from_a_new_account_to_a_caller_on_the_hosts_live_call_status(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", demo=False) as service:
        store = open_store(load_settings(data=service.data))
        try:
            _, operator_token = store.operator_tokens.issue(OPERATOR, "walk")
            store.numbers.add(OPERATOR, ACCESS_NUMBER, label="London")
        finally:
            store.close()
        base = service.base_url
        with chromium() as browser:
            # -- the operator creates the customer account -------------------------------------
            operator = browser.new_page()
            operator.goto(f"{base}/operator/login")
            operator.get_by_label("Operator token").fill(operator_token)
            operator.get_by_role("button", name="Sign in").click()
            operator.wait_for_url(f"{base}/operator")
            operator.get_by_label("Account name").fill("Noddack Partners")
            operator.get_by_label("Region").select_option("london")
            operator.get_by_label("First administrator's email").fill(ADMIN_EMAIL)
            operator.get_by_role("button", name="Create account").click()
            expect(operator.get_by_role("status")).to_have_text("Account created.")
            link = urlparse(operator.locator("#setup-link").inner_text()).path

            # -- its administrator sets up, on a phone, and adds a host ------------------------
            admin = browser.new_page(viewport=PHONE)
            admin.goto(f"{base}{link}")
            admin.get_by_label("New password", exact=True).fill(ADMIN_PASSWORD)
            admin.get_by_label("The same password again").fill(ADMIN_PASSWORD)
            admin.get_by_role("button", name="Set password and continue").click()
            admin.wait_for_url(f"{base}/account/second-factor")
            secret = admin.locator("#totp-secret").inner_text().replace(" ", "")
            admin.get_by_label("The 6-digit code from the app").fill(pyotp.TOTP(secret).now())
            admin.get_by_role("button", name="Confirm").click()
            expect(admin.locator("#recovery-codes code")).to_have_count(10)
            admin.goto(f"{base}/admin")
            admin.get_by_label("Role").select_option("host")
            admin.get_by_label("Name", exact=True).fill("Walter Host")
            admin.get_by_label("Email (they sign in with it)").fill(HOST_EMAIL)
            admin.get_by_label("First password").fill(HOST_PASSWORD)
            admin.get_by_role("button", name="Add", exact=True).click()
            expect(admin.get_by_role("status")).to_have_text("Walter Host was added.")
            expect(admin.get_by_text("Walter Host's conference")).to_be_visible()

            # -- the host signs in and finds their conference and its invitation ---------------
            host = browser.new_page()
            host.goto(f"{base}/login")
            host.get_by_label("Email").fill(HOST_EMAIL)
            host.get_by_label("Password").fill(HOST_PASSWORD)
            host.get_by_role("button", name="Sign in").click()
            host.wait_for_url(f"{base}/me")
            expect(host.get_by_role("heading", level=1)).to_have_text("My conferences")
            pin = host.locator(".pin").first.inner_text().strip()
            assert re.fullmatch(r"\d{8}", pin), pin
            host.get_by_role("link", name="Invite people: text, calendar file, email").click()
            invitation = host.get_by_label("Invitation text").input_value()
            assert ACCESS_NUMBER in invitation.replace(" ", "") and pin in invitation
            host.go_back()
            host.get_by_role("link", name="Open Live Call Status").first.click()
            expect(host.get_by_text("Nobody is on the call yet.")).to_be_visible()

            # -- a caller dials the access number and keys the PIN ----------------------------
            sipp_tone_file(tmp_path)
            caller = subprocess.Popen(
                sipp_command(
                    "pin_by_rfc4733",
                    service.sip_port,
                    ACCESS_NUMBER,
                    tmp_path,
                    keys={"caller": CALLER},
                    fill={"PIN": pin},
                    duration_ms=8000,
                ),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                legs = host.locator("#legs > li")
                expect(legs).to_have_count(1, timeout=20_000)
                expect(legs.first).to_contain_text(CALLER)
                expect(legs.first).to_contain_text("Phone")
                expect(host.get_by_text("On the call: 1")).to_be_visible()
                out, err = caller.communicate(timeout=40)
                assert caller.returncode == 0, out + err
            finally:
                if caller.poll() is None:
                    caller.kill()
                    caller.wait()
