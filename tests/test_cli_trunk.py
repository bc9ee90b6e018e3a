"""`callroster trunk` as an operator meets it: real subprocesses, one-line errors, exit codes,
and a password that never comes back out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.support.cli import runner as cli_runner
from tests.test_cli import assert_one_line_error, run

from callroster.errors import ConfigError, NotFoundError

PASSWORD = "Okapi-Lantern-5521"


def run_with_input(args: list[str], text: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
    return cli_runner().run(args, base, input=text)


def test_add_list_and_remove(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    added = run(
        [
            *["trunk", "add", "carrier", "--uri", "sip:carrier.example:5080;transport=tcp"],
            *["--username", "bridge01", "--password", PASSWORD],
            *["--prefix", "+44", "--prefix", "+1", "--caller-id", "+44 20 7946 0000", *data],
        ]
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == (
        "trunk carrier added: sip:carrier.example:5080;transport=tcp, with a password"
    )
    second_password = "Quokka-Ledger-0042"
    piped = run_with_input(
        [*"trunk add lab --uri sip:127.0.0.1:5090 --username lab --password-stdin".split(), *data],
        second_password + "\n",
    )
    assert piped.returncode == 0, piped.stderr
    assert run(["trunk", "add", "open", "--uri", "sip:wholesale.example", *data]).returncode == 0

    listed = run(["trunk", "list", *data])
    assert listed.returncode == 0, listed.stderr
    lines = [line.split() for line in listed.stdout.strip().splitlines()]
    assert lines == [
        ["NAME", "URI", "TRANSPORT", "USERNAME", "PASSWORD", "PREFIXES", "CALLER", "ID"],
        [
            *["carrier", "sip:carrier.example:5080;transport=tcp", "tcp", "bridge01", "set"],
            *["+1,+44", "+442079460000"],
        ],
        ["lab", "sip:127.0.0.1:5090;transport=udp", "udp", "lab", "set", "all", "-"],
        ["open", "sip:wholesale.example:5060;transport=udp", "udp", "-", "-", "all", "-"],
    ]
    for result in (added, piped, listed):
        for secret in (PASSWORD, second_password):
            assert secret not in result.stdout + result.stderr
    for stored in tmp_path.glob("callroster.db*"):
        assert PASSWORD.encode() not in stored.read_bytes()

    removed = run(["trunk", "remove", "lab", *data])
    assert (removed.returncode, removed.stdout.strip()) == (0, "trunk lab removed")
    after = run(["trunk", "list", *data]).stdout
    assert "lab" not in after and "carrier" in after
    assert run(["audit", "verify", *data]).stdout.startswith("audit log intact")


def test_a_tls_trunk_is_added_with_sips(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    added = run(["trunk", "add", "secure", "--uri", "sips:carrier.example", *data])
    assert added.returncode == 0, added.stderr
    assert (
        added.stdout.strip() == "trunk secure added: sips:carrier.example:5061, without a password"
    )
    spelled = run(["trunk", "add", "also", "--uri", "sip:c2.example:5071;transport=tls", *data])
    assert spelled.stdout.strip().startswith("trunk also added: sips:c2.example:5071,")
    lines = [line.split() for line in run(["trunk", "list", *data]).stdout.strip().splitlines()]
    assert lines[1:] == [
        ["also", "sips:c2.example:5071", "tls", "-", "-", "all", "-"],
        ["secure", "sips:carrier.example:5061", "tls", "-", "-", "all", "-"],
    ]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sip:carrier.example:70000", "trunk port 70000 is out of range (1 to 65535)"),
        ("http://carrier.example", "is not a SIP URI: write sip:HOST[:PORT][;transport=udp|tcp"),
        ("sip:carrier.example;transport=sctp", "trunk transport 'sctp' is not supported"),
        (f"sip:bridge01:{PASSWORD}@carrier.example", "a trunk URI names a host only"),
    ],
)
def test_a_bad_uri_is_one_line_and_exit_code_2(tmp_path: Path, uri: str, message: str) -> None:
    result = run(["trunk", "add", "carrier", "--uri", uri, "--data", str(tmp_path)])
    assert_one_line_error(result, ConfigError.exit_code, message)
    assert PASSWORD not in result.stderr + result.stdout
    assert run(["trunk", "list", "--data", str(tmp_path)]).stdout.strip() == "no trunks"


def test_other_mistakes_are_one_line_too(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    assert run(["trunk", "add", "carrier", "--uri", "sip:carrier.example", *data]).returncode == 0
    taken = run(["trunk", "add", "carrier", "--uri", "sip:other.example", *data])
    assert_one_line_error(taken, ConfigError.exit_code, "a trunk named 'carrier' already exists")
    prefix = run(["trunk", "add", "uk", "--uri", "sip:uk.example", "--prefix", "44", *data])
    assert_one_line_error(prefix, ConfigError.exit_code, "trunk prefix '44' is not an E.164")
    lonely = run(["trunk", "add", "pw", "--uri", "sip:pw.example", "--password", PASSWORD, *data])
    assert_one_line_error(lonely, ConfigError.exit_code, "a trunk password needs a username")
    assert PASSWORD not in lonely.stderr
    both = run_with_input(
        [*"trunk add two --uri sip:two.example --username u --password x".split()]
        + ["--password-stdin", *data],
        PASSWORD + "\n",
    )
    assert_one_line_error(both, ConfigError.exit_code, "--password or --password-stdin")
    missing = run(["trunk", "remove", "nope", *data])
    assert_one_line_error(missing, NotFoundError.exit_code, "no trunk named 'nope'")


def test_an_operator_token_from_the_command_line_opens_the_operator_api(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from callroster.app import create_app
    from callroster.config import load_settings
    from callroster.store.store import open_store

    data = ["--data", str(tmp_path)]
    assert run(["trunk", "add", "carrier", "--uri", "sip:carrier.example", *data]).returncode == 0
    created = run(["operator-token", "create", "noc laptop", *data])
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("cro_")
    listed = run(["operator-token", "list", *data])
    assert "noc laptop" in listed.stdout and "never used" in listed.stdout
    assert token not in listed.stdout

    settings = load_settings(data=tmp_path)
    store = open_store(settings)
    try:
        client = TestClient(create_app(store, settings))
        trunks = client.get("/api/v1/operator/trunks", headers={"Authorization": f"Bearer {token}"})
        assert [t["name"] for t in trunks.json()] == ["carrier"]
    finally:
        store.close()
    assert "never used" not in run(["operator-token", "list", *data]).stdout

    token_id = listed.stdout.split()[0]
    revoked = run(["operator-token", "revoke", token_id, *data])
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in run(["operator-token", "list", *data]).stdout
    unknown = run(["operator-token", "revoke", "ffffffff", *data])
    assert_one_line_error(unknown, NotFoundError.exit_code, "no operator token")
    assert_one_line_error(
        run(["operator-token", "create", " ", *data]), ConfigError.exit_code, "label"
    )
