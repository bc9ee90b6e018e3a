"""What the bridge refuses, for the API to turn into answers (the SIP core's own errors
stay inside the bridge)."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of the bridge's refusals."""


class ConferenceLocked(BridgeError):
    """The conference is locked: only its hosts may join."""


class TooManyCalls(BridgeError):
    """The bridge is at its limit of calls in progress."""


class NotInProgress(BridgeError, KeyError):
    """No such conference or leg in progress on this node (a ``KeyError`` too, as before)."""


class TooManyPendingJoins(BridgeError):
    """Too many browser joins of this conference, or from this address, are still waiting
    to connect (``bridge/web_pending.py``); one may start in ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
