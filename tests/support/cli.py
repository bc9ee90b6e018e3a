"""Run ``callroster`` commands as real processes, quickly.

Each command is its own process, with its own arguments, environment, working directory,
stdin, stdout, stderr and exit code, as a user's would be. What is shared is only the work
done before ``main`` runs: a helper process imports ``callroster.cli`` once (about 1.5 s of the
1.7 s a ``python -m callroster.cli`` takes here) and forks a child for every command, which
calls ``main(args)`` and exits with what it returns. ``serve`` and other long-running commands
are still started with ``python -m callroster.cli``, as ``make run`` does.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

# The helper: import once; then for each request line, fork a child that becomes the command.
_FORK_SERVER = r"""
import json, os, sys, traceback
import callroster.cli as cli

requests = os.fdopen(0, "r")
replies = os.fdopen(os.dup(1), "w")
for line in requests:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            for fd, (path, flags) in enumerate(
                [
                    (request["stdin"], os.O_RDONLY),
                    (request["stdout"], os.O_WRONLY | os.O_TRUNC),
                    (request["stderr"], os.O_WRONLY | os.O_TRUNC),
                ]
            ):
                opened = os.open(path, flags)
                os.dup2(opened, fd)
                os.close(opened)
            sys.stdin = open(0, "r", closefd=False)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            code = cli.main(request["args"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(status)}) + "\n")
    replies.flush()
"""


class CliRunner:
    """The fork server and a way to run one command through it (see the module docstring)."""

    def __init__(self) -> None:
        self._server: subprocess.Popen[str] | None = None
        self._files = tempfile.TemporaryDirectory(prefix="callroster-cli-")

    def _started(self) -> subprocess.Popen[str]:
        if self._server is None or self._server.poll() is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CALLROSTER_")}
            self._server = subprocess.Popen(
                [sys.executable, "-c", _FORK_SERVER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
        return self._server

    def run(
        self,
        args: list[str],
        env: dict[str, str],
        *,
        input: str = "",
        cwd: Path | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Like ``subprocess.run([python, -m, callroster.cli, *args], capture_output=True,
        text=True, env=env, input=input)``; stdin is empty unless ``input`` is given."""
        server = self._started()
        assert server.stdin is not None and server.stdout is not None
        files = Path(self._files.name)
        stdin, stdout, stderr = files / "stdin", files / "stdout", files / "stderr"
        stdin.write_text(input)
        stdout.write_text("")
        stderr.write_text("")
        request = {
            "args": args,
            "env": env,
            "cwd": str(cwd or Path.cwd()),
            "stdin": str(stdin),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        reply = _read_line(server.stdout, timeout)
        if reply is None:
            self.close()  # the command's child goes with the server's process group below
            raise subprocess.TimeoutExpired(["callroster", *args], timeout)
        code = int(json.loads(reply)["status"])
        return subprocess.CompletedProcess(
            ["callroster", *args], code, stdout.read_text(), stderr.read_text()
        )

    def close(self) -> None:
        if self._server is not None and self._server.poll() is None:
            assert self._server.stdin is not None
            self._server.stdin.close()  # the server's loop ends
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server.kill()  # by its pid: this process only
                self._server.wait()
        self._server = None


def _read_line(stream: IO[str], timeout: float) -> str | None:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else None


_runner: CliRunner | None = None


def runner() -> CliRunner:
    """The session's one fork server, started on first use (closed by tests/conftest.py)."""
    global _runner
    if _runner is None:
        _runner = CliRunner()
    return _runner


def close_runner() -> None:
    if _runner is not None:
        _runner.close()
