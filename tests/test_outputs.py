"""The verdict, the --json document and the GitHub step summary, read as a user would: from a
real `pytest suites/ --target sim` run (its terminal, its JSON against docs/result.schema.json,
the Markdown appended to $GITHUB_STEP_SUMMARY, JUnit's testsuite property), plus the pure
parts (the verdict's rules, workflow-command escaping)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from stackcheck.github import error_commands, step_summary
from stackcheck.results_json import SCHEMA_PATH, CheckRecord
from stackcheck.verdict import Verdict, verdict

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 120


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str
    document: dict[str, object]
    summary: str
    junit_verdict: str | None


def run_suite(tmp_path: Path, *args: str, stack_file: Path | None = None) -> Run:
    files = tmp_path / "out"
    files.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACKCHECK_", "GITHUB_"))}
    env["GITHUB_STEP_SUMMARY"] = str(files / "summary.md")
    (files / "summary.md").write_text("earlier step\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "pytest",
        *args,
        "--target",
        "sim",
        "--wait",
        "3",
        "--report-dir",
        str(files / "reports"),
        "--html-report",
        "false",
        "--junitxml",
        str(files / "junit.xml"),
        "--json",
        str(files / "result.json"),
        "-q",
        "-p",
        "no:randomly",
    ]
    if stack_file is not None:
        command += ["--stack-file", str(stack_file)]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT, check=False
    )
    document = json.loads((files / "result.json").read_text(encoding="utf-8"))
    properties = ET.parse(files / "junit.xml").getroot().iter("property")
    junit = next(
        (p.get("value") for p in properties if p.get("name") == "stackcheck.verdict"), None
    )
    return Run(
        done.returncode,
        done.stdout + done.stderr,
        document,
        (files / "summary.md").read_text(encoding="utf-8"),
        junit,
    )


def _schema_valid(document: dict[str, object]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())


def _summary_section(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, text in enumerate(lines) if "stackcheck summary" in text)
    return lines[start + 1 :]


@pytest.mark.sim
def test_drift_makes_the_run_unhealthy_in_every_output(tmp_path: Path) -> None:
    run = run_suite(
        tmp_path, "suites/test_drift.py", "suites/test_cluster.py", "--sim-fault", "drift-replicas"
    )
    assert run.exit_code == 1, run.output[-3000:]
    assert _summary_section(run.output)[0] == "VERDICT: UNHEALTHY (a check failed)"
    assert run.junit_verdict == "UNHEALTHY"
    _schema_valid(run.document)
    assert run.document["verdict"] == "UNHEALTHY"
    assert run.document["target"] == "sim"
    checks = {c["id"]: c for c in run.document["checks"]}  # type: ignore[attr-defined]
    failed = [i for i, c in checks.items() if c["status"] == "failed"]
    assert failed == ["drift.manifests[traffic-generator]"]
    drift = checks["drift.manifests[traffic-generator]"]
    assert drift["kind"] == "drift.manifests"
    assert "spec.replicas: git 1, live 3" in drift["message"]
    assert drift["evidence"] == ["drift"]
    assert drift["locations"][0]["file"] == "manifests/applications/traffic-generator.yml"
    assert checks["api.reachable"]["status"] == "passed"
    # what a pipeline would run (README): jq -r .verdict, and the failed checks' lines
    assert [f"{c['id']}: {c['message']}" for c in checks.values() if c["status"] == "failed"] == [
        f"drift.manifests[traffic-generator]: {drift['message']}"
    ]
    _readme_jq_lines_read(
        run.document, ["UNHEALTHY", f"drift.manifests[traffic-generator]: {drift['message']}"]
    )
    # appended to the step summary, after what an earlier step wrote
    assert run.summary.startswith("earlier step\n## stackcheck: ❌ UNHEALTHY")
    assert (
        "| `drift.manifests[traffic-generator]` | Deployment bookinfo/traffic-generator: "
        "spec.replicas: git 1, live 3" in run.summary
    )
    # the annotation points at the manifest's line, where the Deployment starts
    line = (
        (ROOT / "manifests/applications/traffic-generator.yml")
        .read_text(encoding="utf-8")
        .splitlines()
    )
    annotation = next(x for x in run.output.splitlines() if x.startswith("::error "))
    assert annotation.startswith(
        "::error file=manifests/applications/traffic-generator.yml,"
        "line=3,title=drift.manifests[traffic-generator]::"
        "Deployment bookinfo/traffic-generator: spec.replicas"
    )
    assert line[2] == "apiVersion: apps/v1" and line[3] == "kind: Deployment"


def _readme_jq_lines_read(document: dict[str, object], expected: list[str]) -> None:
    """The two jq lines the README gives a pipeline, run on the document."""
    jq = shutil.which("jq")
    if jq is None:  # the Python reading above holds the same
        return
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = [x for x in readme.splitlines() if x.startswith("jq -r ")]
    assert len(lines) == 2, lines
    out = []
    for line in lines:
        program = line.removeprefix("jq -r ").rsplit(" ", 1)[0].strip("'")
        done = subprocess.run(
            [jq, "-r", program],
            input=json.dumps(document),
            text=True,
            capture_output=True,
            timeout=10,
            check=True,
        )
        out += done.stdout.splitlines()
    assert out == expected


@pytest.mark.sim
def test_a_healthy_run_is_healthy_and_an_unreadable_cluster_incomplete(tmp_path: Path) -> None:
    healthy = run_suite(
        tmp_path / "a", "suites/test_drift.py", "suites/test_cluster.py", "suites/test_golden.py"
    )
    assert healthy.exit_code == 0, healthy.output[-3000:]
    _schema_valid(healthy.document)
    assert healthy.document["verdict"] == healthy.junit_verdict == "HEALTHY"
    assert _summary_section(healthy.output)[0].startswith("VERDICT: HEALTHY")
    assert "::error" not in healthy.output
    assert "## stackcheck: ✅ HEALTHY" in healthy.summary
    # the golden-signal table the checks attach, as in the terminal summary
    golden = [x for x in healthy.summary.splitlines() if x.startswith("### ")]
    assert golden and all("golden" in x.lower() for x in golden), healthy.summary
    assert "productpage-v1" in healthy.summary.split(golden[0])[1]
    refused = run_suite(
        tmp_path / "b",
        "suites/test_drift.py",
        "suites/test_cluster.py",
        "--sim-fault",
        "api-refused",
    )
    assert refused.exit_code == 1
    _schema_valid(refused.document)
    assert refused.document["verdict"] == refused.junit_verdict == "INCOMPLETE"
    statuses = {c["id"]: c["status"] for c in refused.document["checks"]}  # type: ignore
    assert statuses.pop("api.reachable") == "failed"
    assert set(statuses.values()) == {"skipped"}
    assert _summary_section(refused.output)[0].startswith("VERDICT: INCOMPLETE")
    assert "::error title=api.reachable::" in refused.output


@pytest.mark.sim
def test_a_drift_path_the_stack_file_warns_about_makes_the_run_degraded(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    stack = (ROOT / "stack.yml").read_text(encoding="utf-8") + (
        "\ndrift:\n  warn:\n    - object: Deployment bookinfo/traffic-generator\n"
        "      path: spec.replicas\n      reason: scaled by hand while load testing\n"
    )
    (tmp_path / "stack.yml").write_text(stack, encoding="utf-8")
    run = run_suite(
        tmp_path,
        "suites/test_drift.py",
        "--sim-fault",
        "drift-replicas",
        stack_file=tmp_path / "stack.yml",
    )
    assert run.exit_code == 0, run.output[-3000:]
    _schema_valid(run.document)
    assert run.document["verdict"] == run.junit_verdict == "DEGRADED"
    warned = [c for c in run.document["checks"] if c["status"] == "warning"]  # type: ignore
    assert [c["id"] for c in warned] == ["drift.manifests[traffic-generator]"]
    assert warned[0]["message"].endswith("(drift.warn: scaled by hand while load testing)")
    assert "### Warnings" in run.summary and "::error" not in run.output


@pytest.mark.parametrize(
    ("statuses", "interrupted", "expected"),
    [
        ({"api.reachable": "passed", "pods.healthy[a]": "passed"}, False, Verdict.HEALTHY),
        ({"api.reachable": "passed", "pods.healthy[a]": "warning"}, False, Verdict.DEGRADED),
        ({"api.reachable": "passed", "x": "warning", "y": "failed"}, False, Verdict.UNHEALTHY),
        ({"api.reachable": "failed", "x": "skipped"}, False, Verdict.INCOMPLETE),
        ({"api.reachable": "passed", "x": "failed"}, True, Verdict.INCOMPLETE),
        ({}, False, Verdict.INCOMPLETE),
    ],
)
def test_the_verdict_rules(statuses: dict[str, str], interrupted: bool, expected: Verdict) -> None:
    assert verdict(statuses.items(), ["api.reachable"], interrupted) is expected


def test_workflow_commands_escape_what_would_end_them() -> None:
    record = CheckRecord("endpoint[a,b]", "endpoint", "failed", "50% down\nsee: logs")
    assert error_commands([record]) == ["::error title=endpoint[a%2Cb]::50%25 down%0Asee: logs"]
    located = CheckRecord(
        "drift.manifests[x]",
        "drift.manifests",
        "failed",
        "m",
        locations=(("manifests/x.yml", 7, "Deployment x/y: spec.replicas"),),
    )
    assert error_commands([located, CheckRecord("p", "p", "passed", "ok")]) == [
        "::error file=manifests/x.yml,line=7,title=drift.manifests[x]::"
        "Deployment x/y: spec.replicas"
    ]


def test_the_step_summary_appends_the_golden_signal_table_when_there_is_one() -> None:
    records = [
        CheckRecord("golden.success-rate[a]", "golden.success-rate", "warning", "low", "look at a")
    ]
    table = "| deployment | success |\n|---|---|\n| a | 98% |"
    text = step_summary(Verdict.DEGRADED, "sim", records, {"Golden signals": table})
    assert text.index("### Warnings") < text.index("### Golden signals") < text.index("| a |")
    assert "| `golden.success-rate[a]` | low | look at a |" in text
