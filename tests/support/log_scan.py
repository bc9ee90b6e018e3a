"""A pytest plugin: nothing personal is logged in clear in application logs.

For the whole session a handler on the root logger (and on every logger that does not
propagate to it, such as uvicorn's, again after each ``logging.config.dictConfig``) formats
every record it is handed (the message with its arguments, the exception and stack text,
and any ``extra`` fields) and looks in it for the personal values the tests use
(``tests/support/personal_data.py``). The ``callroster`` logger tree is set to DEBUG while the
session runs (and put back afterwards), so debug lines are scanned too; other libraries are
scanned at the level they log at (WARNING unless a test lowers it). The output of
``callroster serve`` subprocesses that ``tests/support/service.py`` starts is scanned line by
line when each one stops (that process logs to stderr, in JSON lines by default: the
``callroster`` loggers from INFO up, other libraries from WARNING; callroster/logs.py).

Any hit fails the run: the terminal summary names the test (and phase) it happened in, the
logger, the personal value (partly masked) and the line with the value redacted. Turn the
plugin off with ``-p no:tests.support.log_scan``.
"""

from __future__ import annotations

import logging
import logging.config
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import phonenumbers
import pytest
from tests.support import personal_data

SCANNED_TREE = "callroster"
"""The logger tree scanned from DEBUG up."""

# What may stand between the digits of a phone number: a space, a dot, a hyphen, a bracket, a
# slash, a URL-encoded space; at most two of them between two digits.
_SEP = r"(?:[ \t.()/-]|%20){0,2}"
_WORD_SEP = r"(?:\s+|%20|\+|_)"
_SEEN = "_callroster_log_scan_seen"
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_REPORT_LIMIT = 50
_LINE_LIMIT = 240
_RANGE_KIND = "phone in a fictional range"


@dataclass(frozen=True)
class Sentinel:
    """A personal value (or a range of fictional numbers) and the key it is looked up by."""

    value: str
    kind: str  # "phone", "email", "name" or _RANGE_KIND
    key: str  # the national significant number, the lower-cased email, or the words

    @property
    def masked(self) -> str:
        return mask(self.value)


@dataclass(frozen=True)
class Found:
    sentinel: Sentinel
    start: int
    end: int


@dataclass(frozen=True)
class Leak:
    """Personal data seen in one log record (or one line of a subprocess's output)."""

    where: str  # the test node id and phase
    source: str  # the logger's name, or which subprocess stream
    level: str
    sentinels: tuple[str, ...]  # masked, with their kind
    excerpt: tuple[str, ...]  # the lines that hold them, redacted


def mask(value: str) -> str:
    """Enough of a value to recognise it in the test data, not enough to read it."""
    if len(value) <= 4:
        return value[:1] + "*" * (len(value) - 1)
    keep = 2 if len(value) < 10 else 3
    return value[:keep] + "*" * (len(value) - keep - 2) + value[-2:]


_DIGIT_TOKENS = {"x": r"\d", "N": "[2-9]"}
_DIGIT = re.compile(r"\d")


def _digit_tokens(template: str) -> list[str]:
    """A national number's digits as regex tokens: a digit, "x" for any, "N" for 2 to 9."""
    if not all(ch.isdigit() or ch in _DIGIT_TOKENS for ch in template):
        raise ValueError(f"not a digit template: {template!r}")
    return [_DIGIT_TOKENS.get(ch, ch) for ch in template]


def _name_tokens(value: str) -> list[str]:
    tokens: list[str] = []
    for i, word in enumerate(value.split()):
        tokens += [_WORD_SEP] if i else []
        tokens += [re.escape(ch) for ch in word]
    return tokens


def _words(text: str) -> str:
    return " ".join(re.split(rf"{_WORD_SEP}+", text.strip()))


_Trie = dict[str, "_Trie"]


def _trie_regex(sequences: Iterable[Sequence[str]], joiner: str, end: str) -> str:
    """One regex for many token sequences, sharing their prefixes, so the engine tries one
    branch per distinct first token instead of every value; longest first at each point."""
    trie: _Trie = {}
    for tokens in sequences:
        node = trie
        for token in tokens:
            node = node.setdefault(token, {})
        node[""] = {}  # a value ends here

    def emit(node: _Trie, first: bool) -> str:
        branches = [("" if first else joiner) + t + emit(c, False) for t, c in node.items() if t]
        if "" in node:
            branches.append(end)
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(trie, True) if trie else "(?!)"


def _phone_parts(e164: str) -> tuple[str, str]:
    try:
        parsed = phonenumbers.parse(e164, None)
        return str(parsed.country_code), str(phonenumbers.national_significant_number(parsed))
    except phonenumbers.NumberParseException:
        return "", e164.lstrip("+")


def sentinel(value: str) -> Sentinel:
    """The sentinel for one personal value: a phone number (E.164), an email or a name/text."""
    if re.fullmatch(r"\+\d{6,15}", value):
        return Sentinel(value, "phone", _phone_parts(value)[1])
    if "@" in value:
        return Sentinel(value, "email", value.lower())
    return Sentinel(value, "name", _words(value))


class Scanner:
    """Finds personal values in a text, in the forms they take in log lines.

    A phone number in E.164, with ``00`` for the plus, national with its trunk 0, spaced,
    dotted or bracketed, or as its bare national significant number (never inside a longer run
    of digits); any number in a fictional range except the platform's own; an email in any
    case, ``@`` or ``%40``; a name as given (case and all: "harriet host" is not the value a
    test gave), its words apart by spaces, ``%20``, ``+`` or ``_`` (never inside a longer word).
    The longest value wins: "Harriet Host" is reported, not "Harriet".
    """

    def __init__(
        self,
        sentinels: Sequence[Sentinel],
        ranges: Iterable[tuple[str, str]] = (),
        platform_numbers: Iterable[str] = (),
    ) -> None:
        ranged = [Sentinel(f"+{cc} {n}", _RANGE_KIND, n) for cc, n in ranges]
        self.sentinels = tuple(sentinels) + tuple(ranged)
        kinds: dict[str, dict[str, Sentinel]] = {"phone": {}, "email": {}, "name": {}}
        for s in sentinels:
            kinds[s.kind].setdefault(s.key, s)
        self._phones, self._emails, self._names = kinds["phone"], kinds["email"], kinds["name"]
        self._lengths = sorted({len(k) for k in self._phones}, reverse=True)
        self._ranges = [(re.compile("".join(_digit_tokens(s.key))), s) for s in ranged]
        self._platform = tuple(_phone_parts(n)[1] for n in platform_numbers)
        codes = sorted({_phone_parts(s.value)[0] for s in sentinels if s.kind == "phone"} - {""})
        codes += sorted({cc for cc, _ in ranges} - set(codes))
        cc = "(?:" + "|".join(codes or ["(?!)"]) + ")"
        prefix = rf"(?:(?:\+|00){_SEP}{cc}{_SEP}(?:\(0\){_SEP})?|{cc}{_SEP}|0{_SEP})?"
        numbers = [_digit_tokens(k) for k in self._phones] + [_digit_tokens(s.key) for s in ranged]
        number_trie = _trie_regex(numbers, _SEP, r"(?!\d)")
        self._phone_re = re.compile(rf"(?<!\d){prefix}{number_trie}")
        name_trie = _trie_regex([_name_tokens(k) for k in self._names], "", r"(?!\w)")
        self._name_re = re.compile(rf"(?<!\w){name_trie}")
        emails = "|".join(
            re.escape(local) + "(?:@|%40)" + re.escape(domain)
            for local, _, domain in (k.partition("@") for k in self._emails)
        )
        self._email_re = re.compile(rf"(?i)(?<![\w.%+-])(?:{emails or '(?!)'})(?![\w-])")

    def find(self, text: str) -> list[Found]:
        found: list[Found] = []
        if _DIGIT.search(text):
            for m in self._phone_re.finditer(text):
                hit = self._phone(m.group())
                if hit is not None:
                    found.append(Found(hit, m.start(), m.end()))
        for m in self._name_re.finditer(text):
            found.append(Found(self._names[_words(m.group())], m.start(), m.end()))
        if "@" in text or "%40" in text:
            for m in self._email_re.finditer(text):
                key = m.group().lower().replace("%40", "@")
                found.append(Found(self._emails[key], m.start(), m.end()))
        return sorted(found, key=lambda f: f.start)

    def _phone(self, matched: str) -> Sentinel | None:
        digits = re.sub(r"\D", "", matched)
        for length in self._lengths:
            if (hit := self._phones.get(digits[-length:])) is not None:
                return hit
        if any(digits.endswith(n) for n in self._platform):
            return None  # the service's own number, in a fictional range
        for pattern, hit in self._ranges:
            if pattern.fullmatch(digits[-len(hit.key) :]):
                return hit
        return None

    def redact(self, text: str, found: Sequence[Found] | None = None) -> str:
        hits = self.find(text) if found is None else found
        for hit in sorted(hits, key=lambda f: f.start, reverse=True):
            text = f"{text[: hit.start]}[{hit.sentinel.kind.split()[0]}]{text[hit.end :]}"
        return text


def build_scanner(
    values: Iterable[str] = personal_data.PERSONAL_DATA,
    ranges: Iterable[tuple[str, str]] = personal_data.FICTIONAL_RANGES,
    platform_numbers: Iterable[str] = personal_data.PLATFORM_NUMBERS,
) -> Scanner:
    return Scanner([sentinel(v) for v in dict.fromkeys(values)], ranges, platform_numbers)


_formatter = logging.Formatter()


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write of a record: the message with its arguments, the
    exception and stack text, and the ``extra`` fields a structured formatter would add."""
    try:
        parts = [record.getMessage()]
    except Exception:  # a broken format string: what a handler would show instead
        parts = [f"{record.msg!r} % {record.args!r}"]
    if record.exc_info and record.exc_info[0] is not None:
        parts.append(_formatter.formatException(record.exc_info))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
            try:
                parts.append(f"{key}={value}")
            except Exception:
                parts.append(f"{key}=<unprintable>")
    return "\n".join(parts)


def check_text(scanner: Scanner, text: str, *, where: str, source: str, level: str) -> Leak | None:
    """The leak in ``text``, if it holds any sentinel; None for a clean text."""
    found = scanner.find(text)
    if not found:
        return None
    names = tuple(dict.fromkeys(f"{f.sentinel.masked} ({f.sentinel.kind})" for f in found))
    lines: list[str] = []
    offset = 0
    for line in text.split("\n"):
        end = offset + len(line)
        here = [  # the hits on this line, cut to it (a name may run onto the next)
            Found(f.sentinel, max(f.start - offset, 0), min(f.end - offset, len(line)))
            for f in found
            if f.start < end and f.end > offset
        ]
        if here or not lines:
            lines.append(_shorten(scanner.redact(line, here)))
        offset = end + 1
    return Leak(where, source, level, names, tuple(lines[:6]))


def check_record(scanner: Scanner, record: logging.LogRecord, *, where: str) -> Leak | None:
    return check_text(
        scanner, record_text(record), where=where, source=record.name, level=record.levelname
    )


def _shorten(line: str) -> str:
    return line if len(line) <= _LINE_LIMIT else line[: _LINE_LIMIT - 1] + "…"


class ScanHandler(logging.Handler):
    """Checks every record it is handed; keeps the leaks and a count of what it saw."""

    def __init__(self, scanner: Scanner, where: Callable[[], str]) -> None:
        super().__init__(logging.DEBUG)
        self.scanner = scanner
        self.where = where
        self.leaks: list[Leak] = []
        self.levels: Counter[str] = Counter()
        self.seconds = 0.0  # spent scanning
        self.outputs: Counter[str] = Counter()  # lines of output scanned, by stream

    def emit(self, record: logging.LogRecord) -> None:
        if record.__dict__.get(_SEEN):  # handed to us by two loggers on its way up
            return
        record.__dict__[_SEEN] = True
        started = time.perf_counter()
        self.levels[record.levelname] += 1
        try:
            leak = check_record(self.scanner, record, where=self.where())
        except Exception:
            self.handleError(record)
            return
        finally:
            self.seconds += time.perf_counter() - started
        if leak is not None:
            self.leaks.append(leak)

    def check_output(self, text: str, *, source: str) -> None:
        """Scans a subprocess's output, line by line."""
        self.acquire()
        try:
            self.outputs[source] += 0  # a stream that said nothing is still counted
            where = f"{self.where()}, when the process stopped"  # it may have served many tests
            for line in text.splitlines():
                self.outputs[source] += 1
                leak = check_text(self.scanner, line, where=where, source=source, level="")
                if leak is not None:
                    self.leaks.append(leak)
        finally:
            self.release()


class _Process(Protocol):
    @property
    def pid(self) -> int: ...
    @property
    def stdout(self) -> IO[str] | None: ...
    @property
    def stderr(self) -> IO[str] | None: ...


def _read_rest(stream: IO[str] | None, timeout: float = 5.0) -> str:
    """What is left in a stopped process's pipe (a grandchild holding it open cannot hang us)."""
    if stream is None:
        return ""
    chunks: list[str] = []

    def read() -> None:
        try:
            chunks.append(stream.read())
        except (OSError, ValueError):  # closed already
            pass

    reader = threading.Thread(target=read, name="log-scan-reader", daemon=True)
    reader.start()
    reader.join(timeout)
    return "".join(chunks)


def scan_process_output(handler: ScanHandler, process: _Process, what: str) -> None:
    for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
        handler.check_output(_read_rest(stream), source=f"{what} (pid {process.pid}) {name}")


class LogScan:
    """The plugin's state for one session; registered by ``pytest_configure`` below."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.where = "collection"
        self.handler = ScanHandler(scanner, lambda: self.where)
        self._attached: list[logging.Logger] = []
        self._saved_level: int | None = None
        self._saved_dict_config: Any = None
        self._saved_running_service: Any = None

    # -- installing ----------------------------------------------------------------------

    def install(self) -> None:
        tree = logging.getLogger(SCANNED_TREE)
        self._saved_level = tree.level
        tree.setLevel(logging.DEBUG)
        self.attach()
        original = logging.config.dictConfig

        def dict_config(config: Any) -> None:
            original(config)
            self.attach()  # dictConfig replaces the handlers of the loggers it configures

        self._saved_dict_config = original
        logging.config.dictConfig = dict_config
        self._wrap_running_service()

    def uninstall(self) -> None:
        if self._saved_dict_config is not None:
            logging.config.dictConfig = self._saved_dict_config
        for logger in self._attached:
            logger.removeHandler(self.handler)
        self._attached.clear()
        if self._saved_level is not None:
            logging.getLogger(SCANNED_TREE).setLevel(self._saved_level)
        if self._saved_running_service is not None:
            from tests.support import service

            service.running_service = self._saved_running_service

    def attach(self) -> None:
        """Onto the root logger and every logger that stops records from reaching it."""
        loggers = list(logging.Logger.manager.loggerDict.values())
        targets = [logging.getLogger()]
        targets += [lg for lg in loggers if isinstance(lg, logging.Logger) and not lg.propagate]
        for logger in targets:
            if self.handler not in logger.handlers:
                logger.addHandler(self.handler)
                if logger not in self._attached:
                    self._attached.append(logger)

    def _wrap_running_service(self) -> None:
        """Scans what ``callroster serve`` wrote once ``running_service`` has stopped it. The
        test modules import ``running_service`` after this runs, so they get the wrapper."""
        from tests.support import service

        original = service.running_service
        handler = self.handler

        @contextmanager
        def running_service(data: Path, **options: Any) -> Iterator[service.RunningService]:
            started: list[service.RunningService] = []
            try:
                with original(data, **options) as running:
                    started.append(running)
                    yield running
            finally:
                for running in started:  # stopped by now: its pipes hold the rest
                    scan_process_output(handler, running.process, "callroster serve")

        running_service.__doc__ = original.__doc__
        self._saved_running_service = original
        service.running_service = running_service

    # -- hooks ---------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.where = f"{item.nodeid} (setup)"
        self.attach()  # in case a test took the handler away (basicConfig(force=True) ...)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self.where = f"{item.nodeid} (call)"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self.where = f"{item.nodeid} (teardown)"

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.where = f"after {nodeid}, between tests"

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.where = "session finish"
        if self.handler.leaks and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.handler.leaks:
            terminalreporter.write_line(f"log scan: {self.counts()}: no personal data in the logs")
            return
        terminalreporter.section("personal data in the logs", sep="=", red=True, bold=True)
        for line in self.report():
            terminalreporter.write_line(line)

    def counts(self) -> str:
        seen = sum(self.handler.levels.values())
        debug = self.handler.levels["DEBUG"]
        outputs = self.handler.outputs
        return (
            f"{seen} log records scanned ({debug} at DEBUG) in {self.handler.seconds:.2f} s, "
            f"{sum(outputs.values())} lines from {len(outputs)} subprocess stream(s), "
            f"{len(self.scanner.sentinels)} sentinels"
        )

    def report(self) -> list[str]:
        """Where each leak happened, which logger, which value (masked) and the redacted line."""
        leaks = _unique(self.handler.leaks)
        lines = [
            f"{len(self.handler.leaks)} log record(s) or output line(s) hold personal data in "
            f"clear ({self.counts()}); log ids, not names, numbers or emails.",
        ]
        for leak in leaks[:_REPORT_LIMIT]:
            level = f" {leak.level}" if leak.level else ""
            lines.append("")
            lines.append(leak.where)
            lines.append(f"  logger {leak.source}{level}: {', '.join(leak.sentinels)}")
            lines += [f"    {line}" for line in leak.excerpt]
        if len(leaks) > _REPORT_LIMIT:
            lines.append(f"... and {len(leaks) - _REPORT_LIMIT} more")
        lines.append("")
        lines.append(
            "This fails the run (tests/support/log_scan.py; off: -p no:tests.support.log_scan)."
        )
        return lines


def _unique(leaks: Sequence[Leak]) -> list[Leak]:
    return list(dict.fromkeys(leaks))


_KEY = "callroster-log-scan"


def pytest_configure(config: pytest.Config) -> None:
    plugin = LogScan(build_scanner())
    plugin.install()
    config.pluginmanager.register(plugin, _KEY)


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(_KEY)
    if isinstance(plugin, LogScan):
        plugin.uninstall()
        config.pluginmanager.unregister(plugin)
