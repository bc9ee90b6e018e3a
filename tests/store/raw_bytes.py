"""What an attacker holding the storage would see: the SQLite file(s) and a full SQL dump, or a
``pg_dump`` of the PostgreSQL database. Tests search these for secrets in clear and in hex."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from tests.support.postgres import PostgresServer

from callroster.config import Settings


def raw_views(settings: Settings, request: pytest.FixtureRequest) -> list[bytes]:
    """The database's bytes as stored. Close the store first: on SQLite the last connection
    closing checkpoints the WAL into the file."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        files = [p.read_bytes() for p in path.parent.glob(path.name + "*")]
        with sqlite3.connect(path) as connection:
            dump = "\n".join(connection.iterdump()).encode()
        return [*files, dump]
    server: PostgresServer = request.getfixturevalue("postgres")
    return [server.dump(str(url.database)).encode()]


def clear_forms(text: str) -> list[bytes]:
    """The text as bytes, as hex (how dumps show binary columns), and without its first
    character (a number without its ``+``)."""
    return [text.encode(), text.encode().hex().encode(), text[1:].encode()]
