"""An interrupted run never reports green (issue 13, cases 1 and 2).

The suite runs against the sim with a fault whose check keeps failing until --wait (60 s)
expires; once the sim is up and checks have started, the run gets SIGINT or SIGTERM. It
must exit 2 (pytest's "interrupted"), say so in the terminal and the report, record no
"passed" for the failing check, and leave no process, listening port or temp folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures import interrupt
from fixtures.interrupt import _write_unknown
from stackcheck.polling import Attempt, Deadline, poll_until
from stackcheck.report import allure_cli
from tests.kubefakes import check
from tests.suite import suite_command
from tests.test_soak import MARKER, _gone, kill_marked, leaked_sockets, listening_sockets
from tests.waiting import poll

ROOT = Path(__file__).resolve().parent.parent
FAILING_CHECK = "pods.healthy[bookinfo]"
START_TIMEOUT = 120.0
EXIT_TIMEOUT = 120.0

pytestmark = pytest.mark.sim


def _results(folder: Path) -> list[dict[str, object]]:
    found = []
    for path in folder.glob("*-result.json"):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # being written
    return found


def _check_id(result: dict[str, object]) -> str | None:
    for label in result.get("labels") or []:  # type: ignore[attr-defined]
        if label.get("name") == "check_id":
            return str(label.get("value"))
    return None


def _started(results: Path) -> Attempt[None]:
    """A cluster check has a result: the sim is up and checks are running."""
    ids = {_check_id(r) for r in _results(results)}
    return Attempt(any(i and not i.startswith("manifests[") for i in ids), f"results: {ids}")


def _interrupted(
    command: list[str],
    mark: str,
    scratch: Path,
    signum: signal.Signals,
    what: str,
    ready: Callable[[], Attempt[Any]],
    settle: float = 0.0,
) -> str:
    """Run `command` (marked, TMPDIR `scratch`), send `signum` once `ready` holds (and
    `settle` seconds more); it must exit 2 leaving no process or listening socket behind.
    Returns its output."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_") and k != "KUBECONFIG"
    }
    env.update({MARKER: mark, "TMPDIR": str(scratch)})
    before = listening_sockets()
    try:
        with subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc:
            poll_until(ready, Deadline.after(START_TIMEOUT), what, interval=0.05)
            time.sleep(settle)
            proc.send_signal(signum)
            output, _ = proc.communicate(timeout=EXIT_TIMEOUT)
    finally:
        left = _gone(mark)
        kill_marked(mark)
    assert proc.returncode == 2, output[-3000:]
    assert not left, f"processes left behind: {left}"
    assert not leaked_sockets(before, mark)
    return output


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_is_not_green_and_leaves_nothing(
    tmp_path: Path, signum: signal.Signals, workers: list[str]
) -> None:
    mark = uuid.uuid4().hex
    scratch = tmp_path / "tmp"  # TMPDIR of the run: the sim's workdir, the admin kubeconfig
    scratch.mkdir()
    reports = tmp_path / "reports"
    old = reports / "allure-report"
    old.mkdir(parents=True)
    (old / "index.html").write_text("an earlier run's report", encoding="utf-8")
    (reports / "stackcheck-report.html").write_text("an earlier run's report", encoding="utf-8")
    html = allure_cli() is not None and not workers  # rendering is slow: twice is enough
    command = suite_command(
        "--target",
        "sim",
        "--sim-fault",
        "crashloop-details",
        "--wait",
        "60",
        "--report-dir",
        str(reports),
        "--html-report",
        str(html).lower(),
        "--json",
        str(tmp_path / "result.json"),
        "-p",
        "no:randomly",
        *workers,
    )
    output = _interrupted(
        command,
        mark,
        scratch,
        signum,
        "checks started",
        lambda: _started(reports / "allure-results"),
        settle=1.0,
    )
    # (pytest's own basetemp folder under xdist is not the run's)
    left_files = [p for p in scratch.iterdir() if not p.name.startswith("pytest-of-")]
    assert not left_files, f"temp files left: {left_files}"
    assert f"the run was INTERRUPTED ({signum.name})" in output
    assert "run INTERRUPTED" in output

    results = _results(reports / "allure-results")
    mine = [r for r in results if _check_id(r) == FAILING_CHECK]
    assert mine, "the interrupted check must be listed"
    assert all(r["status"] in ("broken", "unknown") for r in mine), mine
    assert all("INTERRUPTED" in str(r.get("statusDetails")) for r in mine)
    assert not any(r["status"] == "passed" and _check_id(r) == FAILING_CHECK for r in results)
    environment = (reports / "allure-results" / "environment.properties").read_text()
    assert "run=the run was INTERRUPTED" in environment
    # one verdict, everywhere: not a verdict on the stack (fixtures/outputs.py)
    assert environment.startswith("verdict=INCOMPLETE\n")
    assert "VERDICT: INCOMPLETE" in output
    assert json.loads((tmp_path / "result.json").read_text())["verdict"] == "INCOMPLETE"
    if html:
        summary = json.loads((reports / "allure-report" / "summary.json").read_text())
        assert "INTERRUPTED" in summary["name"]
        assert summary["name"].startswith("INCOMPLETE: ")
        assert summary["status"] != "passed"
    else:  # the earlier run's report went at start: nothing stands as this run's
        assert not (old / "index.html").exists()
        assert not (reports / "stackcheck-report.html").exists()


def test_an_interrupt_while_the_sim_starts_stops_it(tmp_path: Path) -> None:
    """The signal lands while the sim comes up (after the report folder is claimed, which
    happens just before): nothing is left running, the run says so, exit 2."""
    mark = uuid.uuid4().hex
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    reports = tmp_path / "reports"
    command = suite_command("--target", "sim", "--report-dir", str(reports), "-p", "no:randomly")
    output = _interrupted(
        command,
        mark,
        scratch,
        signal.SIGTERM,
        "report folder claimed",
        lambda: Attempt((reports / ".stackcheck.lock").exists()),
    )
    assert not list(scratch.iterdir()), list(scratch.iterdir())
    assert "INTERRUPTED (SIGTERM)" in output, output[-3000:]


def test_a_check_that_did_not_run_keeps_the_ids_it_has_when_it_runs(tmp_path: Path) -> None:
    """Allure's history and trend follow a check through an interrupted run: the unknown
    result written for it carries the ids allure-pytest gives it in a run where it ran."""
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", "suites/test_pods.py", "--target", "sim"]
    command += ["-k", "bookinfo", "--report-dir", str(reports), "--html-report", "false"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT
    )
    assert done.returncode == 0, done.stdout[-3000:]
    ran = next(r for r in _results(reports / "allure-results") if _check_id(r) == FAILING_CHECK)

    unknown_dir = tmp_path / "unknown"
    unknown_dir.mkdir()
    nodeid = f"suites/test_pods.py::test_pods_running_and_ready[{FAILING_CHECK}]"
    _write_unknown(unknown_dir, nodeid, "the run was INTERRUPTED (SIGINT)", check(FAILING_CHECK))
    (unknown,) = _results(unknown_dir)
    assert unknown["status"] == "unknown"
    for key in ("fullName", "testCaseId", "historyId"):
        assert unknown[key] == ran[key], key


def test_a_signal_inside_exec_of_a_string_is_taken_again_a_moment_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CPython 3.11 turns the exit code into -2 when a KeyboardInterrupt leaves code that
    exec() ran from a string (a dataclass being defined), even if pytest catches it: the
    handler does not raise there, it has the signal sent again."""
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(interrupt.os, "kill", lambda pid, signum: sent.append((pid, signum)))
    state = interrupt._Interruption()
    frames: dict[str, Any] = {}
    exec("frames['inside'] = sys._getframe()", {"sys": sys, "frames": frames})
    state.handle(signal.SIGTERM, frames["inside"])  # no KeyboardInterrupt here
    assert state.signal_name is None
    assert poll(lambda: sent == [(os.getpid(), signal.SIGTERM)])
    # far below exec()'d code (all of an xdist worker runs under execnet's): taken at once
    deep = lambda n: sys._getframe() if n == 0 else deep(n - 1)  # noqa: E731
    exec(
        "frames['far'] = deep(interrupt.EXEC_DEPTH)",
        {"deep": deep, "frames": frames, "interrupt": interrupt},
    )
    with pytest.raises(KeyboardInterrupt, match="SIGTERM received"):
        state.handle(signal.SIGTERM, frames["far"])
    assert state.signal_name == "SIGTERM"
