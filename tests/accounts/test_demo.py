"""The demo a fresh install seeds: its users can sign in with the password the banner shows,
made at random once and the same on every later start."""

from __future__ import annotations

from callroster.accounts import demo
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
