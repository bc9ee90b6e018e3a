"""Page timing, the one performance measure (issue 16): with performance consent, each page
loads ``/static/page_timing.js``, which posts how long the page took to load to
``POST /api/v1/page-timing``; the time is added to the Prometheus histogram
``callroster_page_load_seconds``, by the route template of the page (``/c/{link}``: the layout
gives the script the template, never the address, so no room link leaves the page).

Anonymous and cookie-less: the beacon sets no cookie and nothing of it is kept but the
histogram's counts. Without performance consent the layout does not load the script, and a
beacon that comes anyway is ignored (204) before its body is read.

**Bounded.** A body of ``BODY_LIMIT`` bytes at most (413); ``PER_SOURCE`` beacons per address
per ``WINDOW`` seconds (429); the page must be the template of a page the layout rendered with
the script (``consent_state.timed_pages``) and the time between 0 and ``MAX_SECONDS`` (422), so
no beacon makes a new time series or skews the histogram without limit. Only from this site's
pages (``Sec-Fetch-Site``, else ``Origin``).
"""

from __future__ import annotations

import json
import math

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response

from callroster.api.rate_limit import SlidingWindow, take
from callroster.metrics import Metrics
from callroster.privacy.consent import Category
from callroster.web import consent_state
from callroster.web.common import source
from callroster.web.consent import same_origin

router = APIRouter(include_in_schema=False)
PATH = "/api/v1/page-timing"
BODY_LIMIT = 512
MAX_SECONDS = 120.0
PER_SOURCE = 120
WINDOW = 600.0


def _window(request: Request) -> SlidingWindow:
    state = request.app.state
    window = getattr(state, "page_timing_window", None)
    if window is None:
        window = state.page_timing_window = SlidingWindow(PER_SOURCE, WINDOW)
    assert isinstance(window, SlidingWindow)
    return window


def _refused(code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=code)


def valid_beacon(data: object, templates: frozenset[str]) -> tuple[str, float] | None:
    """The page template and seconds of a beacon's JSON, or None if it is not one."""
    if not isinstance(data, dict) or set(data) != {"page", "seconds"}:
        return None
    page, seconds = data["page"], data["seconds"]
    if not isinstance(page, str) or page not in templates:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    seconds = float(seconds)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SECONDS:
        return None
    return page, seconds


@router.post(PATH, status_code=status.HTTP_204_NO_CONTENT)
async def page_timing(request: Request) -> Response:
    if not consent_state.allows(Category.PERFORMANCE):
        return Response(status_code=status.HTTP_204_NO_CONTENT)  # ignored, body unread
    if not same_origin(request):
        return _refused(status.HTTP_403_FORBIDDEN, "page timing comes from this site's pages")
    wait = take([(_window(request), source(request))], request.app.state.monotonic())
    if wait > 0:
        answer = _refused(status.HTTP_429_TOO_MANY_REQUESTS, "too many page timings")
        answer.headers["Retry-After"] = str(int(wait) + 1)
        return answer
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            return _refused(413, f"a page timing holds at most {BODY_LIMIT} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    beacon = valid_beacon(data, consent_state.timed_pages())
    if beacon is None:
        return _refused(
            422, f'expected {{"page": a page\'s route, "seconds": 0 to {MAX_SECONDS:g}}}'
        )
    metrics: Metrics = request.app.state.metrics
    metrics.page_load.labels(beacon[0]).observe(beacon[1])
    return Response(status_code=status.HTTP_204_NO_CONTENT)
