"""The README stays true: its fault matrix, options and commands match the code and CI."""

from __future__ import annotations

import re
from pathlib import Path

from stackcheck.settings import OPTIONS
from stackcheck.sim.__main__ import fault_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_keeps_the_fault_matrix() -> None:
    assert fault_table() in README, (
        "README's fault matrix is stale: paste `python -m stackcheck.sim --list-faults --markdown`"
    )


def test_readme_documents_every_option_and_env_var() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `--")]
    documented = " ".join(rows)
    missing = [o.flag for o in OPTIONS if f"`{o.flag}" not in documented]
    missing += [o.env for o in OPTIONS if f"`{o.env}`" not in documented]
    assert not missing, f"options missing from README's table: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    commands = re.findall(r"^\./scripts/setup\.sh.*$", README, flags=re.MULTILINE)
    assert len(commands) == 2, commands
    test_command = next(c for c in commands if "tests/" in c)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for part in (p.strip() for p in test_command.split("&&")):
        assert part in ci, f".ci/run does not run the README's {part!r}"


def test_ci_script_and_workflow_run_the_same_steps() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    steps = [line for line in script.splitlines() if line.startswith(("./scripts/", ".venv/bin/"))]
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    unit = workflow.split("\n  e2e-kind:", 1)[0]
    runs = [
        line.strip().removeprefix("- run: ")
        for line in unit.splitlines()
        if line.strip().startswith("- run: ")
    ]
    assert steps == runs
    assert ".venv/bin/lint-imports" in steps


def test_readme_has_an_exit_code_table() -> None:
    for code in range(6):
        assert re.search(rf"^\| {code} \| \S", README, flags=re.MULTILINE), f"exit code {code}"


def test_try_one_uses_a_fault_that_fails_without_extra_options() -> None:
    from stackcheck.sim.faults import BY_NAME

    line = next(line for line in README.splitlines() if line.startswith("Try one:"))
    fault = BY_NAME[re.findall(r"--sim-fault (\S+)", line)[0].rstrip("`.")]
    assert fault.fails and not fault.suite_args, fault


def test_readme_says_how_to_open_the_report() -> None:
    assert "npx allure open reports/allure-report" in README
    assert "python3 -m http.server" in README
    assert "opens anywhere" in README
