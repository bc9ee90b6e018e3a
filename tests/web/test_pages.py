from __future__ import annotations

from fastapi.testclient import TestClient

from callroster.accounts import demo
from callroster.app import create_app
from callroster.config import Settings
from callroster.store.store import Store


def test_conference_page_shows_how_to_join(store: Store, settings: Settings) -> None:
    details = demo.ensure_demo(store, settings)
    client = TestClient(create_app(store, settings))
    page = client.get(details.web_url.removeprefix(settings.web_base_url))
    assert page.status_code == 200
    assert details.pin in page.text and details.dial_in_uri in page.text
    assert store.audit.entries(details.account_id, limit=1)[0].actor.startswith("guest:link:")
    assert client.get("/c/not-a-conference").status_code == 404
    assert client.get("/c/" + "x" * 500).status_code == 404
