"""The suite against the simulated stack, once healthy and once per cataloged fault.

Each run is a real `pytest suites/ --target sim` in a subprocess: healthy and must-pass
variants exit 0; every fault exits 1 with its intended check failing and the message naming
the faulty object.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackcheck.checks.catalog import build_checks
from stackcheck.polling import Deadline
from stackcheck.sim.faults import CATALOG, Fault
from stackcheck.stackfile import load_stack
from tests.conftest import MATRIX_PROPERTY, NEXT_ITEM
from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = "4"  # the sim starts ready; failing checks retry this long before failing
RUN_TIMEOUT = 120
STOP_SECONDS = 10.0  # a killed run is reaped within this

pytestmark = pytest.mark.sim


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    # check id -> (passed|warning|failed|skipped, message; for a warning, its reasons)
    results: dict[str, tuple[str, str]]
    output: str


@dataclass
class LaunchedRun:
    """A suite run under way: its process, where it writes, when it must have ended."""

    process: subprocess.Popen[bytes]
    folder: Path
    deadline: Deadline


def launch_suite(folder: Path, *extra: str) -> LaunchedRun:
    """Start `pytest suites/ --target sim` writing into `folder` (stdout and stderr to
    files: a run started ahead may end long before anyone reads its pipes)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = suite_command(
        "--target",
        "sim",
        "--wait",
        WAIT_SECONDS,
        "--report-dir",
        str(folder / "reports"),
        "--html-report",
        "false",
        "--junitxml",
        str(folder / "junit.xml"),
        "-q",
        "-p",
        "no:randomly",
        *extra,
    )
    with (folder / "stdout.txt").open("wb") as out, (folder / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
    return LaunchedRun(process, folder, Deadline.after(RUN_TIMEOUT))


def finish_suite(run: LaunchedRun) -> SuiteRun:
    """Wait for the run (stopped at its deadline: subprocess.TimeoutExpired, as
    subprocess.run's timeout; stopped too when the wait is interrupted) and read what it
    wrote."""
    try:
        run.process.wait(timeout=run.deadline.remaining())
    except BaseException:
        _stop(run)
        raise
    folder = run.folder
    output = (folder / "stdout.txt").read_text(errors="replace") + (
        folder / "stderr.txt"
    ).read_text(errors="replace")
    junit = folder / "junit.xml"
    results = _junit_results(junit) if junit.exists() else {}
    return SuiteRun(run.process.returncode, results, output)


def _stop(run: LaunchedRun) -> None:
    """SIGTERM first (the suite then stops its sim: Prometheus and Alertmanager with it),
    SIGKILL if it has not ended within STOP_SECONDS."""
    run.process.terminate()
    try:
        run.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.wait(timeout=STOP_SECONDS)


# Runs started ahead, by node id. A run is mostly waiting (Prometheus's first scrapes, the
# failing checks' retries), so the next item's run starts while this one's is under way: two
# runs per worker at a time, each still its own suite against its own faulted sim.
_AHEAD: dict[str, LaunchedRun] = {}


def suite_args(item: pytest.Item) -> tuple[str, ...] | None:
    """The extra arguments of a matrix item's run; None for any other item."""
    if not isinstance(item, pytest.Function) or item.module is not sys.modules[__name__]:
        return None
    if item.originalname == "test_healthy_stack_passes":
        return ()
    if item.originalname == "test_fault_fails_its_check":
        fault = item.callspec.params["fault"]
        assert isinstance(fault, Fault), item.nodeid
        return ("--sim-fault", fault.name, *fault.suite_args)
    return None


def matrix_run(request: pytest.FixtureRequest, tmp_path: Path) -> SuiteRun:
    """This item's run (started ahead or now), with the next item's started meanwhile."""
    item = request.node
    args = suite_args(item)
    assert args is not None, item.nodeid
    run = _AHEAD.pop(item.nodeid, None) or launch_suite(tmp_path, *args)
    following = item.stash.get(NEXT_ITEM, None)
    if following is not None and following.nodeid not in _AHEAD:
        ahead = suite_args(following)
        if ahead is not None:
            folder = request.getfixturevalue("tmp_path_factory").mktemp("ahead")
            _AHEAD[following.nodeid] = launch_suite(folder, *ahead)
    return finish_suite(run)


@pytest.fixture(scope="module", autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    """A run started for an item that never ran (an interrupted session) is killed."""
    yield
    while _AHEAD:
        _stop(_AHEAD.popitem()[1])


def _junit_results(path: Path) -> dict[str, tuple[str, str]]:
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        match = re.search(r"\[(.*)\]$", case.get("name", ""))
        check_id = match.group(1) if match else case.get("name", "")
        failure = case.find("failure")
        skipped = case.find("skipped")
        properties = [(p.get("name"), p.get("value") or "") for p in case.iter("property")]
        if failure is not None:
            results[check_id] = ("failed", failure.get("message", "") + (failure.text or ""))
        elif skipped is not None:
            results[check_id] = ("skipped", skipped.get("message", ""))
        elif ("stackcheck.result", "warning") in properties:  # fixtures/checks.py
            results[check_id] = (
                "warning",
                "\n".join(value for name, value in properties if name == "stackcheck.warning"),
            )
        else:
            results[check_id] = ("passed", "")
    return results


def _observed(record: Callable[[str, object], None], scenario: str, run: SuiteRun) -> None:
    """What this run showed, for the matrix printed at the end (tests/conftest.py)."""
    failed = sorted(k for k, (state, _) in run.results.items() if state == "failed")
    record(MATRIX_PROPERTY, (scenario, run.exit_code, failed))


def test_healthy_stack_passes(
    request: pytest.FixtureRequest, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    run = matrix_run(request, tmp_path)
    _observed(record_property, "healthy", run)
    failed = {k: v for k, v in run.results.items() if v[0] != "passed"}
    assert run.exit_code == 0, f"healthy sim failed: {failed}\n{run.output[-3000:]}"
    assert failed == {}, "a healthy sim warns or skips: " + str(failed)
    assert len(run.results) >= 15, run.output[-2000:]


@pytest.mark.parametrize("fault", CATALOG, ids=[f.name for f in CATALOG])
def test_fault_fails_its_check(
    fault: Fault,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    run = matrix_run(request, tmp_path)
    _observed(record_property, fault.name, run)
    if not fault.fails:
        failed = {k: v for k, v in run.results.items() if v[0] not in ("passed", "warning")}
        assert run.exit_code == 0, f"{fault.name} must pass: {failed}\n{run.output[-3000:]}"
        _assert_warns(fault, run)
        return
    assert run.exit_code == 1, f"{fault.name}: exit {run.exit_code}\n{run.output[-3000:]}"
    for check_id in fault.fails:
        state, message = run.results.get(check_id, ("missing", ""))
        assert state == "failed", f"{fault.name}: {check_id} is {state}\n{run.output[-3000:]}"
        assert fault.must_mention in message, (
            f"{fault.name}: {check_id}'s message does not name {fault.must_mention!r}:\n{message}"
        )
        assert "hint:" in message, message
    _assert_warns(fault, run)


def _assert_warns(fault: Fault, run: SuiteRun) -> None:
    """The fault's `warns` checks end as warnings (JUnit property stackcheck.result) naming
    the object, and show as such in the terminal summary; no other check warns (a healthy
    stack has no warning)."""
    warned = {k for k, (state, _) in run.results.items() if state == "warning"}
    assert warned == set(fault.warns), f"{fault.name}: warnings {sorted(warned)}"
    for check_id in fault.warns:
        state, reasons = run.results.get(check_id, ("missing", ""))
        assert state == "warning", f"{fault.name}: {check_id} is {state}\n{run.output[-3000:]}"
        assert fault.must_mention in reasons, (
            f"{fault.name}: {check_id}'s warning does not name {fault.must_mention!r}:\n{reasons}"
        )
        assert any(
            line.startswith(check_id) and " WARNING " in line for line in run.output.splitlines()
        ), run.output[-3000:]


def test_every_check_has_a_fault_that_must_fail_it() -> None:
    """A check no fault fails is a check nobody has seen catch anything."""
    checks = {c.id for c in build_checks(load_stack(ROOT / "stack.yml"))}
    covered = {check_id for fault in CATALOG for check_id in fault.fails + fault.warns}
    assert sorted(checks - covered) == []
    assert sorted(covered - checks) == [], "faults name checks the stack file does not have"
