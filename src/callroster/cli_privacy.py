"""The privacy engine's commands: ``callroster privacy ...`` (the inventory of personal data,
erasures) and ``callroster retention ...`` (the purge). Registered on the groups that
cli.py makes; the shared options and helpers (settings, store, confirmation) are cli.py's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from callroster.cli import ConfigOption, DataOption, _settings, _store, privacy_app, retention_app
from callroster.errors import ConfigError
from callroster.privacy.inventory import INVENTORY, check_schema

__all__ = ["privacy_app", "retention_app"]


@privacy_app.command("inventory")
def privacy_inventory(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Hold the database's own schema against the inventory instead; exit 1 if a "
            "column that looks personal is undeclared or a declared one is gone",
        ),
    ] = False,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Every column and file that holds personal data: what it is, its category, legal
    basis, retention class, protection and readers (privacy/inventory.py)."""
    if check:
        _check_inventory(config, data)
        return
    if as_json:
        print(json.dumps(INVENTORY.as_dict(), indent=2))
        return
    for holding in INVENTORY.holdings:
        planned = "" if holding.in_use else "  (declared ahead: not kept by this version)"
        print(f"{holding.where}{planned}")
        print(f"  {holding.what}")
        print(
            f"  category {holding.category}; basis {holding.legal_basis}; "
            f"retention {holding.retention}; {holding.protection}"
        )
        print(f"  about {', '.join(holding.subjects)}; read by {', '.join(holding.readers)}")
    tables = len({h.table for h in INVENTORY.tables()})
    print(
        f"{len(INVENTORY.holdings)} holdings: {len(INVENTORY.declared_columns())} columns in "
        f"{tables} tables, {len(INVENTORY.files())} files; "
        f"{len(INVENTORY.not_personal)} columns declared not personal"
    )


def _check_inventory(config: Path | None, data: Path | None) -> None:
    with _store(config, data) as store:
        columns = store.schema_columns()
    findings = check_schema(columns)
    for table, column in findings.undeclared:
        print(f"undeclared: {table}.{column} looks personal; declare it in privacy/inventory.py")
    for table, column in findings.gone:
        print(f"gone: {table}.{column} is declared but not in the database")
    if not findings.clean:
        raise typer.Exit(1)
    print(f"the database's {len(columns)} columns agree with the inventory")


@retention_app.command("run")
def retention_run(
    config: ConfigOption = None,
    data: DataOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go; change nothing")
    ] = False,
) -> None:
    """Purge what is past its retention now (call records, legs, terminated accounts), in
    small batches; print the report (counts per class, no personal data) as JSON. It is
    already hidden from every page and API; ``serve`` also runs this on a schedule. Safe to
    run again or after an interruption: it resumes where it stopped."""
    settings = _settings(config, data)
    with _store(config, data) as store:
        purge = store.purge(settings.retention_batch_rows, settings.retention_batch_pause_ms / 1000)
        report = purge.run(dry_run=dry_run)
    print(json.dumps(report.as_dict(), indent=2))


@privacy_app.command("erase")
def privacy_erase(
    email: Annotated[str | None, typer.Option("--email", help="The person's email")] = None,
    number: Annotated[
        str | None, typer.Option("--number", help="The person's phone number, any spelling")
    ] = None,
    config: ConfigOption = None,
    data: DataOption = None,
) -> None:
    """Erase one person everywhere (found by email and by every spelling of their number,
    across accounts), journal it as a keyed hash, and print the counts per table (as JSON).
    Normally done by approving an erasure request; this is the operator's own way."""
    from callroster.accounts.actor import operator_cli
    from callroster.store.erasure import erase_person

    with _store(config, data) as store:
        try:
            report = erase_person(store, operator_cli("privacy erase"), email=email, number=number)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    print(json.dumps({"counts": report.counts, "journalled": len(report.journal_ids)}))


@privacy_app.command("replay-erasures")
def privacy_replay_erasures(config: ConfigOption = None, data: DataOption = None) -> None:
    """Apply the erasure journal again (after restoring a backup; ``serve`` does it at every
    start before it serves): whatever an erasure removed and the backup brought back is
    erased again. Prints the counts per table (as JSON)."""
    from callroster.accounts.actor import operator_cli
    from callroster.store.erasure import replay_erasures

    with _store(config, data) as store:
        report = replay_erasures(store, operator_cli("privacy replay-erasures"))
    print(json.dumps({"counts": report.counts}))
