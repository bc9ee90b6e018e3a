"""Session timers (RFC 4028): negotiating Session-Expires, and when to refresh or give up.

The negotiation functions read a request or response and return :class:`SessionTerms`; the
:class:`SessionTimer` of a dialog turns the terms into two deadlines. The refresher sends a
refresh at half the interval and ends the session at the full interval if no refresh
succeeded; the other side ends it ``min(32, interval / 3)`` seconds before the interval runs
out (RFC 4028 section 10). Pure: time is passed in.

Exceptions:
    SessionIntervalTooSmall: a ``SipError`` answered 422 with our Min-SE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from callroster.sip.message import (
    BadRequest,
    Request,
    Response,
    SipError,
    header_params,
    response_to,
)

log = logging.getLogger(__name__)

MIN_SE = 90  # RFC 4028 4: the smallest interval anyone may ask for
RETRY_AFTER_FAILED_REFRESH = 4.0  # seconds; e.g. after a 491 (RFC 3261 14.1 waits up to 4 s)
Refresher = Literal["uac", "uas"]
Due = Literal["refresh", "expire"]


class SessionIntervalTooSmall(SipError):
    """Session-Expires below our Min-SE: answered 422 with a Min-SE header (RFC 4028 8.1)."""

    code = 422
    reason = "Session Interval Too Small"

    def __init__(self, detail: str, *, min_se: int, request: Request | None = None) -> None:
        super().__init__(detail, request=request)
        self.min_se = min_se

    def response_for(self, request: Request, *, to_tag: str | None = None) -> Response:
        """The 422 response, carrying ``Min-SE``.

        Args:
            request: The request rejected.
            to_tag: Tag to add to To.

        Returns:
            The response.
        """
        return response_to(
            request,
            self.code,
            self.reason,
            to_tag=to_tag,
            extra_headers=[("Min-SE", str(self.min_se))],
        )


@dataclass(frozen=True)
class SessionTerms:
    """A negotiated session interval.

    Attributes:
        interval: Session interval in seconds.
        refresher: Which side of the *refresh transaction* refreshes: ``"uac"`` or ``"uas"``.
        require: Whether our 2xx must carry ``Require: timer`` (the UAC supports timers).
    """

    interval: int
    refresher: Refresher
    require: bool = False

    def headers(self) -> list[tuple[str, str]]:
        """Headers for a 2xx (or a refresh request) stating these terms."""
        headers = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        if self.require:
            headers.append(("Require", "timer"))
        return headers


def parse_session_expires(value: str) -> tuple[int, Refresher | None]:
    """Parses a Session-Expires value such as ``1800;refresher=uac``.

    Args:
        value: The header value.

    Returns:
        ``(delta-seconds, refresher or None)``; an unknown refresher counts as absent.

    Raises:
        BadRequest: The delta is not a number below 2**32.
    """
    delta = value.partition(";")[0].strip(" \t")
    if not delta.isascii() or not delta.isdigit() or len(delta.lstrip("0")) > 10:
        raise BadRequest(f"malformed Session-Expires {value!r}")
    seconds = int(delta)
    if seconds >= 2**32:
        raise BadRequest(f"Session-Expires out of range in {value!r}")
    refresher = (header_params(value).get("refresher") or "").lower()
    if refresher == "uac":
        return seconds, "uac"
    if refresher == "uas":
        return seconds, "uas"
    return seconds, None


def supports_timer(message: Request | Response) -> bool:
    """Whether the message lists the ``timer`` option tag in Supported or Require."""
    tags = message.get_all("Supported") + message.get_all("Require")
    return any(tag.strip(" \t").lower() == "timer" for tag in tags)


def negotiate_as_uas(request: Request, min_se: int = MIN_SE) -> SessionTerms | None:
    """The terms a UAS accepts for an INVITE, re-INVITE or UPDATE (RFC 4028 9).

    We never shorten the interval asked for. Without a refresher in the request we let the
    UAC refresh when it supports timers, and must refresh ourselves when it does not.

    Args:
        request: The received request.
        min_se: Our Min-SE.

    Returns:
        The terms to answer with, or None when the request has no Session-Expires.

    Raises:
        SessionIntervalTooSmall: The interval is below ``min_se`` (answer 422).
        BadRequest: Malformed Session-Expires.
    """
    value = request.get("Session-Expires")
    if value is None:
        return None
    interval, refresher = parse_session_expires(value)
    if interval < min_se:
        raise SessionIntervalTooSmall(
            f"Session-Expires {interval} below {min_se}", min_se=min_se, request=request
        )
    uac_supports = supports_timer(request)
    if refresher is None or not uac_supports:
        refresher = "uac" if uac_supports else "uas"
    return SessionTerms(interval, refresher, require=uac_supports)


def negotiate_as_uac(response: Response) -> SessionTerms | None:
    """The terms a 2xx to our INVITE, re-INVITE or UPDATE sets (RFC 4028 7.2).

    Args:
        response: The 2xx received.

    Returns:
        The terms (refresher ``"uac"`` when the response names none), or None when the
        response has no Session-Expires (no session timer) or a malformed one.
    """
    value = response.get("Session-Expires")
    if value is None:
        return None
    try:
        interval, refresher = parse_session_expires(value)
    except SipError:
        return None
    if interval <= 0:
        return None
    return SessionTerms(interval, refresher or "uac")


class SessionTimer:
    """The two deadlines of a dialog's session timer.

    Args:
        interval: Session interval in seconds.
        we_refresh: True when this side is the refresher.
        now: When the session was last refreshed (the 2xx sent or received).
    """

    def __init__(self, interval: int, we_refresh: bool, now: float) -> None:
        self.interval = interval
        self.we_refresh = we_refresh
        self.refreshed_at = now
        self.refresh_pending = False
        self._retry_at: float | None = None

    @classmethod
    def from_terms(cls, terms: SessionTerms, *, we_are_uac: bool, now: float) -> SessionTimer:
        """A timer from terms negotiated in a transaction where we were the UAC or the UAS."""
        return cls(terms.interval, (terms.refresher == "uac") == we_are_uac, now)

    @property
    def expires_at(self) -> float:
        """When the session ends without a refresh: for the refresher the full interval;
        for the other side ``min(32, interval / 3)`` seconds earlier."""
        if self.we_refresh:
            return self.refreshed_at + self.interval
        return self.refreshed_at + self.interval - min(32.0, self.interval / 3)

    @property
    def refresh_at(self) -> float | None:
        """When the refresher sends its refresh (half the interval, or a retry), else None."""
        if not self.we_refresh or self.refresh_pending:
            return None
        if self._retry_at is not None:
            return self._retry_at
        return self.refreshed_at + self.interval / 2

    def next_deadline(self) -> float:
        """The earliest of the two deadlines."""
        refresh = self.refresh_at
        return self.expires_at if refresh is None else min(refresh, self.expires_at)

    def due(self, now: float) -> Due | None:
        """What is due at ``now``: ending the session wins over refreshing it."""
        if now >= self.expires_at:
            return "expire"
        refresh = self.refresh_at
        if refresh is not None and now >= refresh:
            return "refresh"
        return None

    def refresh_started(self) -> None:
        """Our refresh request is on its way; no second one until it completes."""
        self.refresh_pending = True
        self._retry_at = None

    def refresh_failed(self, now: float) -> None:
        """Our refresh got a non-2xx: try again shortly, while the session lasts."""
        self.refresh_pending = False
        self._retry_at = now + RETRY_AFTER_FAILED_REFRESH

    def refreshed(self, now: float, terms: SessionTerms | None, *, we_are_uac: bool) -> None:
        """A refresh transaction succeeded (2xx sent or received).

        Args:
            now: When.
            terms: Terms the refresh set; None keeps the interval and refresher.
            we_are_uac: Our role in the refresh transaction.
        """
        self.refreshed_at = now
        self.refresh_pending = False
        self._retry_at = None
        if terms is not None:
            self.interval = terms.interval
            self.we_refresh = (terms.refresher == "uac") == we_are_uac
        log.debug(
            "session refreshed: %ss, %s refresh", self.interval, "we" if self.we_refresh else "they"
        )
