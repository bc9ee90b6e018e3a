"""HTTP request latency by route, for the metrics: an ASGI middleware timing each request
from its arrival to the end of its answer.

The label is the route's template as the app declares it (``/c/{link}``,
``/api/v1/conferences/{conference_id}``), never the path that was asked for: a room link or
an id in a path would otherwise be published to whoever scrapes, and each new one would be a
new time series. The static files count as ``/static``; a path that matches no route as
``unmatched``. WebSockets are not timed (they last as long as someone watches).
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
# A client may send any word as its method: anything else counts as "other", so that no
# client makes new time series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that answered, from what routing left in ``scope``."""
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
    if scope.get("app_root_path") or scope.get("root_path"):  # a mount: the static files
        root = str(scope.get("root_path", ""))
        if root:
            return root
    return UNMATCHED


class RequestTiming:
    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self._latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self._latency.labels(method, route_template(scope), f"{status // 100}xx").observe(
                time.perf_counter() - started
            )
