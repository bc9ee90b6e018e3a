"""The command line as a user meets it: real subprocesses, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.cli import runner as cli_runner

from callroster.errors import ConfigError, MasterKeyError, PortInUseError, StoreUnavailableError

CALLROSTER = [sys.executable, "-m", "callroster.cli"]


def run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """One command as its own process (forked from a helper that has imported the CLI once;
    see tests/support/cli.py), with the environment of this run less any CALLROSTER_ setting."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    return cli_runner().run(args, {**base, **(env or {})}, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("callroster: error: ") and text in lines[0]
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = run(["--help"])
    assert result.returncode == 0
    for command in ("serve", "demo", "migrate", "keys", "audit", "account"):
        assert command in result.stdout


def test_demo_json_is_idempotent_and_complete(tmp_path: Path) -> None:
    first = run(["demo", "--json", "--data", str(tmp_path)])
    assert first.returncode == 0, first.stderr
    details = json.loads(first.stdout)
    for key in ("conference_id", "pin", "dial_in_uri", "web_url", "host_token", "admin_token"):
        assert details[key]
    assert details["dial_in_uri"] == "sip:2000@127.0.0.1:5060"
    assert details["web_url"].startswith("http://127.0.0.1:8000/c/")
    second = run(["demo", "--json", "--data", str(tmp_path)])
    assert json.loads(second.stdout) == details
    assert (tmp_path / "demo.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "callroster.db").stat().st_mode & 0o077 == 0


def test_missing_master_key_with_existing_data(tmp_path: Path) -> None:
    assert run(["demo", "--json", "--data", str(tmp_path)]).returncode == 0
    (tmp_path / "master.key").unlink()
    result = run(["demo", "--data", str(tmp_path)])
    assert_one_line_error(result, MasterKeyError.exit_code, "master.key does not exist")


def test_configured_key_file_that_does_not_exist(tmp_path: Path) -> None:
    assert run(["demo", "--data", str(tmp_path)]).returncode == 0
    result = run(
        ["demo", "--data", str(tmp_path)],
        env={"CALLROSTER_MASTER_KEY_FILE": str(tmp_path / "nope.key")},
    )
    assert_one_line_error(result, MasterKeyError.exit_code, "nope.key does not exist")


def test_unreachable_database(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://callroster:secret@127.0.0.1:{port}/callroster"
    result = run(["migrate", "--data", str(tmp_path)], env={"CALLROSTER_DATABASE_URL": url})
    assert_one_line_error(result, StoreUnavailableError.exit_code, "cannot reach database")
    assert "secret" not in result.stderr  # the password is masked


def test_bad_setting_names_the_setting(tmp_path: Path) -> None:
    result = run(["demo", "--data", str(tmp_path)], env={"CALLROSTER_BIND": "localhost:80"})
    assert_one_line_error(result, ConfigError.exit_code, "bad setting bind")
    result = run(["demo", "--data", str(tmp_path)], env={"CALLROSTER_DATABASE_URL": "mysql://x"})
    assert_one_line_error(result, ConfigError.exit_code, "bad setting database_url")


def test_config_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "callroster.toml"
    config.write_text(f'data = "{tmp_path / "fromfile"}"\nregion = "sydney"\n')
    assert run(["demo", "--config", str(config)]).returncode == 0
    assert (tmp_path / "fromfile" / "callroster.db").exists()
    config.write_text("region = [")
    assert_one_line_error(
        run(["demo", "--config", str(config)]), ConfigError.exit_code, "not valid TOML"
    )


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM])
def test_port_in_use(tmp_path: Path, kind: socket.SocketKind) -> None:
    with socket.socket(socket.AF_INET, kind) as squatter:
        squatter.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            squatter.listen()
        port = squatter.getsockname()[1]
        result = run(
            ["serve", "--data", str(tmp_path), "--sip-port", str(port), "--http-port", "0"]
        )
    assert_one_line_error(result, PortInUseError.exit_code, f"SIP port {port}/")
    assert not (tmp_path / "callroster.db").exists()  # nothing was written


def test_audit_verify_and_tamper(tmp_path: Path) -> None:
    assert run(["demo", "--data", str(tmp_path)]).returncode == 0
    assert run(["audit", "verify", "--data", str(tmp_path)]).returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "callroster.db") as connection:
        connection.execute("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2")
    result = run(["audit", "verify", "--data", str(tmp_path)])
    assert result.returncode == 1 and "entry 2 was changed" in result.stderr


def test_audit_verify_anchors_the_head_and_catches_a_cut_off_log(tmp_path: Path) -> None:
    import sqlite3

    assert run(["demo", "--data", str(tmp_path)]).returncode == 0
    verified = run(["audit", "verify", "--data", str(tmp_path)])
    assert verified.returncode == 0 and "anchored" in verified.stdout
    anchor = (tmp_path / "audit.anchor").read_text().split()
    with sqlite3.connect(tmp_path / "callroster.db") as connection:
        [newest] = connection.execute("SELECT MAX(seq) FROM audit_log").fetchone()
        assert int(anchor[0]) == newest
        connection.execute("DELETE FROM audit_log WHERE seq = ?", (newest,))
    result = run(["audit", "verify", "--data", str(tmp_path)])
    assert result.returncode == 1
    assert f"entry {newest} is missing: the log ends before the entry anchored" in result.stderr
    assert (tmp_path / "audit.anchor").read_text().split() == anchor  # not moved


def test_keys_rotate_and_account_shred_commands(tmp_path: Path) -> None:
    details = json.loads(run(["demo", "--json", "--data", str(tmp_path)]).stdout)
    before = (tmp_path / "master.key").read_text()
    rotated = run(["keys", "rotate", "--data", str(tmp_path)])
    assert rotated.returncode == 0 and "re-wrapped" in rotated.stdout
    assert (tmp_path / "master.key").read_text() != before
    assert json.loads(run(["demo", "--json", "--data", str(tmp_path)]).stdout) == details
    shred = run(["account", "shred", details["account_id"], "--yes", "--data", str(tmp_path)])
    assert shred.returncode == 0, shred.stderr
    # Its data is unreadable, and its people's emails no longer indexed (issue 15): the
    # demo is made again, in a new account, beside the shredded one.
    listed = run(["account", "list", "--data", str(tmp_path)]).stdout.splitlines()
    [line] = [line for line in listed if details["account_id"] in line]
    assert "(shredded)" in line and "terminated" in line
    again = json.loads(run(["demo", "--json", "--data", str(tmp_path)]).stdout)
    assert again["account_id"] != details["account_id"]


def test_serve_prints_how_to_join_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    proc = subprocess.Popen(
        [
            *CALLROSTER,
            "serve",
            "--demo",
            "--data",
            str(tmp_path),
            "--sip-port",
            "0",
            "--http-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(lines)
        assert "Dial in:" in banner and "PIN" in banner and "/c/" in banner
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


# -- customer accounts and bad input (issue 13) ------------------------------------------------
def _ask(args: list[str], answer: str) -> subprocess.CompletedProcess[str]:
    """A command whose stdin (not a terminal) holds ``answer``: "" is no answer at all."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    return cli_runner().run(args, base, input=answer, timeout=60)


def _one_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert text in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_account_create_prints_a_setup_link_and_list_shows_it(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    created = run(
        ["account", "create", "Meitner & Hahn", "--region", "london"]
        + ["--admin-email", "ada@meitner.example", *data]
    )
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert lines[0].startswith("account ") and lines[0].endswith(" created (london)")
    assert "it is not shown again" in lines[1]
    assert lines[2].startswith("http://127.0.0.1:8000/setup/crsetup_")
    listed = run(["account", "list", *data])
    header, row = listed.stdout.splitlines()
    assert header.split() == [
        "ID",
        "NAME",
        "REGION",
        "STATUS",
        "HOSTS",
        "CONFERENCES",
        "THIS",
        "MONTH",
    ]
    assert "Meitner & Hahn" in row and row.split()[-4:] == ["london", "active", "0", "0"]
    assert "ada@meitner.example" not in listed.stdout


def test_account_life_cycle_by_name(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    run(
        [
            "account",
            "create",
            "Curie SA",
            "--region",
            "london",
            "--admin-email",
            "m@c.example",
            *data,
        ]
    )
    suspended = run(["account", "suspend", "curie sa", *data])
    assert suspended.returncode == 0 and suspended.stdout.strip().endswith(" suspended")
    _one_line(run(["account", "suspend", "Curie SA", *data]), 2, "so it cannot be suspended")
    assert run(["account", "resume", "Curie SA", *data]).returncode == 0
    terminated = run(["account", "terminate", "Curie SA", "--yes", *data])
    assert terminated.returncode == 0 and terminated.stdout.strip().endswith(" terminated")
    assert " terminated " in run(["account", "list", *data]).stdout
    _one_line(run(["account", "resume", "Curie SA", *data]), 2, "so it cannot be resumed")
    _one_line(run(["account", "suspend", "Nobody Ltd", *data]), 6, "no account 'Nobody Ltd'")


def test_a_duplicate_or_bad_account_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    first = ["account", "create", "Meitner & Hahn", "--region", "london"]
    assert run([*first, "--admin-email", "ada@meitner.example", *data]).returncode == 0
    before = run(["account", "list", *data]).stdout
    for args, code, text in (
        (
            [
                "account",
                "create",
                "MEITNER  &  hahn",
                "--region",
                "london",
                "--admin-email",
                "b@x.example",
            ],
            1,
            "an account with this name already exists",
        ),
        (
            [
                "account",
                "create",
                "Other",
                "--region",
                "london",
                "--admin-email",
                "ADA@meitner.example",
            ],
            1,
            "a user with this email already exists",
        ),
        (
            ["account", "create", "Other", "--region", "mars", "--admin-email", "o@x.example"],
            2,
            "unknown region 'mars'",
        ),
        (
            ["account", "create", "Other", "--region", "london", "--admin-email", "nobody"],
            2,
            "not an email address",
        ),
        (["account", "create", "Other", "--region", "london"], 2, "--admin-email"),
    ):
        _one_line(run([*args, *data]), code, text)
    assert run(["account", "list", *data]).stdout == before


@pytest.mark.parametrize("answer", ["n\n", "no\n", "\n", ""])
def test_answering_no_or_nothing_aborts_in_one_line(tmp_path: Path, answer: str) -> None:
    details = json.loads(run(["demo", "--json", "--data", str(tmp_path)]).stdout)
    account = details["account_id"]
    shred = _ask(["account", "shred", account, "--data", str(tmp_path)], answer)
    _one_line(shred, 1, f"callroster: aborted: account {account} was not shredded")
    terminate = _ask(["account", "terminate", account, "--data", str(tmp_path)], answer)
    _one_line(terminate, 1, f"callroster: aborted: account {account} was not terminated")
    # Nothing happened: the demo still reads, the account is still active.
    assert json.loads(run(["demo", "--json", "--data", str(tmp_path)]).stdout) == details
    assert " active " in run(["account", "list", "--data", str(tmp_path)]).stdout
    # Positive control: "y" does go ahead.
    assert _ask(["account", "shred", account, "--data", str(tmp_path)], "y\n").returncode == 0


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["account", "shred"], "Missing argument"),
        (["account", "shred", "x", "--bogus"], "No such option: --bogus"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["trunk", "add", "t"], "Missing option '--uri'"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], text: str) -> None:
    _one_line(run(args), 2, text)
