"""A real, throwaway PostgreSQL server for the test suite.

``PostgresServer`` runs ``initdb`` into a fresh directory under ``/tmp`` and then
starts ``postgres`` itself as a child process (not through ``pg_ctl``) on a free
loopback port, so the harness knows the server's process id and stops it by that
id. It never uses or touches a system cluster on port 5432.

PostgreSQL refuses to run as root, so when the tests run as root (CI) ``initdb``
and ``postgres`` are run as the ``postgres`` system user via
``runuser -u postgres --``. ``runuser`` forks, so in that case ``pid`` is the
postmaster's own id (read from ``postmaster.pid`` and checked to be runuser's
child), never runuser's. As any other user they run directly as that user.

With ``tls`` (a certificate from ``tests.support.certs``), the server runs with ``ssl=on``
and that certificate: copied into the cluster's folder, the key readable only by the user
the server runs as (PostgreSQL refuses a key others may read), so a client can connect with
``sslmode=verify-full`` and the test CA as ``sslrootcert``. Clear-text connections are still
accepted (the harness's own probes use ``sslmode=prefer``).

Binaries come from the highest version in ``/usr/lib/postgresql/<ver>/bin``, or
from the directory named by ``CALLROSTER_PG_BIN``.

Usage::

    with PostgresServer() as pg:
        url = pg.create_database("roster")  # postgresql+psycopg://callroster:...
        ...
        sql_text = pg.dump("roster")
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from tests.support.certs import Issued

__all__ = ["PG_BIN_ENV", "SUPERUSER", "PostgresServer", "find_pg_bin"]

PG_BIN_ENV = "CALLROSTER_PG_BIN"
SUPERUSER = "callroster"
SYSTEM_USER = "postgres"
HOST = "127.0.0.1"
SYSTEM_CLUSTER_PORT = 5432

_PG_ROOT = Path("/usr/lib/postgresql")
_REQUIRED_BINARIES = ("initdb", "postgres", "pg_dump")
_SERVER_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=32MB",
    "max_connections=50",
)
_PORT_ATTEMPTS = 5
_POLL_INTERVAL = 0.02
_LOG_TAIL_LINES = 40
_PORT_IN_USE = re.compile(r"could not bind .*Address already in use|could not create any TCP/IP")


def find_pg_bin() -> Path | None:
    """The PostgreSQL bin directory to use, or None if PostgreSQL is not installed.

    ``$CALLROSTER_PG_BIN`` wins when set (None if it lacks the binaries); otherwise the
    highest version under ``/usr/lib/postgresql/<ver>/bin``.
    """
    override = os.environ.get(PG_BIN_ENV)
    if override:
        path = Path(override)
        return path if _has_binaries(path) else None
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for postgres in _PG_ROOT.glob("*/bin/postgres"):
        bin_dir = postgres.parent
        version = _version_key(bin_dir.parent.name)
        if version is not None and _has_binaries(bin_dir):
            candidates.append((version, bin_dir))
    if not candidates:
        return None
    return max(candidates)[1]


class PostgresServer:
    """One throwaway PostgreSQL server on 127.0.0.1 with superuser ``callroster``."""

    def __init__(
        self,
        *,
        pg_bin: Path | str | None = None,
        base_dir: Path | str = "/tmp",
        startup_timeout: float = 30.0,
        shutdown_timeout: float = 15.0,
        tls: Issued | None = None,
    ) -> None:
        self.user = SUPERUSER
        self.host = HOST
        self.password = secrets.token_urlsafe(24)
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.tls = tls
        self._pg_bin = Path(pg_bin) if pg_bin is not None else None
        self._base_dir = Path(base_dir)
        self._as_root = os.geteuid() == 0
        self._bin_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp_dir: Path | None = None
        self._data_dir: Path | None = None
        self._port: int | None = None
        self._pid: int | None = None

    # -- state ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 (kept after stop() so callers can check it is free)."""
        if self._port is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._port

    @property
    def pid(self) -> int:
        """Process id of the postmaster itself (kept after stop())."""
        if self._pid is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._pid

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (removed by stop())."""
        if self._data_dir is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._data_dir

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __repr__(self) -> str:
        state = f"port={self._port} pid={self._pid}" if self.running else "stopped"
        return f"<PostgresServer {state}>"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """initdb a fresh cluster and start postgres; returns once it accepts connections."""
        if self._proc is not None or self._tmp_dir is not None:
            raise RuntimeError("PostgresServer is already started")
        bin_dir = self._pg_bin or find_pg_bin()
        if bin_dir is None or not _has_binaries(bin_dir):
            raise RuntimeError(_not_installed_message(self._pg_bin))
        self._bin_dir = bin_dir
        owner = _system_user() if self._as_root else None
        if owner is not None:
            _check_traversable(self._base_dir, *owner)
        tls = self.tls
        atexit.register(self.stop)
        try:
            tmp_dir = Path(tempfile.mkdtemp(prefix="callroster-pg-", dir=self._base_dir))
            self._tmp_dir = tmp_dir
            self._data_dir = tmp_dir / "data"
            (tmp_dir / "sock").mkdir(mode=0o700)
            if owner is not None:
                for path in (tmp_dir, tmp_dir / "sock"):
                    os.chown(path, *owner)
            self._initdb(owner)
            if tls is not None:
                self._install_certificate(tls, owner)
            self._launch()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown (SIGINT) by pid, SIGKILL after the timeout, then remove the dir.

        Safe to call more than once and on a partly started server.
        """
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                self._shutdown(proc)
        finally:
            if self._tmp_dir is not None:
                shutil.rmtree(self._tmp_dir, ignore_errors=True)
                self._tmp_dir = None

    # -- databases -----------------------------------------------------------

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL for ``dbname`` as the ``callroster`` superuser."""
        return (
            f"postgresql+psycopg://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(dbname, safe='')}"
        )

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string for ``dbname`` (for psycopg.connect)."""
        return make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname
        )

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """CREATE DATABASE ``name`` OWNER callroster (a copy of ``template``, if given: no one
        may be connected to it); returns its SQLAlchemy URL."""
        self._require_running()
        statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(self.user)
        )
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(statement)
        return self.url(name)

    def is_empty(self, name: str) -> bool:
        """Whether database ``name`` has no table of its own (not even Alembic's)."""
        self._require_running()
        with psycopg.connect(self.conninfo(name), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                "('pg_catalog', 'information_schema')"
            ).fetchone()
        return row is not None and row[0] == 0

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS ``name``, disconnecting any sessions still using it."""
        self._require_running()
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def dump(self, dbname: str) -> str:
        """Plain-SQL ``pg_dump`` of ``dbname`` (pg_dump from the server's bin dir)."""
        self._require_running()
        assert self._bin_dir is not None
        env = _clean_env()
        env["PGPASSWORD"] = self.password
        dsn = make_conninfo(host=self.host, port=self.port, user=self.user, dbname=dbname)
        result = subprocess.run(
            [str(self._bin_dir / "pg_dump"), "--no-password", "--dbname", dsn],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"pg_dump of {dbname!r} failed (exit {result.returncode}):\n"
                + result.stderr.decode("utf-8", "replace")
            )
        return result.stdout.decode("utf-8")

    # -- internals -----------------------------------------------------------

    def _require_running(self) -> None:
        if not self.running:
            raise RuntimeError("PostgresServer is not running; call start() first")

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        if not self._as_root:
            return cmd
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SYSTEM_USER, "--", *cmd]

    def _initdb(self, owner: tuple[int, int] | None) -> None:
        assert self._tmp_dir is not None and self._bin_dir is not None
        pwfile = self._tmp_dir / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.password + "\n")
        if owner is not None:
            os.chown(pwfile, *owner)
        cmd = [
            str(self._bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
            "-U",
            self.user,
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",  # throwaway cluster: skip the final fsync of every file
        ]
        try:
            result = subprocess.run(
                self._as_server_user(cmd),
                cwd=self._tmp_dir,
                env=_clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = result.stdout.decode("utf-8", "replace")
            raise RuntimeError(f"initdb failed (exit {result.returncode}):\n{_tail(output)}")

    def _install_certificate(self, tls: Issued, owner: tuple[int, int] | None) -> None:
        """Copy the server's certificate and key where postgres reads them, the key 0600 and
        owned by the user postgres runs as."""
        assert self._tmp_dir is not None
        for source, name in ((tls.cert_file, "server.crt"), (tls.key_file, "server.key")):
            target = self._tmp_dir / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(source.read_bytes())
            if owner is not None:
                os.chown(target, *owner)

    def _settings(self) -> list[str]:
        settings = list(_SERVER_SETTINGS)
        if self.tls is not None:
            assert self._tmp_dir is not None
            settings += [
                "ssl=on",
                f"ssl_cert_file={self._tmp_dir / 'server.crt'}",
                f"ssl_key_file={self._tmp_dir / 'server.key'}",
                "ssl_min_protocol_version=TLSv1.2",
            ]
        return settings

    def _launch(self) -> None:
        assert self._tmp_dir is not None and self._bin_dir is not None
        log_path = self._tmp_dir / "postgres.log"
        for _attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            offset = log_path.stat().st_size if log_path.exists() else 0
            cmd = [
                str(self._bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-k",
                str(self._tmp_dir / "sock"),
                "-h",
                self.host,
                "-p",
                str(port),
            ]
            for setting in self._settings():
                cmd += ["-c", setting]
            with open(log_path, "ab") as log:
                proc = subprocess.Popen(
                    self._as_server_user(cmd),
                    cwd=self._tmp_dir,
                    env=_clean_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # terminal ^C must not reach the server
                )
            self._proc, self._port = proc, port
            if self._wait_ready(proc, log_path, offset):
                pid = self._find_postmaster_pid(proc)
                if pid is None:
                    raise RuntimeError(
                        f"postgres accepts connections on port {port} but its pid could not "
                        f"be found in {self.data_dir / 'postmaster.pid'}"
                    )
                self._pid = pid
                return
            # Another process took the port between probing and binding: retry.
            self._proc = None
        raise RuntimeError(
            f"postgres could not bind a free port on {self.host} after {_PORT_ATTEMPTS} "
            f"attempts; log tail:\n{_read_tail(log_path)}"
        )

    def _wait_ready(self, proc: subprocess.Popen[bytes], log_path: Path, offset: int) -> bool:
        """True once a connection succeeds; False if postgres died because the port was taken."""
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            returncode = proc.poll()
            if returncode is not None:
                log = _read_from(log_path, offset)
                if _PORT_IN_USE.search(log):
                    return False
                raise RuntimeError(
                    f"postgres exited with code {returncode} during startup "
                    f"(port {self._port}); log tail:\n{_tail(log)}"
                )
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2):
                    return True
            except psycopg.OperationalError as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"postgres did not accept connections on {self.host}:{self._port} within "
                    f"{self.startup_timeout:g} s (last error: {last_error}); log tail:\n"
                    f"{_tail(_read_from(log_path, offset))}"
                )
            time.sleep(_POLL_INTERVAL)

    def _find_postmaster_pid(self, proc: subprocess.Popen[bytes]) -> int | None:
        """The postmaster's pid: the Popen child itself, or runuser's child when root."""
        if not self._as_root:
            return proc.pid
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line)
        except (OSError, ValueError):
            pid = None
        if pid is not None and _parent_pid(pid) == proc.pid:
            return pid
        children = _child_pids(proc.pid)
        return children[0] if len(children) == 1 else None

    def _shutdown(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            return
        # Signal the postmaster, never runuser: runuser answers SIGINT/SIGTERM with
        # SIGTERM to postgres and a SIGKILL two seconds later (util-linux su-common.c).
        target = self._pid if self._pid is not None else self._find_postmaster_pid(proc)
        if target is not None:
            try:
                os.kill(target, signal.SIGINT)  # fast shutdown
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=self.shutdown_timeout)
                return
            except subprocess.TimeoutExpired:
                pass
        # Fallback: SIGKILL the postmaster, then the wrapper's whole process group.
        # Backends notice the postmaster's death and exit on their own.
        if target is not None:
            try:
                os.kill(target, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


# -- helpers -------------------------------------------------------------------


def _has_binaries(bin_dir: Path) -> bool:
    return all(
        (bin_dir / name).is_file() and os.access(bin_dir / name, os.X_OK)
        for name in _REQUIRED_BINARIES
    )


def _version_key(name: str) -> tuple[int, ...] | None:
    if not re.fullmatch(r"\d+(\.\d+)*", name):
        return None
    return tuple(int(part) for part in name.split("."))


def _not_installed_message(pg_bin: Path | None) -> str:
    override = os.environ.get(PG_BIN_ENV)
    where = (
        f"{pg_bin}"
        if pg_bin is not None
        else f"${PG_BIN_ENV}={override}"
        if override
        else f"{_PG_ROOT}/<version>/bin"
    )
    return (
        f"PostgreSQL server binaries ({', '.join(_REQUIRED_BINARIES)}) not found in {where}. "
        f"Run `make test`, which installs PostgreSQL, or set {PG_BIN_ENV} to a PostgreSQL "
        "bin directory."
    )


def _system_user() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root but there is no {SYSTEM_USER!r} system user to run PostgreSQL "
            "as; run `make test`, which installs PostgreSQL"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _check_traversable(directory: Path, uid: int, gid: int) -> None:
    """Fail early, with a clear message, if the postgres user cannot reach ``directory``."""
    groups = set(os.getgrouplist(SYSTEM_USER, gid))
    for path in (directory.resolve(), *directory.resolve().parents):
        st = path.stat()
        mode = st.st_mode
        if (
            (st.st_uid == uid and mode & stat.S_IXUSR)
            or (st.st_gid in groups and mode & stat.S_IXGRP)
            or mode & stat.S_IXOTH
        ):
            continue
        raise RuntimeError(
            f"{path} is not traversable by the {SYSTEM_USER!r} user, so PostgreSQL cannot "
            f"use a data directory under {directory}"
        )


def _clean_env() -> dict[str, str]:
    """The environment minus PG* variables, so PGHOST/PGPORT/PGDATA etc. cannot leak in."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (never the system cluster's 5432)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port != SYSTEM_CLUSTER_PORT:
            return port


def _parent_pid(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Format: "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    return int(data.rsplit(")", 1)[1].split()[1])


def _child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _read_tail(path: Path) -> str:
    return _tail(_read_from(path, 0))


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"
