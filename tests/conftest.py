"""Shared fixtures: settings in a temporary data folder, a store on SQLite and on a real
PostgreSQL server (started once per session on a loopback port, stopped by its pid), and a
clock the tests move by hand."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from tests.support.cli import close_runner
from tests.support.postgres import PostgresServer
from tests.support.smtp import Mailbox, MailServerProcess

from callroster.accounts import passwords
from callroster.config import Settings, load_settings
from callroster.store.store import Store, open_store

# Fails the run if a log line of the session holds a test's personal data in clear.
pytest_plugins = ["tests.support.log_scan"]


class FakeClock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLROSTER_") and name != "CALLROSTER_PG_BIN":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _quick_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process tests hash passwords at argon2id's lowest cost: a sign-in test makes dozens
    of attempts, each an argon2 check of 64 MiB (about 0.1 s, far more on a loaded machine),
    and the cost is not what they prove. Services the tests start as processes, and tests
    marked ``real_password_cost``, keep the real cost (tests/accounts/test_passwords.py
    proves it is argon2-cffi's tuned default)."""
    if request.node.get_closest_marker("real_password_cost"):
        return
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    monkeypatch.setattr(passwords, "_dummy_hash", None)


@pytest.fixture(scope="session", autouse=True)
def _cli_fork_server() -> Iterator[None]:
    """The helper that CLI commands are forked from (tests/support/cli.py) ends with the run."""
    yield
    close_runner()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mail_server() -> Iterator[MailServerProcess]:
    """A real SMTP server (aiosmtpd) on a loopback port, plain SMTP, its mailbox in memory;
    stopped after the test."""
    process = MailServerProcess(Mailbox())
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'callroster.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = "t_" + uuid.uuid4().hex[:12]
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data=tmp_path / "data", database_url=database_url)


class StoreTemplates:
    """A store as ``open_store`` leaves a fresh one (migrated, its key ring made), made once
    per session and backend and copied for each test that asks for ``store``: copying a
    SQLite file or cloning a PostgreSQL database (``CREATE DATABASE … TEMPLATE``) takes a
    fifth of the time of migrating an empty one (47 against 227 ms, 127 against 392 ms),
    and some 700 tests ask. The copy is used only where the test's store would be a fresh
    one made just so: the default master key file, missing, and an empty database."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[str, tuple[Path, str]] = {}  # backend -> (data folder, database)

    def _template(self, backend: str, server: PostgresServer | None) -> tuple[Path, str]:
        if backend not in self._made:
            data = self._root / backend / "data"
            if server is None:
                url = f"sqlite:///{data / 'callroster.db'}"
                database = str(data / "callroster.db")
            else:
                database = "template_" + uuid.uuid4().hex[:8]
                url = server.create_database(database)
            open_store(load_settings(data=data, database_url=url), clock=FakeClock()).close()
            self._made[backend] = (data, database)
        return self._made[backend]

    def prepare(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        """Make ``settings``' store a copy of the template, if it is to be a fresh one."""
        key_file = settings.resolved_master_key_file
        if settings.master_key is not None or key_file != settings.data / "master.key":
            return
        if key_file.exists():
            return
        url = settings.resolved_database_url
        if url.startswith("sqlite:///"):
            target = Path(url.removeprefix("sqlite:///"))
            if target != settings.data / "callroster.db" or target.exists():
                return
            data, _ = self._template("sqlite", None)
            settings.data.mkdir(parents=True, exist_ok=True)
            for item in data.iterdir():  # the database (and its WAL, if any) and the key
                shutil.copy2(item, settings.data / item.name)
            return
        server: PostgresServer = request.getfixturevalue("postgres")
        name = url.rsplit("/", 1)[-1].split("?")[0]
        if server.url(name) != url or not server.is_empty(name):
            return
        data, template = self._template("postgresql", server)
        server.drop_database(name)
        server.create_database(name, template=template)
        settings.data.mkdir(parents=True, exist_ok=True)
        shutil.copy2(data / "master.key", key_file)


@pytest.fixture(scope="session")
def _store_templates(tmp_path_factory: pytest.TempPathFactory) -> StoreTemplates:
    return StoreTemplates(tmp_path_factory.mktemp("store-templates"))


@pytest.fixture
def store(
    settings: Settings,
    clock: FakeClock,
    _store_templates: StoreTemplates,
    request: pytest.FixtureRequest,
) -> Iterator[Store]:
    _store_templates.prepare(settings, request)
    opened = open_store(settings, clock=clock)
    yield opened
    opened.close()
