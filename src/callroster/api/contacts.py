"""Importing an account's own contact list (CSV or vCard), used for name resolution on that
account's conferences only."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from callroster.accounts.actor import Role
from callroster.api.auth import authenticated, require_scope, store_of
from callroster.api.credentials_first import CredentialsFirst
from callroster.privacy.contact_import import ImportError_, parse_csv, parse_vcard

router = APIRouter(prefix="/api/v1", route_class=CredentialsFirst)
MAX_UPLOAD = 2 * 1024 * 1024


class Imported(BaseModel):
    imported: int


@router.post(
    "/contacts",
    response_model=Imported,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/vcard": {"schema": {"type": "string"}},
            }
        }
    },
)
async def import_contacts(request: Request) -> Imported:
    """Add contacts to the caller's account: ``text/csv`` (name,phone[,email]) or
    ``text/vcard``. All or nothing: any bad row is a 422 naming its line."""
    caller = await asyncio.to_thread(authenticated, request)
    if caller.principal.role not in (Role.ADMINISTRATOR, Role.HOST):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only an administrator or a host may import contacts"
        )
    require_scope(caller, "legs:control")
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_UPLOAD:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "at most 2 MiB")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "at most 2 MiB")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "not UTF-8 text") from None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    parse = {"text/csv": parse_csv, "text/vcard": parse_vcard, "text/x-vcard": parse_vcard}
    if kind not in parse:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send text/csv or text/vcard")
    try:
        rows = parse[kind](text)
    except ImportError_ as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, {"problems": exc.problems}
        ) from None
    store = store_of(request)
    account_id = caller.principal.account_id

    def add_all() -> None:
        for row in rows:
            store.contacts.add(caller.actor, account_id, row.name, phone=row.phone, email=row.email)

    await asyncio.to_thread(add_all)
    return Imported(imported=len(rows))
