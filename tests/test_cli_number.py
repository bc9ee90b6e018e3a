"""`callroster number` as an operator meets it: real subprocesses, the plan in E.164, one-line
errors with exit codes, and nothing half-done."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import assert_one_line_error, run

from callroster.accounts.actor import Role, operator_cli
from callroster.config import load_settings
from callroster.errors import ConfigError, InUseError, NotFoundError
from callroster.store.store import open_store


def _account(data: Path) -> tuple[str, str]:
    """(account id, its host's personal conference id), made in the same data folder."""
    store = open_store(load_settings(data=data))
    try:
        actor = operator_cli("test")
        account_id = store.accounts.create_account(actor, "Hale & Partners LLP", "london")
        host_id = store.users.add_user(actor, account_id, Role.HOST, "Grace Hopper")
        return account_id, store.conferences.conferences_of_host(host_id)[0]
    finally:
        store.close()


def _numbers_shown(data: Path, conference_id: str) -> tuple[str, ...]:
    store = open_store(load_settings(data=data))
    try:
        return store.conferences.get_conference(operator_cli("test"), conference_id).dial_in_numbers
    finally:
        store.close()


def test_add_list_limit_and_remove(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    added = run(
        ["number", "add", "+44 20 7946 0000", "--region", "london", "--label", "London", *data]
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "number +442079460000 added (GB, toll)"
    free = run(["number", "add", "+448081570000", "--country", "gb", *data])
    assert free.stdout.strip() == "number +448081570000 added (GB, toll-free)", free.stderr
    assert run(["number", "add", "+33142868200", "--label", "Paris", *data]).returncode == 0
    listed = run(["number", "list", *data])
    assert listed.returncode == 0, listed.stderr
    assert [line.split() for line in listed.stdout.strip().splitlines()] == [
        ["NUMBER", "COUNTRY", "KIND", "REGION", "LABEL", "ACCOUNTS", "LIMITED", "TO", "IT"],
        ["+33142868200", "FR", "toll", "-", "Paris", "0"],
        ["+442079460000", "GB", "toll", "london", "London", "0"],
        ["+448081570000", "GB", "toll-free", "-", "-", "0"],
    ]
    account_id, conference_id = _account(tmp_path)
    assert _numbers_shown(tmp_path, conference_id) == (
        "+33142868200",
        "+442079460000",
        "+448081570000",
    )
    limited = run(["number", "limit", account_id, "+442079460000", *data])
    assert limited.stdout.strip() == f"account {account_id} limited to +442079460000"
    assert _numbers_shown(tmp_path, conference_id) == ("+442079460000",)

    in_use = run(["number", "remove", "+442079460000", *data])
    assert_one_line_error(in_use, InUseError.exit_code, "is given to 1 account")
    assert _numbers_shown(tmp_path, conference_id) == ("+442079460000",)  # nothing changed
    forced = run(["number", "remove", "+442079460000", "--force", *data])
    assert forced.stdout.strip() == "number +442079460000 removed, taken from 1 account(s)"
    lifted = run(["number", "limit", account_id, *data])
    assert lifted.stdout.strip() == f"account {account_id} uses every number"
    assert _numbers_shown(tmp_path, conference_id) == ("+33142868200", "+448081570000")


def test_bad_input_is_one_line_and_adds_nothing(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    assert run(["number", "add", "+442079460000", *data]).returncode == 0
    cases = [
        (["number", "add", "02079460000"], ConfigError.exit_code, "is not an E.164 number"),
        (["number", "add", "+442079460000"], ConfigError.exit_code, "in the number plan already"),
        (["number", "add", "+33142868200", "--country", "GB"], ConfigError.exit_code, "not GB"),
        (["number", "add", "+33142868200", "--kind", "premium"], ConfigError.exit_code, "toll or"),
        (["number", "remove", "+33142868200"], NotFoundError.exit_code, "no number +3314"),
        (["number", "limit", "no-such-account"], NotFoundError.exit_code, "no account"),
    ]
    for args, code, text in cases:
        assert_one_line_error(run([*args, *data]), code, text)
    listed = run(["number", "list", *data])
    assert listed.stdout.strip().splitlines()[1:] == [
        "+442079460000  GB       toll  -       -      0"
    ]
