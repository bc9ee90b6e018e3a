"""``callroster consent ...``: the signed export of consent records (issue 16) at the
server, and checking one anywhere.

- ``callroster consent verify FILE [--public-key PEM]``: exit 0 with ``valid: N records``, or
  1 with the reason. With ``--public-key`` nothing but the file and the key is needed (an
  auditor's copy of the key); without, the key is this service's own (from its store): the
  current one or the earlier one the export names (by its key id), and it says which.
- ``callroster consent public-key [--all]``: the public key (PEM) on standard output, its id
  on standard error; ``--all``: every key that signed exports, each PEM after a comment line
  with its id and when it signed.
- ``callroster consent rotate-key``: a new signing key for every node from now on; the old
  one's private half is overwritten, its public half kept to check the exports it signed.
  Audit-logged.
- ``callroster consent export [--format json|csv] [--since T] [--until T] [--out FILE]``: the
  export an operator downloads, made at the server (audit-logged as the operator's CLI).

Registered on the app cli.py makes (cli.py imports this module at its end).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from callroster.accounts.actor import operator_cli
from callroster.cli import ConfigOption, DataOption, _store, app
from callroster.privacy.consent_export import (
    ExportInvalidError,
    Verified,
    load_public_keys,
    public_key_pem,
    verify,
    verify_with,
)
from callroster.store.consent_records import EXPORT_ROW_LIMIT
from callroster.store.consent_signing import SigningKey

EXPORT_FILE_LIMIT = 512 * 1024 * 1024  # a 100,000-row export is about 40 MB
PEM_FILE_LIMIT = 1024 * 1024  # about 4,000 keys as public-key --all writes them

consent_app = typer.Typer(
    help="Consent records: their signed export, and checking one.", no_args_is_help=True
)
app.add_typer(consent_app, name="consent")


def _fail(reason: str) -> typer.Exit:
    print(f"invalid: {reason}", file=sys.stderr)
    return typer.Exit(1)


@consent_app.command("verify")
def consent_verify(
    file: Annotated[Path, typer.Argument(help="The export (.json or .csv)")],
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The public key (PEM) to check with, or a file of several (public-key "
            "--all); default this service's own",
        ),
    ] = None,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Check a consent export against its signature: exit 0 ("valid: N records") or 1 with
    the reason."""
    try:
        if file.stat().st_size > EXPORT_FILE_LIMIT:
            raise _fail(f"{file} is larger than any export ({EXPORT_FILE_LIMIT} bytes)")
        content = file.read_bytes()
        pem = public_key.read_bytes()[:PEM_FILE_LIMIT] if public_key is not None else None
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    which = ""
    try:
        verified: Verified
        if pem is not None:
            # One key, or a file of several (``public-key --all``): the one the export names.
            keys = load_public_keys(pem)
            only = next(iter(keys.values())) if len(keys) == 1 else None
            verified = verify(content, only) if only else verify_with(content, keys)
        else:
            with _store(config, data) as store:
                verified, signer = store.consent_records.signing_keys.verify(content)
            which = ", the current key" if signer.current else f", {_served(signer)}"
    except ExportInvalidError as exc:
        raise _fail(str(exc)) from None
    print(f"valid: {verified.records} records ({verified.format}, key {verified.key_id}{which})")


def _served(key: SigningKey) -> str:
    until = f"retired {key.retired_at.isoformat()}" if key.retired_at else "current"
    return f"signing since {key.since.isoformat()}, {until}"


@consent_app.command("public-key")
def consent_public_key(
    every: Annotated[
        bool,
        typer.Option(
            "--all", help="Every key exports were signed with: the current one and earlier ones"
        ),
    ] = False,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Print the public key the exports are signed with (PEM); its id on standard error.
    With --all, every earlier key too, each after a comment line with its id."""
    with _store(config, data) as store:
        keys = store.consent_records.signing_keys.all()
    if not every:
        sys.stdout.write(public_key_pem(keys[0].public_key))
        print(f"key id {keys[0].key_id}", file=sys.stderr)
        return
    for key in keys:
        sys.stdout.write(f"# key {key.key_id}: {_served(key)}\n{public_key_pem(key.public_key)}")
    print(f"{len(keys)} key(s); current key id {keys[0].key_id}", file=sys.stderr)


@consent_app.command("rotate-key")
def consent_rotate_key(config: ConfigOption = None, data: DataOption = None) -> None:
    """Make a new signing key, which every node signs exports with from now on. The old
    key's private half is overwritten; its public half is kept, so exports it signed still
    verify. Audit-logged."""
    actor = operator_cli("consent rotate-key")
    with _store(config, data) as store:
        rotation = store.consent_records.signing_keys.rotate(actor)
    print(
        f"consent signing key rotated: {rotation.new_key_id} signs from now on; "
        f"{rotation.old_key_id} retired (its private key destroyed, its public key kept "
        "to check the exports it signed)"
    )


def _utc(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=name) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@consent_app.command("export")
def consent_export_command(
    fmt: Annotated[Literal["json", "csv"], typer.Option("--format", help="json or csv")] = "json",
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601, UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601, UTC)")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here, not to stdout")] = None,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Export the consent records given in [since, until), signed (at most 100,000; the
    export's next_since says where to continue). Audit-logged."""
    actor = operator_cli("consent export")
    with _store(config, data) as store:
        signed = store.consent_records.signed_export(
            actor, fmt, since=_utc(since, "--since"), until=_utc(until, "--until")
        )
    if out is None:
        sys.stdout.buffer.write(signed.data)
    else:
        out.write_bytes(signed.data)
    more = f"; more from {signed.next_since.isoformat()}" if signed.next_since else ""
    print(f"{signed.records} records (at most {EXPORT_ROW_LIMIT}){more}", file=sys.stderr)
