"""Consent records over the API (issue 16): the operator's signed export, and the public key
anyone checks it with.

``GET /api/v1/operator/consent-records?format=json|csv&since=&until=&limit=``: operators
only, by an operator token (as ``api/operator_legal_holds.py``): 401 without one, 403 for
users, guests and their sessions. The records given in ``[since, until)``, oldest first, at
most ``limit`` (``EXPORT_ROW_LIMIT``, 100,000) a request: when more remain, the export's
``next_since`` (and the ``X-Next-Since`` header) says where the next request starts
(``since=<next_since>``, same ``until``). Signed with Ed25519 (``privacy/consent_export.py``);
every export audit-logged with how many rows (``store.consent_records``).

``GET /api/v1/consent/public-key[?key_id=]``: the public key, PEM, for anyone: the current
one, or the earlier one of that key id (an export names the key that signed it; 404 for a
key this service never signed with). ``GET /api/v1/consent/public-keys``: every one, as
JSON (``key_id``, ``public_key`` PEM, ``since``, ``retired_at``: null for the current one),
current first. The signing key is rotated with ``callroster consent rotate-key``
(``store.consent_signing``). Both read the store, so each address (an IPv6 /64) may ask
``KEY_FETCHES_PER_MINUTE`` times a minute; then 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from callroster.accounts.actor import Actor
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.api.rate_limit import SlidingWindow, take
from callroster.bridge.pin_guard import source_key
from callroster.privacy.consent_export import public_key_pem
from callroster.store.consent_records import EXPORT_ROW_LIMIT, SignedExport
from callroster.store.consent_signing import SigningKey

EXPORT_PATH = "/api/v1/operator/consent-records"
PUBLIC_KEY_PATH = "/api/v1/consent/public-key"
PUBLIC_KEYS_PATH = "/api/v1/consent/public-keys"
KEY_ID_PATTERN = "^[0-9a-f]{16}$"
KEY_FETCHES_PER_MINUTE = 60
DOWNLOAD_SLICE = 256 * 1024  # bytes of an export sent at a time
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}

router = APIRouter(tags=["operator"], route_class=CredentialsFirst)
public_router = APIRouter(tags=["consent"])
OperatorDep = Annotated[Actor, Depends(operator)]


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A query's time in UTC; one without a zone is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


async def _slices(data: bytearray) -> AsyncIterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), DOWNLOAD_SLICE):
        yield view[start : start + DOWNLOAD_SLICE]


def export_response(signed: SignedExport, fmt: Literal["json", "csv"], stamp: str) -> Response:
    """The download: the signed bytes as a file, with how many records and where the next
    export starts in headers too. Sent in slices of the one buffer the file was built in:
    one body of 43 MB would be copied whole by the HTTP layer (h11 joins a body to its
    framing) and again into the socket's send buffer when the client reads slower."""
    headers = {
        "Content-Disposition": f'attachment; filename="consent-records-{stamp}.{fmt}"',
        "Content-Length": str(len(signed.data)),
        "X-Record-Count": str(signed.records),
        "Cache-Control": "no-store",
    }
    if signed.next_since is not None:
        headers["X-Next-Since"] = signed.next_since.isoformat()
    return StreamingResponse(_slices(signed.data), media_type=MEDIA_TYPES[fmt], headers=headers)


@router.get(EXPORT_PATH, response_class=Response)
def export_consent_records(
    actor: OperatorDep,
    request: Request,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=EXPORT_ROW_LIMIT)] = EXPORT_ROW_LIMIT,
) -> Response:
    """The consent records given in ``[since, until)``, signed (module docstring)."""
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise HTTPException(422, "since must be before until")
    records = store_of(request).consent_records
    with answering():
        signed = records.signed_export(actor, format, since=since, until=until, limit=limit)
    stamp = f"{store_of(request).clock():%Y%m%dT%H%M%SZ}"
    return export_response(signed, format, stamp)


def _limited(request: Request) -> None:
    """Counts a fetch of the public keys against the asker's address; 429 past the limit.
    On the event loop, with no await between check and count (``api/rate_limit.take``)."""
    state = request.app.state
    window: SlidingWindow | None = getattr(state, "consent_key_window", None)
    if window is None:
        window = SlidingWindow(KEY_FETCHES_PER_MINUTE, 60.0)
        state.consent_key_window = window
    now = getattr(state, "monotonic", time.monotonic)()
    source = request.client.host if request.client else "unknown"
    wait = take([(window, source_key(source))], now)
    if wait > 0:
        raise HTTPException(
            429,
            "too many requests for the consent signing keys from this address; try later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


async def _keys(request: Request) -> list[SigningKey]:
    _limited(request)
    return await asyncio.to_thread(store_of(request).consent_records.signing_keys.all)


@public_router.get(PUBLIC_KEY_PATH, response_class=Response)
async def consent_public_key(
    request: Request,
    key_id: Annotated[str | None, Query(pattern=KEY_ID_PATTERN)] = None,
) -> Response:
    """The public key the consent exports are signed with (PEM), or the earlier one of
    ``key_id``; its id in ``X-Key-Id``. The current key is cached for minutes only: it
    changes when rotated; an earlier one never changes."""
    keys = await _keys(request)
    key = keys[0] if key_id is None else next((k for k in keys if k.key_id == key_id), None)
    if key is None:
        raise HTTPException(404, "no such consent signing key")
    age = 300 if key.current else 86_400
    headers = {"X-Key-Id": key.key_id, "Cache-Control": f"public, max-age={age}"}
    if key.retired_at is not None:
        headers["X-Key-Retired-At"] = key.retired_at.isoformat()
    return Response(
        public_key_pem(key.public_key), media_type="application/x-pem-file", headers=headers
    )


def _key_json(key: SigningKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "public_key": public_key_pem(key.public_key),
        "since": key.since.isoformat(),
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


@public_router.get(PUBLIC_KEYS_PATH)
async def consent_public_keys(request: Request) -> JSONResponse:
    """Every key consent exports were signed with, current first (module docstring)."""
    keys = await _keys(request)
    return JSONResponse(
        {"keys": [_key_json(key) for key in keys]},
        headers={"Cache-Control": "public, max-age=300"},
    )
