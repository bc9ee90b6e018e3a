"""The inventory of personal data (privacy/inventory.py) against the real schema: every
migration applied, reflected from the database itself on SQLite and on PostgreSQL. A column
that looks personal must be declared (personal or not, with the reason); a declared column
must still exist. Positive controls: a scratch table with an undeclared ``caller_number`` is
caught, and so is a declaration of a column that is not there. And ``callroster privacy
inventory`` prints the same declaration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa
from tests.test_cli import run

from callroster.privacy.inventory import (
    INVENTORY,
    Category,
    Holding,
    Inventory,
    check_schema,
    looks_personal,
)
from callroster.privacy.retention_classes import RetentionClass
from callroster.store.store import Store


def _schema(store: Store) -> list[tuple[str, str]]:
    inspector = sa.inspect(store.engine)
    return [
        (table, column["name"])
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
    ]


def test_every_personal_looking_column_is_declared_and_every_declared_one_exists(
    store: Store,
) -> None:
    columns = _schema(store)
    assert len(columns) > 150  # the whole migrated schema, not an empty database
    findings = check_schema(columns)
    assert findings.undeclared == (), f"declare these in privacy/inventory.py: {findings}"
    assert findings.gone == (), f"no longer in the schema: {findings}"


def test_an_undeclared_caller_number_column_is_caught(store: Store) -> None:
    # Positive control: a table made after the migrations, with a personal column nobody
    # declared, reflected from the same database.
    before = check_schema(_schema(store))
    with store.engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE scratch_calls (id INTEGER PRIMARY KEY, caller_number TEXT)")
        )
    findings = check_schema(_schema(store))
    assert set(findings.undeclared) - set(before.undeclared) == {("scratch_calls", "caller_number")}
    assert not findings.clean


def test_a_declared_column_that_is_gone_is_caught(store: Store) -> None:
    ghost = replace(INVENTORY.holdings[0], columns=("nickname_enc",))
    inventory = Inventory((*INVENTORY.holdings, ghost), INVENTORY.not_personal)
    assert check_schema(_schema(store), inventory).gone == (("accounts", "nickname_enc"),)


def test_the_words_that_look_personal() -> None:
    for column in ("caller_number", "email_enc", "source_ip", "user_agent", "title_enc", "digest"):
        assert looks_personal(column), column
    for column in ("id", "created_at", "second_factor_done", "recipe_count", "status"):
        assert not looks_personal(column), column
    assert looks_personal("ip") and looks_personal("client_ip")


def test_every_holding_is_complete_and_every_class_is_used() -> None:
    for holding in INVENTORY.holdings:
        assert holding.what and holding.purpose, holding.where
    used = {h.retention for h in INVENTORY.holdings}
    assert used >= {
        RetentionClass.CALL_RECORDS,
        RetentionClass.SERVICE_DATA,
        RetentionClass.ACCOUNT_DATA,
        RetentionClass.SECURITY,
        RetentionClass.AUDIT,
    }
    assert {h.category for h in INVENTORY.holdings} >= {
        Category.IDENTITY,
        Category.CONTACT,
        Category.CALL_METADATA,
        Category.ACCOUNT,
    }
    try:
        Holding(**{**INVENTORY.holdings[0].__dict__, "file": "x"})
    except ValueError:
        pass
    else:
        raise AssertionError("a holding that is both a table and a file was accepted")


def test_the_command_prints_the_inventory() -> None:
    as_json = run(["privacy", "inventory", "--json"])
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == INVENTORY.as_dict()
    text = run(["privacy", "inventory"])
    assert text.returncode == 0, text.stderr
    assert "legs.name_enc,number_enc" in text.stdout
    assert "retention call_records" in text.stdout
    assert f"{len(INVENTORY.holdings)} holdings" in text.stdout


def test_python_dash_m_runs_the_privacy_commands_too(tmp_path: Path) -> None:
    # ``python -m callroster.cli`` (as ``make run`` starts it) had the privacy group empty:
    # its commands were registered on the other copy of the module.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    result = subprocess.run(
        [sys.executable, "-m", "callroster.cli", "privacy", "inventory", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == INVENTORY.as_dict()


def test_the_command_checks_a_real_database_against_the_inventory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clean = run(["privacy", "inventory", "--check", "--data", str(data)])
    assert clean.returncode == 0, clean.stderr
    assert "columns agree with the inventory" in clean.stdout
    # Positive control: the same database with an undeclared personal column.
    engine = sa.create_engine(f"sqlite:///{data / 'callroster.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE legs ADD COLUMN caller_email TEXT"))
    engine.dispose()
    drift = run(["privacy", "inventory", "--check", "--data", str(data)])
    assert drift.returncode == 1
    assert drift.stdout.splitlines() == [
        "undeclared: legs.caller_email looks personal; declare it in privacy/inventory.py"
    ]
