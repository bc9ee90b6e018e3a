"""Delivering click-to-call logs to a real receiver on 127.0.0.1: signed, retried with
backoff on 5xx, 408, 429 and dead receivers, stopped by other 4xx and redirects, once per
event, and never logging the payload or the URL. The receiver is on loopback, so these
senders run as for an operator who allows private targets; without that, the same receiver
is refused before any packet is sent."""

from __future__ import annotations

import asyncio
import email.utils
import gc
import json
import logging
from collections.abc import AsyncIterator

import pytest
from tests.crm.receiver import Receiver, Reply, closed_port, serving
from tests.support.trap import trapping
from tests.support.waiting import wait_until

from callroster.crm.destination import DestinationPolicy
from callroster.crm.signing import verify
from callroster.crm.webhook import DeliveryResult, WebhookSender, WebhookTarget

SECRET = b"Qm9sZC1Ib3Jpem9uLTQ0Nzctc2lnbmluZw"
EVENT = "call_7f3a9c2e-1b4d-4e8f-a6c3-9d2e1f0b7a55"
PAYLOAD = {
    "event": "call.ended",
    "call_id": "7f3a9c2e",
    "to": "+447700900461",
    "notes": "Marguerite asked about the Halvorsen renewal",
    "duration_s": 125,
    "outcome": "answered",
}
PERSONAL = ["+447700900461", "447700900461", "Marguerite", "Halvorsen renewal"]
# The operator's crm_allow_private_targets, on: the receivers here listen on 127.0.0.1.
LOOPBACK_ALLOWED = DestinationPolicy(allow_private=True)


class Sleeps:
    """The sender's sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def _sender(sleeps: Sleeps, **options: object) -> WebhookSender:
    options.setdefault("jitter", 0.0)
    options.setdefault("destinations", LOOPBACK_ALLOWED)
    return WebhookSender(sleep=sleeps, **options)  # type: ignore[arg-type]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(Receiver(SECRET)) as running:
        yield running


async def test_a_delivery_is_signed_json_with_the_event_id(receiver: Receiver) -> None:
    sleeps = Sleeps()
    sender = _sender(sleeps)
    try:
        result = await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
    finally:
        await sender.aclose()
    assert result == DeliveryResult(delivered=True, attempts=1, last_status=200, error=None)
    [request] = receiver.requests
    assert request.signature_ok
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == EVENT
    assert request.headers["callroster-event-id"] == EVENT
    assert json.loads(request.body) == PAYLOAD
    # The signature is over exactly the bytes sent, with the time of sending.
    header = request.headers["callroster-signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert verify(SECRET, header, request.body, now=timestamp)
    assert not verify(b"another secret of ours", header, request.body, now=timestamp)
    assert sleeps.delays == []


async def test_two_500s_then_200_make_three_attempts_with_one_key_and_one_event() -> None:
    script = [Reply(500), Reply(503), Reply(200)]
    async with serving(Receiver(SECRET, script)) as receiver:
        sleeps = Sleeps()
        sender = _sender(sleeps)
        target = WebhookTarget(receiver.url, SECRET)
        result = await sender.deliver(target, EVENT, PAYLOAD)
        # The CRM sees the same event again (say we restarted): it drops it by its key.
        again = await sender.deliver(target, EVENT, PAYLOAD)
        await sender.aclose()
    assert result == DeliveryResult(True, 3, 200, None)
    assert again == DeliveryResult(True, 1, 200, None)
    assert len(receiver.requests) == 4
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {EVENT}
    assert all(r.signature_ok for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1
    assert receiver.processed == [receiver.requests[0].body]
    assert sleeps.delays == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 301, 302, 307, 308])
async def test_other_4xx_and_redirects_stop_at_once(status: int) -> None:
    with trapping() as trap:
        # A redirect to where the sender must not go (here a listener that counts arrivals).
        headers = {"Location": f"http://{trap.authority}/elsewhere"} if status < 400 else {}
        async with serving(Receiver(SECRET, [Reply(status, headers)])) as receiver:
            sleeps = Sleeps()
            sender = _sender(sleeps)
            result = await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
            await sender.aclose()
        assert trap.reached == 0
        trap.prove_reachable()
    assert result == DeliveryResult(False, 1, status, f"HTTP {status}")
    assert len(receiver.requests) == 1 and receiver.processed == []
    assert sleeps.delays == []


async def test_a_loopback_receiver_is_refused_unless_the_operator_allows_private_targets(
    receiver: Receiver,
) -> None:
    """A URL stored before the rule (or past it) is still refused when the sender connects:
    at once, without retrying, and nothing reaches the receiver."""
    sleeps = Sleeps()
    for url in (receiver.url, f"http://localhost:{receiver.port}/hooks/calls"):
        sender = _sender(sleeps, destinations=DestinationPolicy())
        result = await sender.deliver(WebhookTarget(url, SECRET), EVENT, PAYLOAD)
        await sender.aclose()
        assert not result.delivered and (result.attempts, result.last_status) == (1, None)
        assert result.error is not None and result.error.startswith("refused: ")
        assert "a loopback address" in result.error and str(receiver.port) not in result.error
    assert receiver.requests == [] and sleeps.delays == []
    # The positive control: the same sender, where the operator allows private targets.
    allowed = _sender(sleeps)
    assert (await allowed.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)).delivered
    await allowed.aclose()
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_408_429_and_5xx_are_retried(status: int) -> None:
    async with serving(Receiver(SECRET, [Reply(status)])) as receiver:
        sleeps = Sleeps()
        sender = _sender(sleeps)
        result = await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
        await sender.aclose()
    assert result == DeliveryResult(True, 2, 200, None)
    assert len(receiver.processed) == 1 and sleeps.delays == [1.0]


async def test_a_receiver_that_is_down_is_tried_max_attempts_times_with_backoff() -> None:
    sleeps = Sleeps()
    sender = _sender(sleeps)
    target = WebhookTarget(f"http://127.0.0.1:{closed_port()}/hooks/calls", SECRET)
    result = await sender.deliver(target, EVENT, PAYLOAD)
    await sender.aclose()
    assert result == DeliveryResult(False, 6, None, "ConnectError")
    assert sleeps.delays == [1.0, 2.0, 4.0, 8.0, 16.0]

    fewer = _sender(sleeps := Sleeps(), max_attempts=3)
    assert (await fewer.deliver(target, EVENT, PAYLOAD)).attempts == 3
    await fewer.aclose()
    assert sleeps.delays == [1.0, 2.0]


async def test_jitter_only_lengthens_each_wait_by_up_to_a_tenth() -> None:
    sleeps = Sleeps()
    sender = WebhookSender(sleep=sleeps, destinations=LOOPBACK_ALLOWED)
    target = WebhookTarget(f"http://127.0.0.1:{closed_port()}/", SECRET)
    await sender.deliver(target, EVENT, PAYLOAD)
    await sender.aclose()
    for delay, base in zip(sleeps.delays, [1, 2, 4, 8, 16], strict=True):
        assert base <= delay <= base * 1.1


async def test_retry_after_is_honoured_and_capped() -> None:
    in_90_s = email.utils.formatdate(1_795_000_090, usegmt=True)
    script = [
        Reply(429, {"Retry-After": "3"}),
        Reply(503, {"Retry-After": "3600"}),  # an hour: capped
        Reply(429, {"Retry-After": in_90_s}),  # an HTTP date, 90 s from the sender's clock
        Reply(429, {"Retry-After": "soon"}),  # not understood: backoff instead
        Reply(200),
    ]
    async with serving(Receiver(SECRET, script)) as receiver:
        sleeps = Sleeps()
        sender = _sender(sleeps, clock=lambda: 1_795_000_000.0, max_retry_after=120.0)
        target = WebhookTarget(receiver.url, SECRET)
        result = await sender.deliver(target, EVENT, PAYLOAD)
        await sender.aclose()
    assert result == DeliveryResult(True, 5, 200, None)
    assert sleeps.delays == [3.0, 120.0, 90.0, 8.0]
    # The receiver's clock is the real one, so requests signed at the fake time are refused.
    assert not any(r.signature_ok for r in receiver.requests)


async def test_an_attempt_that_takes_too_long_is_abandoned_and_retried() -> None:
    async with serving(Receiver(SECRET, [Reply(200, delay=1.5)])) as receiver:
        sleeps = Sleeps()
        sender = _sender(sleeps, timeout=0.3)
        result = await sender.deliver(WebhookTarget(receiver.url, SECRET), EVENT, PAYLOAD)
        await sender.aclose()
    assert result == DeliveryResult(True, 2, 200, None)
    assert sleeps.delays == [1.0]
    # The slow answer arrived too, after we gave up on it: the key made it count once.
    await wait_until(lambda: receiver.in_flight == 0, 5, "the slow answer")
    assert len(receiver.processed) == 1


async def test_only_http_and_https_urls(receiver: Receiver) -> None:
    for url in [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "127.0.0.1:8000/hook",
        "https://",
        "https://crm.example/ho ok",
        "https://crm.example:99999/hook",
    ]:
        with pytest.raises(ValueError):
            WebhookTarget(url, SECRET)
    WebhookTarget("HTTPS://crm.example/hook?token=x", SECRET)
    # A target built around the check (object.__setattr__ on a frozen one) is still refused.
    target = WebhookTarget(receiver.url, SECRET)
    object.__setattr__(target, "url", "ftp://127.0.0.1/hook")
    sender = _sender(Sleeps())
    with pytest.raises(ValueError, match="http:// or https://"):
        await sender.deliver(target, EVENT, PAYLOAD)
    with pytest.raises(ValueError, match="http:// or https://"):
        sender.schedule(target, EVENT, PAYLOAD)
    with pytest.raises(ValueError, match="event id"):
        await sender.deliver(WebhookTarget(receiver.url, SECRET), "bad\r\nid", PAYLOAD)
    await sender.aclose()
    assert receiver.requests == []


def test_the_secret_is_not_in_the_repr() -> None:
    target = WebhookTarget("https://crm.example/hook", SECRET)
    assert SECRET.decode() not in repr(target) and SECRET.decode() not in str(target)


async def test_schedule_holds_the_task_and_logs_the_outcome_without_the_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "crmtok-8d1f0c77a2"
    script = {EVENT: [Reply(500), Reply(200)], "call_second": [Reply(400)]}
    async with serving(Receiver(SECRET, by_event=script)) as receiver:
        sleeps = Sleeps()
        sender = _sender(sleeps)
        target = WebhookTarget(f"{receiver.url}/{token}?key={token}", SECRET)
        delivered = sender.schedule(target, EVENT, PAYLOAD)
        refused = sender.schedule(target, "call_second", PAYLOAD)
        assert sender.pending == 2
        # Nobody else holds the tasks: the sender's references keep them alive.
        del delivered, refused
        gc.collect()
        await sender.drain()
        assert sender.pending == 0
        await sender.aclose()
    assert receiver.requests[0].path.endswith(token)  # the URL was used as given
    assert len(receiver.processed) == 1
    outcomes = [r.getMessage() for r in caplog.records if r.name == "callroster.crm.webhook"]
    assert f"CRM webhook {EVENT} delivered (HTTP 200, 2 attempt(s))" in outcomes
    assert "CRM webhook call_second not delivered after 1 attempt(s): HTTP 400" in outcomes
    # httpx logged its requests (at INFO), with the URL cut down to its origin.
    assert any(r.name == "httpx" for r in caplog.records)
    for text in [*PERSONAL, token, SECRET.decode()]:
        assert text not in caplog.text


async def test_aclose_drops_what_is_still_pending(caplog: pytest.LogCaptureFixture) -> None:
    never, retrying = asyncio.Event(), asyncio.Event()

    async def sleep_forever(_delay: float) -> None:
        retrying.set()
        await never.wait()

    sender = WebhookSender(sleep=sleep_forever, destinations=LOOPBACK_ALLOWED)
    target = WebhookTarget(f"http://127.0.0.1:{closed_port()}/", SECRET)
    task = sender.schedule(target, EVENT, PAYLOAD)
    await asyncio.wait_for(retrying.wait(), 5)  # the first attempt is refused; it waits to retry
    assert not task.done() and sender.pending == 1
    await sender.aclose()
    assert task.cancelled() and sender.pending == 0
    assert f"CRM webhook {EVENT} dropped undelivered at shutdown" in caplog.text
