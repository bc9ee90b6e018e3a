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
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from tests.support.waiting import until_sync

# The helper: import once; then for each request line, fork a child that becomes the command.
_FORK_SERVER = r"""
import json, os, sys, traceback
import callroster.cli as cli


def become(request):
    # In a forked child: take on the command's environment and streams, run it, exit.
    code = 1
    try:
        os.close(replies.fileno())  # the helper's line to the tests is not the command's
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


requests = os.fdopen(0, "r")
replies = os.fdopen(os.dup(1), "w")
for line in requests:
    request = json.loads(line)
    if request.get("spawn"):
        # A long-running command: fork twice so that it outlives nothing here and this loop
        # goes on; reply with its pid at once.
        read_end, write_end = os.pipe()
        first = os.fork()
        if first == 0:
            os.close(read_end)
            second = os.fork()
            if second:
                os.write(write_end, str(second).encode())
                os._exit(0)
            os.close(write_end)
            become(request)
        os.close(write_end)
        os.waitpid(first, 0)
        pid = int(os.read(read_end, 64))
        os.close(read_end)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        continue
    pid = os.fork()
    if pid == 0:
        become(request)
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

    def _request(self, request: dict[str, object], timeout: float) -> dict[str, int] | None:
        server = self._started()
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        reply = _read_line(server.stdout, timeout)
        if reply is None:
            self.close()  # a command still running is left to finish on its own
            return None
        answer: dict[str, int] = json.loads(reply)
        return answer

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
        reply = self._request(request, timeout)
        if reply is None:
            raise subprocess.TimeoutExpired(["callroster", *args], timeout)
        return subprocess.CompletedProcess(
            ["callroster", *args], reply["status"], stdout.read_text(), stderr.read_text()
        )

    def spawn(self, args: list[str], env: dict[str, str], workdir: Path) -> SpawnedCommand:
        """Start a long-running command (``serve``) and return at once; its output goes to
        files in ``workdir``, its stdin is empty."""
        workdir.mkdir(parents=True, exist_ok=True)
        stdin, stdout, stderr = (workdir / name for name in ("stdin", "stdout", "stderr"))
        for path in (stdin, stdout, stderr):
            path.write_text("")
        request = {
            "spawn": True,
            "args": args,
            "env": env,
            "cwd": str(Path.cwd()),
            "stdin": str(stdin),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        reply = self._request(request, 30)
        if reply is None:
            raise RuntimeError(f"the CLI helper did not start callroster {' '.join(args)}")
        return SpawnedCommand(["callroster", *args], reply["pid"], stdout, stderr)

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


class SpawnedCommand:
    """A command started by ``CliRunner.spawn``, handled as a ``subprocess.Popen`` would be
    (it is not our child, so whether it still runs is read from /proc)."""

    def __init__(self, args: list[str], pid: int, stdout: Path, stderr: Path) -> None:
        self.args = args
        self.pid = pid
        self.stdout_path, self.stderr_path = stdout, stderr
        # What is left to read once it has stopped (the log scan reads the rest).
        self.stdout: IO[str] = stdout.open()
        self.stderr: IO[str] = stderr.open()

    def poll(self) -> int | None:
        """None while it runs; 0 once it has gone (its exit code is its parent's to know)."""
        try:
            with open(f"/proc/{self.pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return 0
        return 0 if state in ("Z", "X") else None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)  # by its pid: this process only

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        limit = float("inf") if timeout is None else timeout
        if not until_sync(lambda: self.poll() is not None, limit, interval=0.02):
            raise subprocess.TimeoutExpired(self.args, limit)
        return 0


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
