"""The line STYLE.md draws: protocol cores and conference state are pure.

Two checks, both on the source's syntax tree: what a pure package imports (no asyncio, sockets,
database, store or I/O adapters), and what a pure core calls (no processes, files, randomness
from the OS, or clocks: time is passed in, never read inside). Every package and module named
here must exist, so that renaming one cannot quietly take it out of the check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "callroster"
PURE = ["sip", "sdp", "rtp", "conference", "privacy", "roster"]
FORBIDDEN = ("asyncio", "socket", "sqlalchemy", "callroster.store", "callroster.io", "time")

# Packages whose cores must not call out to the world (see FORBIDDEN_CALLS).
CALL_PURE = ["sip", "sdp", "rtp", "conference", "roster", "media", "privacy"]

# Calls, by the name they resolve to through the module's imports, that a pure core makes
# only as a listed exception. A name ending in ".*" stands for every function of that module.
FORBIDDEN_CALLS = {
    # processes
    "subprocess.*",
    "os.system",
    "os.popen",
    # files (pathlib's methods are matched by name, whatever they are called on)
    "open",
    "io.open",
    "os.open",
    "os.fdopen",
    "wave.open",
    ".open",
    ".read_text",
    ".read_bytes",
    ".write_text",
    ".write_bytes",
    # randomness from the OS
    "os.urandom",
    "os.getrandom",
    "secrets.*",
    "random.*",
    # clocks
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.monotonic_ns",
    "time.perf_counter",
    "time.sleep",
    "datetime.datetime.now",
    "datetime.datetime.utcnow",
    "datetime.datetime.today",
    "datetime.date.today",
}

# The few modules that do such a thing, on purpose: (module, call) -> why. A listed exception
# that is no longer found fails the test too, so the list only ever says what is true.
ALLOWED_CALLS = {
    # Speech is rendered by espeak-ng, a separate program, once per sentence (and cached).
    ("media/speech.py", "subprocess.run"): "runs espeak-ng",
    # ...and reads the WAV it prints from memory (an io.BytesIO, no file).
    ("media/speech.py", "wave.open"): "parses espeak-ng's output",
    # The committed prompt WAVs are read once, when the library is first used.
    ("media/prompt_library.py", "wave.open"): "reads the prompt files",
    # The AEAD nonce must be fresh random bytes for every encryption.
    ("privacy/keys.py", "os.urandom"): "nonce per encryption",
    # A new master key (and its id) comes from the OS's randomness.
    ("privacy/keys.py", "secrets.token_hex"): "new key id",
    ("privacy/keys.py", "secrets.token_bytes"): "new key material",
    # The key file is read at start-up and written once, owner-only (0600).
    ("privacy/keys.py", ".read_text"): "reads the key file",
    ("privacy/keys.py", "os.open"): "creates the key file 0600",
    ("privacy/keys.py", "os.fdopen"): "writes the key file",
    # The file-backed third-party directory reads its CSV when it is loaded.
    ("privacy/directory.py", ".open"): "reads the directory CSV",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything else (a call, a subscript)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def calls_made(source: str) -> list[tuple[int, str]]:
    """Every forbidden call in ``source``, as (line, the name it resolves to)."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # a local name -> the module or object it was imported as
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts = _dotted(node.func)
        names = []
        if parts is not None:
            head = aliases.get(parts[0], parts[0])
            names.append(".".join([head, *parts[1:]]))
        if isinstance(node.func, ast.Attribute):
            names.append("." + node.func.attr)  # a method, whatever it is called on
        for name in names:
            module = name.rsplit(".", 1)[0]
            if name in FORBIDDEN_CALLS or f"{module}.*" in FORBIDDEN_CALLS:
                found.append((node.lineno, name))
                break
    return found


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_io(package: str) -> None:
    assert (SRC / package).is_dir(), f"{package} is listed as pure but does not exist"
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("package", CALL_PURE)
def test_pure_cores_call_no_processes_files_randomness_or_clocks(package: str) -> None:
    assert (SRC / package).is_dir(), f"{package} is listed as pure but does not exist"
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        module = path.relative_to(SRC).as_posix()
        for line, name in calls_made(path.read_text()):
            if (module, name) not in ALLOWED_CALLS:
                offenders.append(f"{module}:{line} calls {name}")
    assert offenders == []


def test_every_allowed_call_is_still_made() -> None:
    """An exception for a module that is gone, or a call it no longer makes, is removed."""
    stale = []
    for module, name in ALLOWED_CALLS:
        path = SRC / module
        assert path.is_file(), f"{module} has an allowed call but does not exist"
        if name not in {found for _, found in calls_made(path.read_text())}:
            stale.append(f"{module} no longer calls {name}")
    assert stale == []


def test_the_call_scan_finds_each_kind_of_call() -> None:
    """A positive control: every form below must be flagged, and the harmless ones not."""
    snippet = """
import datetime as dt
import os, secrets, subprocess, time
from datetime import datetime
from pathlib import Path
from subprocess import check_output as run_it
from time import monotonic

subprocess.run(["espeak-ng"])
run_it(["ls"])
open("f")
Path("f").read_text()
Path("f").open()
os.urandom(12)
secrets.token_bytes(32)
time.time()
monotonic()
dt.datetime.now(dt.UTC)
datetime.now()

sorted([3, 1])
os.path.join("a", "b")
dt.timedelta(seconds=1)
"""
    assert [name for _, name in calls_made(snippet)] == [
        "subprocess.run",
        "subprocess.check_output",
        "open",
        ".read_text",
        ".open",
        "os.urandom",
        "secrets.token_bytes",
        "time.time",
        "time.monotonic",
        "datetime.datetime.now",
        "datetime.datetime.now",
    ]


def test_only_the_store_touches_the_database() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "store":
            continue
        if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in _imports(path)):
            offenders.append(str(rel))
    assert offenders == []


# -- the bridge ---------------------------------------------------------------------------
BRIDGE = SRC / "bridge"
# The one module of the bridge that knows the store: what the bridge asks, behind an interface.
BRIDGE_STORE_ADAPTER = "bridge/directory.py"
# The bridge's own pure parts: values and tables, no event loop, no sockets.
BRIDGE_PURE = [
    "bridge/calls.py",
    "bridge/rtp_session.py",
    "bridge/caller_id.py",
    "bridge/dtmf_info.py",
    "bridge/dial_target.py",
    "bridge/admission.py",
]
CLOCKS = {name for name in FORBIDDEN_CALLS if name.startswith(("time.", "datetime."))}
# TickStats measures how late the media tick ran with the process's own counter: a
# measurement, not a rule on time (bridge/media_tick.py says so).
BRIDGE_CLOCK_READS = {("bridge/media_tick.py", "time.perf_counter")}


def test_the_bridge_reaches_the_store_only_through_its_directory() -> None:
    offenders = []
    for path in sorted(BRIDGE.glob("*.py")):
        module = path.relative_to(SRC).as_posix()
        if module == BRIDGE_STORE_ADAPTER:
            continue
        offenders += [
            f"{module} imports {name}"
            for name in _imports(path)
            if name == "callroster.store" or name.startswith("callroster.store.")
        ]
    assert (SRC / BRIDGE_STORE_ADAPTER).is_file()
    assert offenders == []


@pytest.mark.parametrize("module", BRIDGE_PURE)
def test_the_bridges_pure_parts_import_no_io(module: str) -> None:
    path = SRC / module
    assert path.is_file(), f"{module} is listed as pure but does not exist"
    assert [n for n in _imports(path) if n.split(".")[0] in ("asyncio", "socket")] == []


def test_the_bridge_reads_no_clock_but_the_one_injected() -> None:
    found = set()
    for path in sorted(BRIDGE.glob("*.py")):
        module = path.relative_to(SRC).as_posix()
        found |= {(module, name) for _, name in calls_made(path.read_text()) if name in CLOCKS}
    assert found == BRIDGE_CLOCK_READS
