"""Run the Alembic migrations against an engine (the same scripts for SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from callroster.privacy.keys import MasterKeyRing

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(
    engine: Engine, revision: str = "head", *, key_ring: MasterKeyRing | None = None
) -> None:
    """Migrate up to ``revision``. ``key_ring``: the master key ring, for the migrations that
    encrypt existing data (0010, the room links); without it they refuse to run on a
    database that has such data."""
    config = _config()
    with _migrating(engine) as connection:
        config.attributes["connection"] = connection
        config.attributes["key_ring"] = key_ring
        command.upgrade(config, revision)


def downgrade(
    engine: Engine, revision: str = "base", *, key_ring: MasterKeyRing | None = None
) -> None:
    config = _config()
    with _migrating(engine) as connection:
        config.attributes["connection"] = connection
        config.attributes["key_ring"] = key_ring
        command.downgrade(config, revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for the migrations. On SQLite, batch mode rebuilds a table (copy,
    DROP, rename), and with foreign keys enforced the DROP of a table other rows point at
    (conferences, accounts) fails; so they are off while migrating (SQLite's own procedure
    for a schema change, which sets them outside a transaction) and every reference is
    checked before the commit: a migration that broke one is rolled back."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"the migration broke references: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    """A PRAGMA on the driver's connection itself, outside any transaction (the store's
    SQLite connections are in autocommit mode: SQLAlchemy's begin event sends BEGIN)."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
