"""Whether the service is alive and whether it is ready, for a load balancer or systemd.

``GET /healthz``: the process answers HTTP (alive). ``GET /readyz``: it can take calls: the
store answers a trivial query (within ``STORE_WITHIN`` seconds) and the bridge takes calls
(SIP bound, the media clock running, no graceful stop under way); else 503 with the reasons.
Both are cheap, open to anyone, and say nothing about calls or people.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from callroster.store.store import Store

router = APIRouter(tags=["health"])
STORE_WITHIN = 2.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready, with the reasons"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready to take calls: the store answers and SIP is bound, with no stop under way (503
    with the reasons)."""
    reasons: list[str] = []
    store: Store = request.app.state.store
    try:
        answered = await asyncio.wait_for(asyncio.to_thread(store.ping), STORE_WITHIN)
    except TimeoutError:
        answered = False
    if not answered:
        reasons.append("the store does not answer")
    bridge = getattr(request.app.state, "bridge", None)
    if bridge is None or not bridge.is_listening():
        reasons.append("the bridge takes no calls (SIP not bound, or stopping)")
    if reasons:
        return JSONResponse({"status": "not ready", "reasons": reasons}, status_code=503)
    return JSONResponse({"status": "ready"})
