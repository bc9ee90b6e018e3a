"""What routes take from the running app, beside the store (``auth.store_of``)."""

from __future__ import annotations

from fastapi import Request, WebSocket

from callroster.bridge.service import BridgeService


def bridge_of(request: Request | WebSocket) -> BridgeService:
    """The bridge the service runs (``app.state.bridge``), for routes that act on calls."""
    bridge = request.app.state.bridge
    assert isinstance(bridge, BridgeService)
    return bridge
