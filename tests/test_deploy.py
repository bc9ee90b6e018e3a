"""Running it for real: deploy/callroster.service passes `systemd-analyze verify` without a
warning, deploy/callroster.toml names only real settings and loads, and the service runs
under the unit's MemoryDenyWriteExecute (the kernel's PR_SET_MDWE, its equivalent)."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
from tests.support.service import clean_env
from tests.support.waiting import wait_until_sync

from callroster.config import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "callroster.service"
EXAMPLE = DEPLOY / "callroster.toml"
CALLROSTER = Path(sys.executable).with_name("callroster")


def _verify(unit_text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of the unit, its ExecStart pointed at this checkout's
    `callroster` (verify checks that the program exists)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        raise RuntimeError("systemd-analyze is not installed; run `make test`, which installs it")
    unit = folder / "callroster.service"
    unit.write_text(unit_text.replace("/opt/callroster/bin/callroster", str(CALLROSTER)))
    return subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = _verify(UNIT.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # no warning: an unknown key is only warned about


def test_verify_catches_a_misspelt_hardening_option(tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert "\nProtectSystem=strict\n" in text
    result = _verify(text.replace("ProtectSystem=strict", "ProtectSytem=strict"), tmp_path)
    assert "Unknown key" in result.stderr and "ProtectSytem" in result.stderr


def test_the_unit_stops_gracefully_within_its_timeout() -> None:
    from callroster.bridge.restart import GRACEFUL_STOP_SECONDS

    settings = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if "=" in line[:40]
    )
    assert settings["KillSignal"] == "SIGTERM"
    assert float(settings["TimeoutStopSec"]) > GRACEFUL_STOP_SECONDS + 5  # the web's stop too
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "DynamicUser"):
        assert settings[option] == "yes", option
    assert settings["ProtectSystem"] == "strict"
    assert settings["StateDirectory"] == "callroster"
    assert settings["CapabilityBoundingSet"] == ""  # SIP 5060 and web 8000 need none


def test_every_key_of_the_example_is_a_real_setting() -> None:
    keys = set(tomllib.loads(EXAMPLE.read_text()))
    assert keys  # the example sets something
    unknown = keys - set(Settings.model_fields)
    assert not unknown, f"not settings: {sorted(unknown)}"
    assert "Unknown" not in str(unknown) and "not_a_setting" not in Settings.model_fields


def test_the_example_loads_as_the_service_would(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLROSTER_CONFIG", str(EXAMPLE))
    settings = load_settings()
    assert settings.data == Path("/var/lib/callroster")
    assert settings.bind_addresses == ["0.0.0.0", "::"]
    assert settings.public_host == "conference.example.net"
    assert settings.dial_out_blocked_prefixes == ["+44870", "+44871"]


def test_the_commented_https_lines_are_real_settings_that_load_together(tmp_path: Path) -> None:
    """Uncommented, the example's HTTPS lines load (the files are read by ``serve``); the
    control: the certificate without its key is refused."""
    lines = [
        line.removeprefix("# ") if line.startswith(("# tls_", "# http_redirect_port")) else line
        for line in EXAMPLE.read_text().splitlines()
    ]
    https = tmp_path / "https.toml"
    https.write_text("\n".join(lines) + "\n")
    settings = load_settings(https)
    assert settings.tls_enabled and settings.http_redirect_port == 8080
    assert settings.web_base_url == "https://conference.example.net:8000"
    assert settings.tls_key_file == Path("/etc/callroster/tls/privkey.pem")
    https.write_text("\n".join(x for x in lines if not x.startswith("tls_key_file")) + "\n")
    from callroster.errors import ConfigError

    with pytest.raises(ConfigError, match="set both tls_cert_file and tls_key_file"):
        load_settings(https)


def test_a_misspelt_key_in_a_config_file_is_refused(tmp_path: Path) -> None:
    from callroster.errors import ConfigError

    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("sip_port =", "sip_prot ="))
    with pytest.raises(ConfigError, match="sip_prot"):
        load_settings(bad)


# -- MemoryDenyWriteExecute ---------------------------------------------------------------
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
_UNDER_MDWE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(f"PR_SET_MDWE: errno {ctypes.get_errno()}")
os.execv(sys.argv[1], sys.argv[1:])
"""
_WRITE_EXECUTE = """
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError:
    print("refused")
else:
    print("allowed")
"""


def _mdwe_available() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    # Reading it back is harmless: PR_GET_MDWE (66) fails where the kernel lacks it.
    return bool(libc.prctl(66, 0, 0, 0, 0) >= 0)


def test_memory_deny_write_execute_is_in_force_under_the_wrapper() -> None:
    """The positive control: a writable and executable mapping is refused under it."""
    if not _mdwe_available():
        pytest.fail("the kernel has no PR_SET_MDWE (Linux 6.3+); cannot check the unit")
    plain = subprocess.run(
        [sys.executable, "-c", _WRITE_EXECUTE], capture_output=True, text=True, check=True
    )
    under = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, sys.executable, "-c", _WRITE_EXECUTE],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (plain.stdout.strip(), under.stdout.strip()) == ("allowed", "refused")


def test_the_service_runs_without_writable_executable_memory(tmp_path: Path) -> None:
    """`callroster serve --demo` under PR_SET_MDWE: starts (uvloop, numpy, the WebRTC and
    crypto stacks imported), answers /healthz, and stops cleanly on SIGTERM."""
    env = clean_env()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _UNDER_MDWE,
            str(CALLROSTER),
            "serve",
            "--demo",
            "--data",
            str(tmp_path / "data"),
            "--sip-port",
            "0",
            "--http-port",
            "0",
        ],
        stdout=open(tmp_path / "out", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    try:
        wait_until_sync(
            lambda: "Ctrl-C" in (tmp_path / "out").read_text() or proc.poll() is not None,
            60,
            "the banner",
        )
        out = (tmp_path / "out").read_text()
        assert proc.poll() is None, out
        port = out.split("web http://127.0.0.1:", 1)[1].split(",", 1)[0].split("/", 1)[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
        assert "MemoryError" not in out and "Traceback" not in out, out
    finally:
        if proc.poll() is None:
            proc.terminate()
        assert proc.wait(timeout=30) == 0, (tmp_path / "out").read_text()
    assert os.path.exists(tmp_path / "data" / "callroster.db")
