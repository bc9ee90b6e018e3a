"""The ticket that opens the live roster's WebSocket from a browser (issue 12: the host's
token travelled in the WebSocket URL's query, where proxies log it). In-process, on the
store's clock: a ticket opens its conference once, within 30 s, as whoever the credential
stands for then; ``?token=`` is refused with a reason; the header and the cookie still work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tests.conftest import FakeClock

from callroster.accounts.actor import operator_cli
from callroster.accounts.demo import DemoDetails, ensure_demo
from callroster.api.live import TICKET_REFUSED, TOKEN_IN_URL_REFUSED
from callroster.app import create_app
from callroster.config import Settings
from callroster.services import live_call_status
from callroster.store.store import Store

OPERATOR = operator_cli("test")


@pytest.fixture
def demo(store: Store, settings: Settings) -> DemoDetails:
    return ensure_demo(store, settings)


@pytest.fixture
def client(store: Store, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(store, settings, live_call_status(store))) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ticket_for(client: TestClient, conference_id: str, credential: str) -> str:
    answer = client.post(
        f"/api/v1/conferences/{conference_id}/live/tickets", headers=bearer(credential)
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["expires_in_s"] == 30
    ticket: str = answer.json()["ticket"]
    return ticket


def live(conference_id: str, query: str) -> str:
    return f"/api/v1/conferences/{conference_id}/live?{query}"


def refusal(client: TestClient, url: str) -> tuple[int, str]:
    """The close code and reason of a WebSocket the server accepts only to close."""
    with client.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    return closed.value.code, closed.value.reason


def test_a_ticket_opens_the_roster_once(
    client: TestClient, demo: DemoDetails, store: Store
) -> None:
    conference = demo.conference_id
    ticket = ticket_for(client, conference, demo.host_token)
    assert demo.host_token not in ticket
    with client.websocket_connect(live(conference, f"ticket={ticket}")) as ws:
        [snapshot] = ws.receive_json()
        assert snapshot["type"] == "snapshot"
    watches = [e for e in store.audit.entries(demo.account_id, 50) if e.action == "roster.watch"]
    assert len(watches) == 1 and watches[0].subject == f"conference:{conference}"
    code, reason = refusal(client, live(conference, f"ticket={ticket}"))  # used up
    assert code == TICKET_REFUSED and "not valid" in reason


def test_a_ticket_expires_after_30_seconds(
    client: TestClient, demo: DemoDetails, clock: FakeClock
) -> None:
    conference = demo.conference_id
    early = ticket_for(client, conference, demo.host_token)
    late = ticket_for(client, conference, demo.host_token)
    clock.advance(seconds=29)
    with client.websocket_connect(live(conference, f"ticket={early}")) as ws:
        assert ws.receive_json()[0]["type"] == "snapshot"
    clock.advance(seconds=1)
    assert refusal(client, live(conference, f"ticket={late}"))[0] == TICKET_REFUSED


def test_a_ticket_opens_its_own_conference_only(
    client: TestClient, demo: DemoDetails, store: Store
) -> None:
    host = store.accounts.find_user_ids_by_email(demo.host_email)[0]
    other = store.conferences.create_conference(OPERATOR, host, "Another call")
    ticket = ticket_for(client, demo.conference_id, demo.host_token)
    code, reason = refusal(client, live(other, f"ticket={ticket}"))
    assert (code, reason) == (TICKET_REFUSED, "this ticket is for another conference")
    # ...and it is used up by the attempt.
    assert refusal(client, live(demo.conference_id, f"ticket={ticket}"))[0] == TICKET_REFUSED
    # A guest's link gets tickets for its own conference, not another.
    link = demo.web_url.rsplit("/", 1)[1]
    assert ticket_for(client, demo.conference_id, link)
    answer = client.post(f"/api/v1/conferences/{other}/live/tickets", headers=bearer(link))
    assert answer.status_code == 404


def test_forged_tickets_and_credentials_get_none(client: TestClient, demo: DemoDetails) -> None:
    conference = demo.conference_id
    for forged in ("crw_forged", "", "x" * 5000, demo.host_token):
        code, reason = refusal(client, live(conference, f"ticket={forged}"))
        assert code == TICKET_REFUSED and "not valid" in reason
    url = f"/api/v1/conferences/{conference}/live/tickets"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=bearer("cr_forged")).status_code == 401
    assert (
        client.post(
            "/api/v1/conferences/nope/live/tickets", headers=bearer(demo.host_token)
        ).status_code
        == 404
    )


def test_a_token_revoked_after_its_ticket_opens_nothing(
    client: TestClient, demo: DemoDetails, store: Store
) -> None:
    key, token = store.tokens.create(OPERATOR, demo.account_id, None, {"roster:read"}, "soon")
    ticket = ticket_for(client, demo.conference_id, token)
    assert store.tokens.revoke(OPERATOR, key)
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(live(demo.conference_id, f"ticket={ticket}")) as ws:
            ws.receive_text()
    assert closed.value.code == 4401


def test_the_token_in_the_url_is_refused_with_a_reason(
    client: TestClient, demo: DemoDetails
) -> None:
    code, reason = refusal(client, live(demo.conference_id, f"token={demo.host_token}"))
    assert code == TOKEN_IN_URL_REFUSED and "?ticket=" in reason and "refused" in reason
    # Programs still send the token in Authorization.
    with client.websocket_connect(
        live(demo.conference_id, ""), headers=bearer(demo.host_token)
    ) as ws:
        assert ws.receive_json()[0]["type"] == "snapshot"
