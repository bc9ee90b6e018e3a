"""The demo a fresh install seeds: its users can sign in with the password the banner shows,
made at random once and the same on every later start."""

from __future__ import annotations

from callroster.accounts import demo
from callroster.accounts.actor import operator_cli
from callroster.config import Settings
from callroster.store.store import Store


def test_the_demo_users_sign_in_with_the_password_the_banner_shows(
    store: Store, settings: Settings
) -> None:
    first = demo.ensure_demo(store, settings)
    again = demo.ensure_demo(store, settings)
    assert first.password and first.password == again.password
    assert len(first.password) >= 16
    for email in (demo.DEMO_HOST_EMAIL, demo.DEMO_ADMIN_EMAIL):
        assert store.accounts.check_sign_in(email, first.password).password_ok
    banner = demo.banner(first, settings)
    assert first.password in banner and f"{settings.web_base_url}/login" in banner
    assert (settings.data / "demo.json").stat().st_mode & 0o077 == 0


def test_the_demo_keeps_its_own_number_beside_the_operators(
    store: Store, settings: Settings
) -> None:
    """Numbers the operator adds are shown on the demo conference too; the banner's dial-in
    stays the demo's own SIP number (issue 13)."""
    first = demo.ensure_demo(store, settings)
    store.numbers.add(operator_cli("test"), "+33142868200")
    again = demo.ensure_demo(store, settings)
    assert again.dial_in_uri == first.dial_in_uri == "sip:2000@127.0.0.1:5060"
    view = store.conferences.get_conference(operator_cli("test"), again.conference_id)
    assert view.dial_in_numbers == ("+33142868200", "2000")
