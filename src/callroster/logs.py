"""How ``callroster serve`` writes its log: one JSON object a line by default (for a log
collector: ``journalctl -o cat | jq``), or plain text (``log_format = "text"``), to stderr.

Every logger goes through the one root handler (uvicorn's too: the web server is told not to
set up its own, see ``app.web_server_config``). In JSON, each line has ``timestamp`` (UTC,
ISO 8601), ``level``, ``logger``, ``event`` (the message) and whatever the record was given as
``extra`` (the call log's ids, duration and outcome: callroster/call_log.py), and
``exception`` when there is one. The ``callroster`` loggers log at ``log_level`` (INFO by
default: the call log's lines and the service's notes); other libraries at WARNING.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from callroster.errors import ConfigError

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``json`` or ``text``."""
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    if log_format != "json":
        raise ConfigError(f"bad setting log_format: {log_format!r} is not json or text")
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Not \u-escaped: a line reads as written, and a scan for a name finds it.
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def configure_logging(log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) in ``log_format``; the ``callroster``
    loggers from ``level`` up, the rest from WARNING.

    Raises:
        ConfigError: an unknown format or level.
    """
    levels = logging.getLevelNamesMapping()
    if level.upper() not in levels:
        raise ConfigError(f"bad setting log_level: {level!r} is not a logging level")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("callroster").setLevel(levels[level.upper()])
