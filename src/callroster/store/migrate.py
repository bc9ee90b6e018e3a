"""Run the Alembic migrations against an engine (the same scripts for SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

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
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["key_ring"] = key_ring
        command.upgrade(config, revision)


def downgrade(
    engine: Engine, revision: str = "base", *, key_ring: MasterKeyRing | None = None
) -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["key_ring"] = key_ring
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
