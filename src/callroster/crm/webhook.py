"""Sending a click-to-call log to the account's CRM: a signed JSON POST, retried with backoff.

Each event is sent as the JSON body of a POST with these headers:

- ``Callroster-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`` (see ``signing``); the
  timestamp is that of the attempt, so a retry is as fresh as the first try;
- ``Idempotency-Key`` and ``Callroster-Event-Id``: the event's id, the same on every attempt,
  so the receiver can drop a duplicate (an attempt that timed out here may still have
  arrived there).

Outcomes of one attempt:

- 2xx: delivered, stop.
- 408, 429 and 5xx, a connection error, or no complete answer within ``timeout`` (10 s):
  try again after 1, 2, 4, 8, 16 … s (doubling, at most ``max_delay``), each plus up to 10 %
  jitter, until ``max_attempts`` (6) have been made. A ``Retry-After`` header on such an
  answer (seconds or an HTTP date) is honoured instead, up to ``max_retry_after`` (60 s).
- Any other answer (other 4xx, and 3xx: redirects are not followed, because the signature
  and the personal data are meant for the configured URL only): a permanent failure, stop.
- The CRM's certificate fails the check (not signed by an authority the system or the
  operator's ``crm_ca_file`` trusts, not for the URL's host, expired) or the TLS handshake
  fails: a permanent failure, stop, with the reason (``"TLS: the CRM's certificate is not
  trusted (unable to get local issuer certificate)"``); nothing was sent, and the request is
  never tried without TLS or without the check.
- A host the destination policy refuses (``crm.destination``: loopback, private, link-local
  and the like, checked on the addresses at connect time by ``crm.transport``): a permanent
  failure, stop; nothing was sent.

**Limitation:** retries live in this process's memory. A restart loses every webhook not yet
delivered; nothing is written down. A durable outbox (a table the sender drains, so delivery
survives a restart) is future work.

Privacy: the payload holds personal data (notes, numbers) and the URL may embed the CRM's
token, so neither ever reaches a log line or a ``DeliveryResult``; those carry the event id,
the attempt count, the HTTP status and the kind of error. httpx logs each request's URL at
INFO; a filter on its logger cuts those URLs down to scheme, host and port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import httpx

from callroster import __version__
from callroster.crm.destination import DestinationPolicy, ForbiddenDestinationError
from callroster.crm.signing import sign
from callroster.crm.target import WebhookTarget, check_url
from callroster.crm.transport import describe_tls_failure, guarded_client, tls_context

__all__ = ["DeliveryResult", "WebhookSender", "WebhookTarget"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Callroster-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_ID_HEADER = "Callroster-Event-Id"
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_TIMEOUT = 10.0

_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", re.ASCII)
_SECONDS = re.compile(r"[0-9]{1,10}", re.ASCII)


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended.

    Attributes:
        delivered: the receiver answered 2xx.
        attempts: how many requests were made (1 to ``max_attempts``).
        last_status: the HTTP status of the last attempt; None when it got no answer.
        error: why it was not delivered (``"HTTP 400"``, ``"ConnectError"``,
            ``"timed out after 10 s"``, ``"refused: the webhook URL's host resolves to a
            loopback address …"``, ``"TLS: the CRM's certificate is not trusted (…)"``);
            None when delivered. Never holds the URL.
    """

    delivered: bool
    attempts: int
    last_status: int | None
    error: str | None


def retryable(status: int) -> bool:
    """Whether an answer with this status is worth another attempt."""
    return status in (408, 429) or 500 <= status <= 599


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header as seconds from ``now``; None if absent or not understood."""
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The request body: compact UTF-8 JSON. Raises TypeError or ValueError for a payload
    JSON cannot hold (the message names the type, never the values)."""
    try:
        return json.dumps(
            payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise type(exc)("the webhook payload is not JSON-serialisable") from None


def check_event_id(event_id: str) -> str:
    """An event id fit for a header: 1 to 128 letters, digits and ``._:-``."""
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise ValueError("an event id is 1 to 128 letters, digits, '.', '_', ':' or '-'")
    return event_id


class _RedactUrls(logging.Filter):
    """Cuts the URL in httpx's "HTTP Request: POST <url> …" records down to its origin."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_origin(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}/…"


_redaction = _RedactUrls()


def _install_redaction() -> None:
    logger = logging.getLogger("httpx")
    if _redaction not in logger.filters:
        logger.addFilter(_redaction)


class WebhookSender:
    """Delivers signed webhooks, retrying in memory (see the module docstring).

    Args:
        max_attempts: requests made at most per event (6).
        timeout: seconds one attempt may take, connection to status line (10).
        base_delay: the wait after the first failed attempt; it doubles after each (1 s).
        max_delay: the longest wait between two attempts by backoff (60 s).
        max_retry_after: the longest wait a receiver's ``Retry-After`` can ask for (60 s).
        jitter: each wait is lengthened by up to this fraction of itself, at random (0.1).
        sleep: how to wait; tests pass one that returns at once and records the delays.
        clock: the Unix time, for signatures and ``Retry-After`` dates.
        rng: a random number in [0, 1), for jitter.
        destinations: where webhooks may go (by default public addresses only, looked up
            with the system's resolver); every connection is checked by it.
        network: what opens a connection once the address is checked (httpcore's own
            backend); tests give one that reaches loopback only.
        ca_file: certificate authorities (PEM) trusted for the CRM's TLS beside the
            system's (the operator's ``crm_ca_file``); read here, so a bad file fails at once.
    """

    def __init__(
        self,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        max_retry_after: float = 60.0,
        jitter: float = 0.1,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        destinations: DestinationPolicy | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
        ca_file: Path | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout <= 0 or base_delay < 0 or max_delay < 0 or max_retry_after < 0:
            raise ValueError("timeout must be positive and delays not negative")
        if not 0 <= jitter <= 1:
            raise ValueError("jitter is a fraction from 0 to 1")
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._max_retry_after = max_retry_after
        self._jitter = jitter
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._destinations = destinations or DestinationPolicy()
        self._network = network
        self._tls = tls_context(ca_file)
        self._client: httpx.AsyncClient | None = None
        # Scheduled deliveries, held so the event loop's weak references are not the only
        # ones (an unreferenced task may be garbage-collected mid-flight).
        self._tasks: set[asyncio.Task[DeliveryResult]] = set()
        _install_redaction()

    # -- delivery -----------------------------------------------------------------------
    async def deliver(
        self, target: WebhookTarget, event_id: str, payload: dict[str, Any]
    ) -> DeliveryResult:
        """Send one event to ``target``, retrying until delivered, refused or out of attempts.

        Raises:
            ValueError: the URL is not http or https, the event id is unfit for a header, or
                the payload cannot be JSON.
            TypeError: the payload holds a value JSON cannot hold.
        """
        check_url(target.url)
        return await self._deliver(target, check_event_id(event_id), encode_payload(payload))

    def schedule(
        self, target: WebhookTarget, event_id: str, payload: dict[str, Any]
    ) -> asyncio.Task[DeliveryResult]:
        """Deliver in the background; the outcome is logged (event id, attempts, status, kind
        of error: never the payload or URL). The sender holds the task until it ends.

        Bad input raises here, at once (as ``deliver`` would), not inside the task. Must be
        called from a running event loop.
        """
        check_url(target.url)
        body = encode_payload(payload)
        check_event_id(event_id)
        task = asyncio.get_running_loop().create_task(
            self._deliver_and_log(target, event_id, body), name=f"crm-webhook:{event_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def pending(self) -> int:
        """Scheduled deliveries not finished yet."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every scheduled delivery has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel scheduled deliveries (they are lost: see the module docstring) and close
        the client."""
        for task in list(self._tasks):
            log.warning("CRM webhook %s dropped undelivered at shutdown", _event_of(task))
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _deliver_and_log(
        self, target: WebhookTarget, event_id: str, body: bytes
    ) -> DeliveryResult:
        try:
            result = await self._deliver(target, event_id, body)
        except Exception as exc:  # a bug, not the receiver: logged by kind, never by value
            log.error("CRM webhook %s failed: %s", event_id, type(exc).__name__)
            return DeliveryResult(False, 0, None, type(exc).__name__)
        if result.delivered:
            log.info(
                "CRM webhook %s delivered (HTTP %s, %d attempt(s))",
                event_id,
                result.last_status,
                result.attempts,
            )
        else:
            log.warning(
                "CRM webhook %s not delivered after %d attempt(s): %s",
                event_id,
                result.attempts,
                result.error,
            )
        return result

    async def _deliver(self, target: WebhookTarget, event_id: str, body: bytes) -> DeliveryResult:
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.max_attempts + 1):
            status, error, retry_after = None, None, None
            try:
                async with asyncio.timeout(self.timeout):
                    status, retry_after_header = await self._post(target, event_id, body)
            except ForbiddenDestinationError as exc:
                return DeliveryResult(False, attempt, None, f"refused: {exc}")
            except (TimeoutError, httpx.TimeoutException):
                error = f"timed out after {self.timeout:g} s"
            except (httpx.HTTPError, OSError) as exc:
                tls = describe_tls_failure(exc)
                if tls is not None:  # a retry would meet the same certificate
                    return DeliveryResult(False, attempt, None, tls)
                error = type(exc).__name__
            else:
                if 200 <= status <= 299:
                    return DeliveryResult(True, attempt, status, None)
                error = f"HTTP {status}"
                if not retryable(status):
                    return DeliveryResult(False, attempt, status, error)
                retry_after = retry_after_seconds(retry_after_header, self._clock())
            if attempt == self.max_attempts:
                break
            delay = self._delay(attempt, retry_after)
            log.info(
                "CRM webhook %s attempt %d failed (%s); next in %.1f s",
                event_id,
                attempt,
                error,
                delay,
            )
            await self._sleep(delay)
        return DeliveryResult(False, self.max_attempts, status, error)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            base = min(retry_after, self._max_retry_after)
        else:
            base = min(self._base_delay * 2 ** (attempt - 1), self._max_delay)
        # Jitter only lengthens: never sooner than a receiver's Retry-After asked.
        return base * (1 + self._jitter * self._rng())

    async def _post(
        self, target: WebhookTarget, event_id: str, body: bytes
    ) -> tuple[int, str | None]:
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Callroster-Webhook/{__version__}",
            SIGNATURE_HEADER: sign(target.secret, timestamp, body),
            IDEMPOTENCY_HEADER: event_id,
            EVENT_ID_HEADER: event_id,
        }
        # The body of the answer is never read: only its status and headers matter.
        async with self._http().stream(
            "POST", target.url, content=body, headers=headers, follow_redirects=False
        ) as answer:
            return answer.status_code, answer.headers.get("retry-after")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = guarded_client(
                self._destinations, self.timeout, ssl_context=self._tls, network=self._network
            )
        return self._client


def _event_of(task: asyncio.Task[Any]) -> str:
    return task.get_name().removeprefix("crm-webhook:")
