"""Consent records over the API (issue 16): the operator's signed export, and the public key
anyone checks it with.

``GET /api/v1/operator/consent-records?format=json|csv&since=&until=&limit=``: operators
only, by an operator token (as ``api/operator_legal_holds.py``): 401 without one, 403 for
users, guests and their sessions. The records given in ``[since, until)``, oldest first, at
most ``limit`` (``EXPORT_ROW_LIMIT``, 100,000) a request: when more remain, the export's
``next_since`` (and the ``X-Next-Since`` header) says where the next request starts
(``since=<next_since>``, same ``until``). Signed with Ed25519 (``privacy/consent_export.py``);
every export audit-logged with how many rows (``store.consent_records``).

``GET /api/v1/consent/public-key``: the public key, PEM, for anyone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from callroster.accounts.actor import Actor
from callroster.api.auth import operator, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.api.errors import answering
from callroster.privacy.consent_export import key_id, public_key_pem
from callroster.store.consent_records import EXPORT_ROW_LIMIT, SignedExport

EXPORT_PATH = "/api/v1/operator/consent-records"
PUBLIC_KEY_PATH = "/api/v1/consent/public-key"
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


def export_response(signed: SignedExport, fmt: Literal["json", "csv"], stamp: str) -> Response:
    """The download: the signed bytes as a file, with how many records and where the next
    export starts in headers too."""
    headers = {
        "Content-Disposition": f'attachment; filename="consent-records-{stamp}.{fmt}"',
        "X-Record-Count": str(signed.records),
        "Cache-Control": "no-store",
    }
    if signed.next_since is not None:
        headers["X-Next-Since"] = signed.next_since.isoformat()
    return Response(signed.data, media_type=MEDIA_TYPES[fmt], headers=headers)


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


@public_router.get(PUBLIC_KEY_PATH, response_class=Response)
def consent_public_key(request: Request) -> Response:
    """The public key the consent exports are signed with (PEM); its id in ``X-Key-Id``."""
    public = store_of(request).consent_records.public_key()
    return Response(
        public_key_pem(public),
        media_type="application/x-pem-file",
        headers={"X-Key-Id": key_id(public), "Cache-Control": "public, max-age=3600"},
    )
