"""The throwaway PostgreSQL harness starts, serves, dumps and stops cleanly."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest
import sqlalchemy
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _port_has_listener(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: TIME_WAIT leftovers do not count, only a live listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def test_start_create_dump_stop() -> None:
    with PostgresServer() as server:
        pid, port, data_dir = server.pid, server.port, server.data_dir
        assert _pid_alive(pid)
        assert port != 5432
        assert _port_has_listener(port)
        assert (data_dir / "PG_VERSION").exists()

        url = server.create_database("harness_check")
        assert url == (
            f"postgresql+psycopg://callroster:{server.password}@127.0.0.1:{port}/harness_check"
        )
        with psycopg.connect(server.conninfo("harness_check")) as conn:
            conn.execute("CREATE TABLE callers (id integer PRIMARY KEY, name text NOT NULL)")
            conn.execute("INSERT INTO callers VALUES (%s, %s)", (1, "Ada Lovelace"))

        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as conn:
                owner = conn.execute(
                    sqlalchemy.text(
                        "SELECT pg_get_userbyid(datdba) FROM pg_database"
                        " WHERE datname = current_database()"
                    )
                ).scalar_one()
                assert owner == "callroster"
                assert conn.execute(sqlalchemy.text("SELECT name FROM callers")).scalar_one() == (
                    "Ada Lovelace"
                )
        finally:
            engine.dispose()

        dump = server.dump("harness_check")
        assert "CREATE TABLE public.callers" in dump
        assert "1\tAda Lovelace" in dump

        server.drop_database("harness_check")
        with psycopg.connect(server.conninfo()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = 'harness_check'"
            ).fetchone()
            assert row == (0,)

    assert not server.running
    assert not _pid_alive(pid)
    assert not _port_has_listener(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not data_dir.exists()
    server.stop()  # idempotent
