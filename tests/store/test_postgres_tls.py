"""The store over TLS to PostgreSQL with ``sslmode=verify-full``: a real server with ``ssl=on``
and a certificate from a test CA (started once for this module, stopped by its pid).

Trusting that CA (``sslrootcert``), the store migrates, writes and reads, and PostgreSQL's own
``pg_stat_ssl`` says the store's connection is TLS (a clear-text connection, the control,
says it is not). A CA that did not sign the server's certificate, or a host name the
certificate does not name, stops ``callroster migrate`` with one line on stderr; so does
``sslrootcert=system`` (the system's authorities, which do not know the test CA)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import text
from tests.conftest import FakeClock
from tests.support.certs import TestCa
from tests.support.cli import runner
from tests.support.postgres import PostgresServer

from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.errors import StoreUnavailableError
from callroster.store.store import open_store

pytestmark = pytest.mark.postgres

OPERATOR = operator_cli("test")
SERVER_NAME = "db.callroster.test"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pg-tls")


@pytest.fixture(scope="module")
def ca(folder: Path) -> TestCa:
    return TestCa(folder / "ca")


@pytest.fixture(scope="module")
def tls_postgres(folder: Path, ca: TestCa) -> Iterator[PostgresServer]:
    issued = ca.issue(folder / "server", "postgres", hosts=[SERVER_NAME, "127.0.0.1"])
    with PostgresServer(tls=issued) as server:
        yield server


@pytest.fixture
def database(tls_postgres: PostgresServer) -> Iterator[str]:
    """A fresh database's URL (no TLS options yet)."""
    name = "t_" + uuid.uuid4().hex[:12]
    url = tls_postgres.create_database(name)
    yield url
    tls_postgres.drop_database(name)


def verify_full(url: str, ca_file: Path, **extra: str) -> str:
    query = {"sslmode": "verify-full", "sslrootcert": str(ca_file), **extra}
    return url + "?" + "&".join(f"{k}={quote(v, safe='/')}" for k, v in query.items())


def migrate(url: str, data: Path) -> tuple[int, str]:
    env = {"CALLROSTER_DATA": str(data), "CALLROSTER_DATABASE_URL": url}
    done = runner().run(["migrate"], env, cwd=data.parent)
    return done.returncode, done.stderr


def test_the_store_works_over_verified_tls_and_postgres_sees_tls(
    tls_postgres: PostgresServer, database: str, ca: TestCa, tmp_path: Path, clock: FakeClock
) -> None:
    url = verify_full(database, ca.cert_file)
    settings = load_settings(data=tmp_path / "data", database_url=url)
    store = open_store(settings, clock=clock)  # migrates to head over TLS
    try:
        account_id = store.accounts.create_account(OPERATOR, "Hale & Partners LLP", "london")
        user_id = store.accounts.create_user(OPERATOR, account_id, Role.HOST, "Grace Hopper")
        assert store.accounts.get_user(OPERATOR, user_id).name == "Grace Hopper"
        with store.engine.connect() as connection:
            ssl, version = connection.execute(
                text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).one()
    finally:
        store.close()
    assert ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")

    # The control: the same question over a clear-text connection answers false.
    clear = tls_postgres.conninfo(database.rsplit("/", 1)[1]) + " sslmode=disable"
    with psycopg.connect(clear) as connection:
        row = connection.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row == (False,)


def test_the_server_name_is_checked_and_by_name_it_works(
    database: str, ca: TestCa, tmp_path: Path
) -> None:
    # hostaddr: connect to 127.0.0.1 but check the certificate against the name given.
    port = database.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    right = database.replace(f"127.0.0.1:{port}", f"{SERVER_NAME}:{port}")
    code, stderr = migrate(verify_full(right, ca.cert_file, hostaddr="127.0.0.1"), tmp_path / "a")
    assert (code, stderr) == (0, "")

    wrong = database.replace(f"127.0.0.1:{port}", f"localhost:{port}")
    code, stderr = migrate(verify_full(wrong, ca.cert_file, hostaddr="127.0.0.1"), tmp_path / "b")
    assert code != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("callroster: error: cannot reach database postgresql+psycopg://")
    assert 'does not match host name "localhost"' in lines[0]
    assert "callroster:***@" in lines[0]  # the password is masked


def test_a_certificate_from_another_ca_stops_the_store_with_one_line(
    database: str, tmp_path: Path, clock: FakeClock
) -> None:
    stranger = TestCa(tmp_path / "other-ca", "Some Other CA")
    url = verify_full(database, stranger.cert_file)
    code, stderr = migrate(url, tmp_path / "data")
    assert code != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("callroster: error: cannot reach database ")
    assert "certificate verify failed" in lines[0]

    settings = load_settings(data=tmp_path / "data", database_url=url)
    with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
        open_store(settings, clock=clock)

    # sslrootcert=system: the system's authorities (libpq 16+), which do not know the test CA.
    system = load_settings(data=tmp_path / "data", database_url=database + "?sslrootcert=system")
    with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
        open_store(system, clock=clock)
