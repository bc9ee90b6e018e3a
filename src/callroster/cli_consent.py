"""``callroster consent ...``: the signed export of consent records (issue 16) at the
server, and checking one anywhere.

- ``callroster consent verify FILE [--public-key PEM]``: exit 0 with ``valid: N records``, or
  1 with the reason. With ``--public-key`` nothing but the file and the key is needed (an
  auditor's copy of the key); without, the key is this service's own (from its store).
- ``callroster consent public-key``: the public key (PEM) on standard output, its id on
  standard error.
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
    key_id,
    load_public_key,
    public_key_pem,
    verify,
)
from callroster.store.consent_records import EXPORT_ROW_LIMIT

EXPORT_FILE_LIMIT = 512 * 1024 * 1024  # a 100,000-row export is about 40 MB

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
            help="The public key (PEM) to check with; default this service's own",
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
        pem = public_key.read_bytes()[:16_384] if public_key is not None else None
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    try:
        if pem is not None:
            key = load_public_key(pem)
        else:
            with _store(config, data) as store:
                key = store.consent_records.public_key()
        verified = verify(content, key)
    except ExportInvalidError as exc:
        raise _fail(str(exc)) from None
    print(f"valid: {verified.records} records ({verified.format}, key {verified.key_id})")


@consent_app.command("public-key")
def consent_public_key(config: ConfigOption = None, data: DataOption = None) -> None:
    """Print the public key the exports are signed with (PEM); its id on standard error."""
    with _store(config, data) as store:
        public = store.consent_records.public_key()
    sys.stdout.write(public_key_pem(public))
    print(f"key id {key_id(public)}", file=sys.stderr)


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
