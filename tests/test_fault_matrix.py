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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackcheck.checks.catalog import build_checks
from stackcheck.sim.faults import CATALOG, Fault
from stackcheck.stackfile import load_stack
from tests.conftest import MATRIX_PROPERTY

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = "4"  # the sim starts ready; failing checks retry this long before failing
RUN_TIMEOUT = 120

pytestmark = pytest.mark.sim


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    # check id -> (passed|warning|failed|skipped, message; for a warning, its reasons)
    results: dict[str, tuple[str, str]]
    output: str


def run_suite(tmp_path: Path, *extra: str) -> SuiteRun:
    junit = tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "suites/",
        "--target",
        "sim",
        "--wait",
        WAIT_SECONDS,
        "--report-dir",
        str(tmp_path / "reports"),
        "--html-report",
        "false",
        "--junitxml",
        str(junit),
        "-q",
        "-p",
        "no:randomly",
        *extra,
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    output = done.stdout + done.stderr
    results = _junit_results(junit) if junit.exists() else {}
    return SuiteRun(done.returncode, results, output)


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
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    run = run_suite(tmp_path)
    _observed(record_property, "healthy", run)
    failed = {k: v for k, v in run.results.items() if v[0] != "passed"}
    assert run.exit_code == 0, f"healthy sim failed: {failed}\n{run.output[-3000:]}"
    assert failed == {}, "a healthy sim warns or skips: " + str(failed)
    assert len(run.results) >= 15, run.output[-2000:]


@pytest.mark.parametrize("fault", CATALOG, ids=[f.name for f in CATALOG])
def test_fault_fails_its_check(
    fault: Fault, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    run = run_suite(tmp_path, "--sim-fault", fault.name, *fault.suite_args)
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
