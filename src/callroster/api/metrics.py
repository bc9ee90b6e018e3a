"""What an operator's monitoring scrapes: ``GET /metrics``, the service's figures in
Prometheus' text format (callroster/metrics.py), and the same at
``GET /api/v1/operator/metrics`` for an operator token.

Who may scrape ``/metrics``: a request from loopback or from the networks the operator names
in ``metrics_allowed_networks`` needs nothing more (Prometheus on the same machine or the
monitoring network, as usual); anyone else needs an operator token (401 without, 403 for any
other credential). A request that came through a reverse proxy the service does not trust
(it carries ``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP`` and ``trusted_proxies`` is
empty) does not count as loopback, since a proxy on the same machine would otherwise open
``/metrics`` to the whole internet; with ``trusted_proxies`` set, uvicorn has already put the
real client's address in its place. By default, then, nothing off the machine reads it
without a token.

The figures are counts, never a number, an address, a PIN or a name.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from callroster.accounts.actor import Actor
from callroster.api.auth import operator
from callroster.api.credentials_first import CredentialsFirst
from callroster.config import Settings
from callroster.metrics import Metrics

router = APIRouter(tags=["operator"], route_class=CredentialsFirst)
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _exposition(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def from_allowed_network(request: Request, settings: Settings) -> bool:
    """Whether the request comes from loopback or a network allowed to scrape."""
    if request.client is None:
        return False
    if not settings.trusted_proxies and any(h in request.headers for h in FORWARDING_HEADERS):
        return False  # the connection is a proxy's, on behalf of someone unknown
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.metrics_networks
    )


def scraper(request: Request) -> None:
    """Lets an allowed network through; anyone else must be the operator (raises 401/403)."""
    if not from_allowed_network(request, request.app.state.settings):
        operator(request)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, _: Annotated[None, Depends(scraper)]) -> Response:
    """The service's figures in Prometheus' text format (loopback, the networks in
    ``metrics_allowed_networks``, or an operator token)."""
    return _exposition(request)


@router.get("/api/v1/operator/metrics", response_class=Response)
async def operator_metrics(
    request: Request, caller: Annotated[Actor, Depends(operator)]
) -> Response:
    """The same figures as ``/metrics``, for an operator token from anywhere."""
    return _exposition(request)
