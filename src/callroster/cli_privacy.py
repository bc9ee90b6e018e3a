"""The privacy engine's commands: ``callroster privacy ...`` (the inventory of personal data,
erasures) and ``callroster retention ...`` (the purge). Registered on the groups that
cli.py makes; the shared options and helpers (settings, store, confirmation) are cli.py's."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from callroster.cli import privacy_app, retention_app
from callroster.privacy.inventory import INVENTORY

__all__ = ["privacy_app", "retention_app"]


@privacy_app.command("inventory")
def privacy_inventory(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Every column and file that holds personal data: what it is, its category, legal
    basis, retention class, protection and readers (privacy/inventory.py)."""
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
