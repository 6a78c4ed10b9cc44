"""The Allure report around the results allure-pytest writes: environment, categories,
and the HTML rendered by Allure's own CLI (npm `allure`, version 3)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from stackcheck.redact import REDACTOR

# Failures the stack caused versus failures of the suite's own access to it.
CATEGORIES = [
    {
        "name": "Suite/infra problems (API unreachable, credentials, bad config)",
        "matchedStatuses": ["failed", "broken", "skipped"],
        "messageRegex": r"(?s).*(api\.reachable|connection refused|timed out|HTTP 401|HTTP 403"
                        r"|Unauthorized|Forbidden|no Kubernetes API).*",
    },
    {
        "name": "Stack defects (a check failed)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s).*FAILED after.*",
    },
    {"name": "Suite errors (a bug in stackcheck)", "matchedStatuses": ["broken"]},
]
GENERATE_TIMEOUT = 180.0


def write_metadata(results: Path, environment: Mapping[str, str]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    lines = [f"{_key(k)}={REDACTOR.text(str(v))}" for k, v in environment.items()]
    (results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (results / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")


def _key(name: str) -> str:
    return name.replace(" ", "_").replace("=", "_").replace(":", "_")


def allure_cli(root: Path) -> list[str] | None:
    """The allure 3 command: the project's node_modules first, then PATH."""
    local = root / "node_modules" / ".bin" / "allure"
    if local.exists():
        return [str(local)]
    found = shutil.which("allure")
    return [found] if found else None


def generate_html(root: Path, results: Path, output: Path) -> tuple[bool, str]:
    """Render the HTML report (history kept in the report folder); (ok, one-line message)."""
    command = allure_cli(root)
    if command is None:
        return False, "Allure CLI not found (npm install in the project root): HTML skipped"
    config = results.parent / "allurerc.json"
    config.write_text(json.dumps({
        "name": "stackcheck acceptance report",
        "output": str(output),
        "historyPath": str(results.parent / "history.jsonl"),
        "plugins": {"awesome": {"options": {"singleFile": False, "reportName": "stackcheck"}}},
    }, indent=2), encoding="utf-8")
    try:
        done = subprocess.run([*command, "generate", str(results), "--config", str(config)],
                              capture_output=True, text=True, timeout=GENERATE_TIMEOUT,
                              env={**os.environ, "NO_COLOR": "1"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"allure generate failed: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return False, f"allure generate exited {done.returncode}: {tail[0]}"
    return True, f"Allure report: {output / 'index.html'}"
