"""A real server binary the sim runs (Prometheus, Alertmanager): started on a 127.0.0.1
port, waited for on `/-/ready`, stopped for sure.

`stop()` terminates, then kills, and reaps; an atexit guard kills a process the interpreter
would otherwise leave behind. Readiness polls with a deadline and fails at once when the
process has exited, with the tail of its log.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import requests

from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until

READY_SECONDS = 30.0
STOP_SECONDS = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedProcessError(RuntimeError):
    """The process did not become ready; the message ends with its log's last lines."""


class ServedProcess:
    """`name` (for messages) serving HTTP on 127.0.0.1:`port`, logging to `log_file`."""

    def __init__(self, name: str, log_file: Path, port: int) -> None:
        self.name = name
        self.log_file = log_file
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.start_seconds: float | None = None  # how long it took to become ready
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, argv: Sequence[str], cwd: Path) -> str:
        """Run `argv` and wait until `/-/ready` answers 200 (ServedProcessError if not)."""
        self._log = self.log_file.open("ab")
        began = time.monotonic()
        self._proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
        atexit.register(self._kill_at_exit)
        try:
            poll_until(
                self._ready,
                Deadline.after(READY_SECONDS),
                f"{self.name} at {self.url} ready",
                interval=0.1,
            )
        except ServedProcessError:
            self.stop()
            raise
        except WaitExpired as exc:
            self.stop()
            raise ServedProcessError(f"{exc}; see {self.log_file}:\n{self.log_tail()}") from None
        self.start_seconds = time.monotonic() - began
        return self.url

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                if not _exited(proc, STOP_SECONDS):
                    proc.kill()
                    _exited(proc, STOP_SECONDS)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)  # reap it (it has exited by now)
        atexit.unregister(self._kill_at_exit)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _kill_at_exit(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)

    def _ready(self) -> Attempt[None]:
        proc = self._proc
        if proc is None or proc.poll() is not None:  # no use waiting: fail now
            code = None if proc is None else proc.returncode
            raise ServedProcessError(
                f"{self.name} exited with code {code} before it was "
                f"ready; see {self.log_file}:\n{self.log_tail()}"
            )
        try:
            with requests.get(f"{self.url}/-/ready", timeout=1.0) as answer:
                if answer.status_code == 200:
                    return Attempt(True)
                return Attempt(False, f"/-/ready answered {answer.status_code}")
        except requests.RequestException as exc:
            return Attempt(False, f"/-/ready: {type(exc).__name__}: {exc}")


def _exited(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    def probe() -> Attempt[int]:
        code = proc.poll()
        return Attempt(code is not None, "still running", code)

    try:
        poll_until(probe, Deadline.after(seconds), "the process exited", interval=0.05)
    except WaitExpired:
        return False
    return True
