"""The log scan (tests/support/log_scan.py) finds the tests' personal data in log records and
in a service's output, leaves clean lines alone, and fails a run that leaks.

Records here go straight to a handler of our own, never through the logging tree, so the
session's own scan does not see the personal values these tests feed it."""

from __future__ import annotations

import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import personal_data
from tests.support.log_scan import (
    LogScan,
    ScanHandler,
    build_scanner,
    check_record,
    mask,
    record_text,
    scan_process_output,
)

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SCANNER = build_scanner()


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "callroster.bridge.service", "levelno": logging.DEBUG, "levelname": "DEBUG"}
    )
    record.msg, record.args = msg, args
    record.__dict__.update(extra)
    return record


def _values(text: str) -> list[str]:
    return [found.sentinel.value for found in SCANNER.find(text)]


@pytest.mark.parametrize("value", personal_data.PERSONAL_DATA)
def test_every_sentinel_finds_itself(value: str) -> None:
    assert SCANNER.find(f"x {value} y"), value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("dialling +447700900555", "+447700900555"),
        ("dialling 07700 900555", "+447700900555"),
        ("dialling 07700900555", "+447700900555"),
        ("to 447700900555 (no plus)", "+447700900555"),
        ("From: <sip:+447700900001@carrier.example>;tag=a", "+447700900001"),
        ("call 0044 7700 900 555", "+447700900555"),
        ("host phone +44 (0)20 7946 0001", "+442079460001"),
        ("US (415) 555-0100", "+14155550100"),
        ("+1.415.555.0142", "+14155550142"),
        ("a number nobody listed yet: +447700900613", "+44 7700900xxx"),
        ("renamed to Harriet Host", "Harriet Host"),
        ("renamed to Harriet_Host", "Harriet Host"),
        ("name=Carol%20Callee", "Carol Callee"),
        ("just the first name: Bertie", "Bertie"),
        ("sign-in by HOST@Demo-LLP.example", "host@demo-llp.example"),
        ("notes: Renewal: wants the annual plan", "Renewal: wants the annual plan"),
    ],
)
def test_finds_personal_data_in_its_usual_forms(text: str, value: str) -> None:
    assert _values(text) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "conference 3f2a leg 9c1d: joining -> connected",
        "CRM webhook evt-7 delivered (HTTP 200, 1 attempt(s))",
        "bridge listening for SIP on 127.0.0.1:5060",
        "[a84b4c76e66710@pc33.atlanta.example.org] 486 with no challenge we can answer",
        "o=- 3986123057 243637289 IN IP4 192.0.2.2",
        "dial-in number 2000, PIN 123456",
        "trunk caller ID +442079460000",  # the platform's own number
        "Carolina, Adalbert, graceful shutdown, harriet host (not as given)",
        "486 Busy Here",
    ],
)
def test_ignores_clean_lines(text: str) -> None:
    assert SCANNER.find(text) == []


def test_redacts_every_value_in_a_line() -> None:
    text = "leg 1 (Carol Callee, +447700900002) for harriet.host@demo.example"
    assert SCANNER.redact(text) == "leg 1 ([name], [phone]) for [email]"


def test_masks_what_it_reports() -> None:
    assert mask("+447700900555") == "+44********55"
    assert mask("Harriet Host") == "Har*******st"
    assert mask("Ada") == "A**"


def test_a_record_is_read_with_its_arguments_its_exception_and_its_extras() -> None:
    assert "Gail Guest" in record_text(_record("joined: %s", "Gail Guest"))
    assert "who=Gail Guest" in record_text(_record("joined", who="Gail Guest"))
    try:
        raise ValueError("no answer from +447700900555")
    except ValueError:
        failed = _record("dial-out failed")
        failed.exc_info = sys.exc_info()
    assert "ValueError: no answer from +447700900555" in record_text(failed)


def test_a_leak_is_reported_redacted_with_its_logger_and_test() -> None:
    leak = check_record(
        SCANNER,
        _record("leg %s renamed to %s\nby %s", "l-1", "Carol Callee", "host"),
        where="tests/x.py::test_y (call)",
    )
    assert leak is not None
    assert leak.where == "tests/x.py::test_y (call)"
    assert leak.source == "callroster.bridge.service" and leak.level == "DEBUG"
    assert leak.sentinels == ("Car*******ee (name)",)
    assert leak.excerpt == ("leg l-1 renamed to [name]",)


def test_the_handler_keeps_leaks_and_lets_clean_records_pass() -> None:
    handler = ScanHandler(SCANNER, lambda: "here")
    handler.handle(_record("leg %s: ringing -> connected", "l-1"))
    handler.handle(_record("calling %s", "07700 900555"))
    assert sum(handler.levels.values()) == 2
    assert [(leak.where, leak.excerpt) for leak in handler.leaks] == [
        ("here", ("calling [phone]",))
    ]


def test_a_stopped_services_output_is_scanned_line_by_line() -> None:
    handler = ScanHandler(SCANNER, lambda: "fixture teardown")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; print('listening'); "
            "sys.stderr.write('WARNING callroster.bridge: ok\\n"
            "ERROR callroster.x: no route to +447700900222\\n')",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    process.wait(timeout=30)
    scan_process_output(handler, process, "callroster serve")
    assert [(leak.source, leak.excerpt) for leak in handler.leaks] == [
        (
            f"callroster serve (pid {process.pid}) stderr",
            ("ERROR callroster.x: no route to [phone]",),
        )
    ]


def test_a_leak_fails_the_run_and_a_clean_run_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(
        test_leaky="""
        import logging

        def test_clean():
            logging.getLogger("callroster.bridge.demo").debug("leg %s connected", "l-1")

        def test_logs_a_number_at_debug():
            logging.getLogger("callroster.bridge.demo").debug("calling %s", "+447700900555")
        """
    )
    args = ("-p", "tests.support.log_scan", "-p", "no:cacheprovider")
    leaky = pytester.runpytest_subprocess(*args)
    assert leaky.ret == pytest.ExitCode.TESTS_FAILED
    leaky.assert_outcomes(passed=2)
    leaky.stdout.fnmatch_lines(
        [
            "*personal data in the logs*",
            "test_leaky.py::test_logs_a_number_at_debug (call)",
            "  logger callroster.bridge.demo DEBUG: +44********55 (phone)",
            "    calling [phone]",
        ]
    )
    assert "7700900555" not in leaky.stdout.str()

    clean = pytester.runpytest_subprocess(*args, "-k", "clean")
    assert clean.ret == pytest.ExitCode.OK
    clean.stdout.fnmatch_lines(
        ["log scan: * log records scanned (1 at DEBUG) in * s, * sentinels: no personal data*"]
    )


def test_installing_and_uninstalling_leaves_logging_as_it_was() -> None:
    from tests.support import service

    tree, root = logging.getLogger("callroster"), logging.getLogger()
    before = (tree.level, list(root.handlers), logging.config.dictConfig, service.running_service)
    scan = LogScan(SCANNER)
    tree.setLevel(logging.WARNING)
    try:
        scan.install()
        assert tree.level == logging.DEBUG and scan.handler in root.handlers
        assert service.running_service is not before[3]
        quiet = {"quiet": {"propagate": False}}
        logging.config.dictConfig(
            {"version": 1, "disable_existing_loggers": False, "loggers": quiet}
        )
        assert scan.handler in logging.getLogger("quiet").handlers
        scan.uninstall()
        assert tree.level == logging.WARNING and scan.handler not in root.handlers
        assert scan.handler not in logging.getLogger("quiet").handlers
    finally:
        tree.setLevel(before[0])
    assert (
        tree.level,
        list(root.handlers),
        logging.config.dictConfig,
        service.running_service,
    ) == (before)
