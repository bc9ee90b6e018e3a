"""The service's log format (callroster/logs.py): a JSON object a line with the record's
fields, or plain text; a bad format or level is one clear message."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from callroster.errors import ConfigError
from callroster.logs import configure_logging, formatter


def record(**extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "callroster.calls", "levelno": logging.INFO, "levelname": "INFO"}
    )
    made.msg, made.args = "call ended: leg %s after %.3f s: %s", ("leg-1", 12.5, "hangup")
    made.__dict__.update(extra)
    return made


def test_a_json_line_has_the_message_the_level_the_logger_the_time_and_the_fields() -> None:
    line = formatter("json").format(record(leg_id="leg-1", duration_s=12.5, outcome="hangup"))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["event"] == "call ended: leg leg-1 after 12.500 s: hangup"
    assert (parsed["level"], parsed["logger"]) == ("info", "callroster.calls")
    assert (parsed["leg_id"], parsed["duration_s"], parsed["outcome"]) == ("leg-1", 12.5, "hangup")
    assert parsed["timestamp"].endswith("Z")


def test_text_outside_ascii_is_written_as_it_is() -> None:
    made = record()
    made.msg, made.args = "prompt %s missing", ("bienvenue_à_tous",)
    line = formatter("json").format(made)
    assert "bienvenue_à_tous" in line and json.loads(line)["event"].endswith("à_tous missing")


def test_an_exception_is_in_the_same_json_line() -> None:
    try:
        raise ValueError("the store went away")
    except ValueError:
        failed = record(exc_info=sys.exc_info())
    parsed = json.loads(formatter("json").format(failed))
    assert "ValueError: the store went away" in parsed["exception"]


def test_text_is_one_plain_line() -> None:
    line = formatter("text").format(record())
    assert line.endswith("INFO callroster.calls: call ended: leg leg-1 after 12.500 s: hangup")


@pytest.mark.parametrize(("log_format", "level"), [("xml", "info"), ("json", "chatty")])
def test_a_bad_format_or_level_is_one_clear_message(log_format: str, level: str) -> None:
    with pytest.raises(ConfigError, match="bad setting log_"):
        configure_logging(log_format, level)
