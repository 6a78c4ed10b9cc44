"""Soak: consecutive suite runs against the sim with random transient API and HTTP faults
(5% of requests answer 500/503/429) pass every time, and leave no process or port behind.

N comes from STACKCHECK_SOAK_RUNS (default 3, what CI runs). Every run carries a marker in
its environment, which the sim's Prometheus and anything else it starts inherit: after a
run no process may still carry it, and no listening socket may appear that is held by such a
process or by no process at all. Other listening sockets (other work on the machine) are
ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until
from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("STACKCHECK_SOAK_RUNS", "3"))
RUN_TIMEOUT = 180
MARKER = "STACKCHECK_SOAK_TEST_RUN"  # not a setting: the suite ignores it
LISTEN = "0A"  # TCP state in /proc/net/tcp

pytestmark = [pytest.mark.soak, pytest.mark.sim]


# --- what is running and listening, from /proc ---------------------------------------------
@dataclass(frozen=True)
class Socket:
    address: str
    port: int
    inode: int


def listening_sockets() -> set[Socket]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == LISTEN:
                    address, port = fields[1].rsplit(":", 1)
                    found.add(Socket(_address(address), int(port, 16), int(fields[9])))
    return found


def _address(hexed: str) -> str:
    if len(hexed) == 8:  # IPv4, little-endian
        return ".".join(str(int(hexed[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return hexed


def _pids() -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def marked_processes(mark: str) -> dict[int, str]:
    """pid -> command line of every live process whose environment carries `mark`."""
    needle = f"{MARKER}={mark}".encode()
    found = {}
    for pid in _pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            if needle in environ.split(b"\0"):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def socket_owners() -> dict[int, int]:
    """socket inode -> pid holding it."""
    owners = {}
    for pid in _pids():
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        owners[int(target[8:-1])] = pid
    return owners


def leaked_sockets(before: set[Socket], mark: str) -> list[str]:
    """New listening sockets held by a marked process or by no process at all."""
    new = listening_sockets() - before
    if not new:
        return []
    owners, marked = socket_owners(), marked_processes(mark)
    leaks = []
    for sock in sorted(new, key=lambda s: (s.address, s.port)):
        owner = owners.get(sock.inode)
        if owner is None and sock not in listening_sockets():
            continue  # closed meanwhile
        if owner is None or owner in marked:
            command = marked.get(owner, "?") if owner is not None else "no process"
            leaks.append(f"{sock.address}:{sock.port} (pid {owner}: {command})")
    return leaks


def kill_marked(mark: str) -> None:
    """Leave nothing behind even when a run failed: only processes we started carry `mark`."""
    for pid in marked_processes(mark):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# --- one suite run ---------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    output: str

    def summary(self) -> str:
        wanted = ("FAILED", "ERROR", "SKIPPED", "passed", "failed", "error")
        return "\n".join(
            line for line in self.output.splitlines() if any(w in line for w in wanted)
        )[-4000:]


def run_suite(tmp_path: Path, mark: str) -> SuiteRun:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_") and k != "KUBECONFIG"
    }
    env[MARKER] = mark
    command = suite_command(
        "--target",
        "sim",
        "--sim-fault",
        "api-flaky",
        "--sim-fault",
        "http-flaky",
        "--wait",
        "20",
        "--report-dir",
        str(tmp_path / "reports"),
        "--html-report",
        "false",
        "-q",
        "-p",
        "no:randomly",
    )
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            return SuiteRun(-1, f"timed out after {RUN_TIMEOUT}s\n{output}")
    return SuiteRun(proc.returncode, output)


def _gone(mark: str) -> dict[int, str]:
    """The marked processes still alive after a short grace (a child may still be exiting)."""

    def probe() -> Attempt[None]:
        left = marked_processes(mark)
        return Attempt(not left, f"still running: {left}")

    try:
        poll_until(probe, Deadline.after(5.0), "marked processes gone", interval=0.1)
    except WaitExpired:
        return marked_processes(mark)
    return {}


# --- the tests ---------------------------------------------------------------------------
def test_the_leak_detector_sees_a_leak() -> None:
    """A marked process listening on loopback is found, with its port: the soak's checks
    below can fail."""
    mark = uuid.uuid4().hex
    before = listening_sockets()
    script = (
        "import socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "print(s.getsockname()[1], flush=True); time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, MARKER: mark},
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            assert proc.pid in marked_processes(mark)
            assert any(f"127.0.0.1:{port} " in leak for leak in leaked_sockets(before, mark))
        finally:
            proc.kill()
    assert not marked_processes(mark)


def test_consecutive_runs_with_transient_faults_pass_and_leak_nothing(tmp_path: Path) -> None:
    before = listening_sockets()
    failures, leaks = [], []
    for index in range(RUNS):
        mark = uuid.uuid4().hex
        run = run_suite(tmp_path / f"run{index}", mark)
        if run.exit_code != 0:
            failures.append(f"run {index + 1}/{RUNS}: exit {run.exit_code}\n{run.summary()}")
        left = _gone(mark)  # the run has exited: whatever it started must be gone too
        if left:
            leaks.append(f"run {index + 1}: processes left: {left}")
        ports = leaked_sockets(before, mark)
        if ports:
            leaks.append(f"run {index + 1}: listening sockets left: {ports}")
        kill_marked(mark)
    assert not failures, f"{len(failures)} of {RUNS} run(s) failed:\n" + "\n\n".join(failures)
    assert not leaks, "\n".join(leaks)
