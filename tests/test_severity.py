"""Severity end to end: a check that only warns passes the run, shows as a warning in the
terminal summary, in JUnit and in Allure's results, and fails the run under --fail-on
warning. The check reads nothing, so the run needs no cluster (a kubeconfig nobody answers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WARNING = "pod demo/x restarted 6 times, the last 3 days ago"

CONFTEST = f"""
import pytest

from fixtures.reporting import prepare_results
from fixtures.session import activate, current
from stackcheck.checks.model import Check, Result


def warns(readings):
    return Result("1 pod with old restarts", warnings=({WARNING!r},))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    activate(config)
    session = current(config)
    session.checks.append(Check("demo.restarts[demo]", "demo.restarts", "Pods",
                                "no pod in demo restarted lately", "read its logs", (), warns))
    prepare_results(config, session)
"""

TEST = """
import pytest


@pytest.mark.stack_checks("demo.restarts")
def test_demo(verify, check):
    verify(check)
"""

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: nowhere
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: reader, user: {token: not-a-secret}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: reader}}]
"""


def run(
    tmp_path: Path, *extra: str, env_settings: dict[str, str] | None = None
) -> tuple[int, str, ET.Element, list[dict[str, str]]]:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (suite / "test_demo.py").write_text(TEST, encoding="utf-8")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    reports, junit = tmp_path / "reports", tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(env_settings or {})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(suite),
            "-c",
            str(ROOT / "pytest.ini"),
            "--rootdir",
            str(ROOT),
            "-p",
            "fixtures.options",
            "-p",
            "fixtures.checks",
            "-p",
            "fixtures.reporting",
            "--target",
            "kubeconfig",
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "0",
            "--html-report",
            "false",
            "--report-dir",
            str(reports),
            "--junitxml",
            str(junit),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    labels = [
        label
        for path in (reports / "allure-results").glob("*-result.json")
        for label in json.loads(path.read_text(encoding="utf-8"))["labels"]
    ]
    return done.returncode, done.stdout + done.stderr, ET.parse(junit).getroot(), labels


def test_a_warning_passes_the_run_and_shows_everywhere(tmp_path: Path) -> None:
    code, output, junit, labels = run(tmp_path)
    assert code == 0, output
    assert any(
        line.startswith("demo.restarts[demo]") and "WARNING" in line and WARNING in line
        for line in output.splitlines()
    ), output  # the terminal summary
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert properties["stackcheck.result"] == "warning"
    assert properties["stackcheck.warning"] == WARNING
    assert {"name": "result", "value": "warning"} in labels
    assert junit.find(".//failure") is None


@pytest.mark.parametrize("how", ["cli", "env"])
def test_fail_on_warning_fails_the_run(tmp_path: Path, how: str) -> None:
    if how == "cli":
        code, output, junit, _ = run(tmp_path, "--fail-on", "warning")
    else:
        code, output, junit, _ = run(tmp_path, env_settings={"STACKCHECK_FAIL_ON": "warning"})
    assert code == 1, output
    failure = junit.find(".//failure")
    assert failure is not None
    assert "demo.restarts[demo]: no pod in demo restarted lately: WARNING after" in (
        failure.get("message", "") + (failure.text or "")
    )
