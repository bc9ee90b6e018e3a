"""What an attacker holding the storage would see: the SQLite file(s) and a full SQL dump, or a
``pg_dump`` of the PostgreSQL database. Tests search these for secrets in clear and in hex.

A dump does not show a binary column as its bytes: SQLite's ``iterdump()`` writes
``X'ABCD…'`` (upper-case hex) and ``pg_dump`` writes ``\\xabcd…`` (lower-case). So the
forms searched are the bytes and their hex in both cases, and each dump is also given with
its binary literals decoded back to bytes. Every test that searches also runs
``assert_found_when_planted``: the same values written into the same database as a blob,
found by the same search in every view. A search that could never find anything fails there.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, create_engine
from sqlalchemy.engine import make_url
from tests.support.postgres import PostgresServer

from callroster.config import Settings

SQLITE_DUMP = "SQL dump"
SQLITE_DUMP_DECODED = "SQL dump, X'..' literals decoded"
PG_DUMP = "pg_dump"
PG_DUMP_DECODED = "pg_dump, \\x.. literals decoded"

_SQLITE_BLOB = re.compile(rb"[xX]'((?:[0-9a-fA-F]{2})*)'")
_PG_BYTEA = re.compile(rb"\\{1,2}x((?:[0-9a-fA-F]{2})+)")


def named_views(settings: Settings, request: pytest.FixtureRequest) -> dict[str, bytes]:
    """Each view of the database's bytes by name: the SQLite files (the database, its WAL),
    its SQL dump and that dump decoded; or PostgreSQL's ``pg_dump``, and it decoded. Close
    the store first: on SQLite the last connection closing checkpoints the WAL into the
    file."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        views = {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}
        connection = sqlite3.connect(path)
        try:
            dump = "\n".join(connection.iterdump()).encode()
        finally:
            connection.close()
        views[SQLITE_DUMP] = dump
        views[SQLITE_DUMP_DECODED] = _SQLITE_BLOB.sub(lambda m: bytes.fromhex(m[1].decode()), dump)
        return views
    server: PostgresServer = request.getfixturevalue("postgres")
    dump = server.dump(str(url.database)).encode()
    return {
        PG_DUMP: dump,
        PG_DUMP_DECODED: _PG_BYTEA.sub(lambda m: bytes.fromhex(m[1].decode()), dump),
    }


def raw_views(settings: Settings, request: pytest.FixtureRequest) -> list[bytes]:
    """The views of ``named_views``, as a list."""
    return list(named_views(settings, request).values())


def clear_forms(value: str | bytes) -> list[bytes]:
    """The forms a value takes in the views: its bytes, and their hex in lower case (how
    ``pg_dump`` shows binary columns) and upper case (how SQLite's dump does); for text also
    all that without its first character (a number without its ``+``)."""
    raw = value.encode() if isinstance(value, str) else value
    variants = [raw, raw[1:]] if isinstance(value, str) else [raw]
    return [form for v in variants for form in (v, v.hex().encode(), v.hex().upper().encode())]


def found(views: dict[str, bytes], value: str | bytes) -> list[str]:
    """Where ``value`` shows in the views, in any of its forms ("<view>: <form>")."""
    return [
        f"{name}: {form[:40]!r}"
        for name, view in views.items()
        for form in clear_forms(value)
        if form in view
    ]


def _core_views(settings: Settings, views: dict[str, bytes]) -> dict[str, bytes]:
    """The views that hold every row: the database file (not its WAL, emptied by the
    checkpoint) and the dumps."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        name = Path(str(url.database)).name
        return {k: v for k, v in views.items() if k in (name, SQLITE_DUMP, SQLITE_DUMP_DECODED)}
    return views


def plant(settings: Settings, *values: str | bytes) -> None:
    """Write each value, as a blob of its bytes, into a table of the test's own in the same
    database: what a leak into a binary column would look like."""
    engine = create_engine(settings.resolved_database_url)
    table = Table(
        "scan_control",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("value", LargeBinary, nullable=False),
    )
    try:
        with engine.begin() as connection:
            table.create(connection, checkfirst=True)
            connection.execute(
                table.insert(),
                [{"value": v.encode() if isinstance(v, str) else v} for v in values],
            )
    finally:
        engine.dispose()  # on SQLite, the last connection closing checkpoints the WAL


def assert_found_when_planted(
    settings: Settings, request: pytest.FixtureRequest, *values: str | bytes
) -> None:
    """The positive control of a search: plant ``values`` as blobs in the database just
    searched (its store closed), take the views again, and assert that the same search finds
    every value in every view that holds the rows: the file as bytes, each dump in hex and,
    decoded, as bytes. Run it last: the planted values stay."""
    plant(settings, *values)
    views = _core_views(settings, named_views(settings, request))
    assert len(views) in (2, 3), sorted(views)
    for value in values:
        for name, view in views.items():
            assert found({name: view}, value), f"{value!r} planted but not found in {name}"
