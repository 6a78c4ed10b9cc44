"""The Allure report around the results allure-pytest writes: environment, categories,
and the HTML rendered by Allure's own CLI (npm `allure`, version 3).

Layout of a report folder (default `reports/`):

    allure-results/          what the run wrote (allure-pytest, environment, categories)
    allure-report/index.html the HTML report (Allure 3 "awesome")
    stackcheck-report.html   the same report as one self-contained file, for sharing
    history.jsonl            one line per generated report: the trend across runs
    allurerc.json            the Allure configuration the last generation used
    junit.xml                JUnit XML for CI gates (unless --junitxml says otherwise)

`python -m stackcheck.report [RESULTS_DIR]` regenerates the HTML from existing results
(scripts/report.sh). Never imports pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stackcheck.redact import REDACTOR
from stackcheck.static import pod_template

Obj = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
REPORT_NAME = "stackcheck acceptance report"
VERDICT_MARKER = "stackcheck-verdict.txt"  # the run's verdict (fixtures/outputs.py)
SINGLE_FILE = "stackcheck-report.html"
GENERATE_TIMEOUT = 180.0
MAX_VALUE = 400  # characters of one environment value
HISTORY_LIMIT = 50  # runs kept in history.jsonl (the trend)

# Categories, chosen by structure, not by message text: the status allure-pytest records and
# the labels fixtures/checks.py puts on every check (`result`: passed, warning, failed or
# skipped; `check_id`). Allure 3 matches rules in order, the first match wins. A warning's
# test passes (or fails under --fail-on warning): its category says which it was.
_ANY = ["failed", "broken", "skipped", "passed"]
CATEGORIES: list[Obj] = [
    {
        "name": "Suite/infra problems (API unreachable, credentials, bad config)",
        "matchers": [
            {
                "statuses": _ANY,
                "labels": {"check_id": "^api\\.reachable$", "result": "^(failed|skipped)$"},
            },
            {"statuses": ["skipped"], "labels": {"result": "^skipped$"}},
        ],
    },
    {
        "name": "Warnings (the run passes unless --fail-on warning)",
        "matchers": {"statuses": _ANY, "labels": {"result": "^warning$"}},
    },
    {
        "name": "Stack defects (a check failed)",
        "matchers": {"statuses": ["failed"], "labels": {"result": "^failed$"}},
    },
    {
        "name": "Manifest defects (suites/static)",
        "matchers": {"statuses": ["failed"], "labels": {"feature": "^Manifests$"}},
    },
    {"name": "Suite errors (a bug in stackcheck)", "matchers": {"statuses": ["broken"]}},
]
# the report's tree: feature (Pods, Mesh, Bookinfo, Grafana, Prometheus, Manifests, ...),
# then story (the kind of check)
GROUP_BY = ["feature", "story"]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
# left in the results by an interrupted run (fixtures/interrupt.py): the report says so
INTERRUPTED_MARKER = "stackcheck-interrupted.txt"


def interrupted_message(signal_name: str) -> str:
    return f"the run was INTERRUPTED ({signal_name})"


def interruption(results: Path) -> str | None:
    """Why the run that wrote `results` was interrupted, if it was."""
    try:
        return (results / INTERRUPTED_MARKER).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def run_verdict(results: Path) -> str | None:
    """The verdict the run left in its results (HEALTHY, ...), if any."""
    try:
        return (results / VERDICT_MARKER).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def read_check_ids(results: Path) -> set[str]:
    """The check ids (label check_id) of the results already written."""
    found: set[str] = set()
    for path in results.glob("*-result.json"):
        try:
            labels = json.loads(path.read_text(encoding="utf-8")).get("labels") or []
        except (OSError, ValueError):
            continue
        found.update(
            str(label.get("value"))
            for label in labels
            if isinstance(label, dict) and label.get("name") == "check_id"
        )
    return found


def redact_results(results: Path) -> None:
    """Every string of every Allure result and container, and every text attachment, through
    the redactor: whatever a plugin or an exception put there, the report gets it masked."""
    for path in [*results.glob("*-result.json"), *results.glob("*-container.json")]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        clean = _redact_strings(data)
        if clean != data:
            path.write_text(json.dumps(clean), encoding="utf-8")
    for path in results.glob("*-attachment*"):
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # a binary attachment (screenshots): no text to redact
        clean = REDACTOR.text(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")


# identifiers allure-pytest generates (uuid4s, md5 digests, attachment file names): nothing
# of ours is in them, and a third of a result's distinct strings are these
_GENERATED_KEYS = frozenset({"uuid", "historyId", "testCaseId", "children", "source"})


def _redact_strings(data: Any) -> Any:
    if isinstance(data, str):
        return REDACTOR.text(data)
    if isinstance(data, list):
        return [_redact_strings(item) for item in data]
    if isinstance(data, dict):
        return {
            key: value if key in _GENERATED_KEYS else _redact_strings(value)
            for key, value in data.items()
        }
    return data


def clear_rendered_report(report_dir: Path) -> None:
    """The HTML and JUnit XML of an earlier run go before this run starts (history.jsonl,
    the trend, stays): a run killed before it writes its own leaves none that looks like
    its own."""
    rendered = report_dir / "allure-report"
    if (rendered / "index.html").exists():
        shutil.rmtree(rendered, ignore_errors=True)
    (report_dir / SINGLE_FILE).unlink(missing_ok=True)
    (report_dir / "junit.xml").unlink(missing_ok=True)  # a CI gate must not read an old one


def categories_allure2() -> list[Obj]:
    """The same for Allure 2 (categories.json), which matches a status and the message only
    (Java regular expressions, matched whole): the failure text fixtures/checks.py writes
    starts with the check id and its result, e.g. `pods.healthy[x]: <claim>: FAILED`."""
    return [
        {
            "name": CATEGORIES[0]["name"],
            "matchedStatuses": ["failed", "broken", "skipped"],
            "messageRegex": r"(?s)(Failed: |Skipped: )?api\.reachable.*",
        },
        {
            "name": CATEGORIES[1]["name"],
            "matchedStatuses": ["failed"],
            "messageRegex": r"(?s)(Failed: )?[^\n]*: WARNING after .*",
        },
        {
            "name": CATEGORIES[2]["name"],
            "matchedStatuses": ["failed"],
            "messageRegex": r"(?s)(Failed: )?[^\n]*: FAILED after .*",
        },
        {"name": CATEGORIES[4]["name"], "matchedStatuses": ["broken"], "messageRegex": ".*"},
    ]


def write_metadata(results: Path, environment: Mapping[str, str]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    stopped = interruption(results)
    if stopped is not None:
        environment = {"run": stopped, **environment}
    word = run_verdict(results)
    if word:
        environment = {"verdict": word, **environment}
    lines = [f"{_key(k)}={_value(REDACTOR.text(str(v)))}" for k, v in environment.items()]
    (results / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (results / "categories.json").write_text(
        json.dumps(categories_allure2(), indent=2), encoding="utf-8"
    )


def _key(name: str) -> str:
    return name.replace(" ", "_").replace("=", "_").replace(":", "_")


def _value(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


# --- component versions ------------------------------------------------------------------
def component_versions(
    workloads: Mapping[str, Iterable[Obj]], proxy_versions: Iterable[Any] = ()
) -> dict[str, str]:
    """Versions found in the cluster, per component: the `helm.sh/chart` and
    `app.kubernetes.io/version` labels and the image tags of its workloads;
    plus the Linkerd proxy version(s) that the injector stamped on meshed pods (their
    linkerd.io/proxy-version annotations: checks/identity.py proxy_versions)."""
    env: dict[str, str] = {}
    for component, objects in workloads.items():
        charts: list[str] = []
        versions: list[str] = []
        images: list[str] = []
        for obj in objects:
            labels = _labels(obj)
            if "helm.sh/chart" in labels:
                _add(charts, labels["helm.sh/chart"])
            if "app.kubernetes.io/version" in labels:
                _add(versions, labels["app.kubernetes.io/version"])
            for image in _images(obj):
                _add(images, _short_image(image))
        for key, found in (("charts", charts), ("versions", versions), ("images", images)):
            if found:
                env[f"{component}.{key}"] = ", ".join(found)
    proxies: list[str] = []
    for version in proxy_versions:
        if version:
            _add(proxies, str(version))
    if proxies:
        env["linkerd.proxy-version"] = ", ".join(proxies)
    return env


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _labels(obj: Obj) -> dict[str, str]:
    """The object's labels, with its pod template's filling in (charts label either)."""
    labels = dict(((pod_template(obj) or {}).get("metadata") or {}).get("labels") or {})
    labels.update((obj.get("metadata") or {}).get("labels") or {})
    return {str(k): str(v) for k, v in labels.items()}


def _images(obj: Obj) -> list[str]:
    spec = ((pod_template(obj) or {}).get("spec")) or {}
    return [str(c["image"]) for c in spec.get("containers") or [] if c.get("image")]


def _short_image(image: str) -> str:
    """`quay.io/prometheus/prometheus:v2.55.1` -> `prometheus:v2.55.1` (digests kept short)."""
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        base, digest = name.split("@", 1)
        return f"{base}@{digest[:19]}"
    return name


# --- HTML --------------------------------------------------------------------------------
def allure_cli(root: Path = ROOT) -> list[str] | None:
    """The allure 3 command: the project's node_modules first, then PATH."""
    local = root / "node_modules" / ".bin" / "allure"
    if local.exists():
        return [str(local)]
    found = shutil.which("allure")
    return [found] if found else None


def allure_config(
    results: Path, output: Path, *, single_file: bool, history: Path, append_history: bool
) -> Obj:
    stopped = interruption(results)
    name = REPORT_NAME if stopped is None else f"{REPORT_NAME}: {stopped}"
    word = run_verdict(results)
    if word:
        name = f"{word}: {name}"
    return {
        "name": name,
        "output": str(output),
        "historyPath": str(history),
        "historyLimit": HISTORY_LIMIT,
        "appendHistory": append_history,
        "categories": CATEGORIES,
        "plugins": {
            "awesome": {
                "options": {
                    "singleFile": single_file,
                    "reportName": name,
                    "groupBy": GROUP_BY,
                }
            }
        },
    }


def generate_html(
    root: Path, results: Path, output: Path, single_file: Path | None = None
) -> tuple[bool, str]:
    """Render the HTML report to `output` (history kept next to the results, so the trend
    carries over between runs in the same report folder), and the same report as a single
    self-contained file; (ok, one-line message)."""
    command = allure_cli(root)
    if command is None:
        return False, "Allure CLI not found (npm install in the project root): HTML skipped"
    report_dir = results.parent
    history = report_dir / "history.jsonl"
    single_file = single_file or report_dir / SINGLE_FILE
    # the single file first, reading the history without adding to it; then the report
    # proper, which appends this run to the history
    with tempfile.TemporaryDirectory(prefix="stackcheck-allure-") as scratch:
        scratch_out = Path(scratch) / "single"
        ok, message = _generate(
            command,
            results,
            Path(scratch) / "allurerc-single.json",
            allure_config(
                results, scratch_out, single_file=True, history=history, append_history=False
            ),
        )
        if not ok:
            return ok, message
        shutil.copyfile(scratch_out / "index.html", single_file)
    ok, message = _generate(
        command,
        results,
        report_dir / "allurerc.json",
        allure_config(results, output, single_file=False, history=history, append_history=True),
    )
    if not ok:
        return ok, message
    return True, f"Allure report: {output / 'index.html'} (single file: {single_file})"


def _generate(
    command: Sequence[str], results: Path, config_path: Path, config: Obj
) -> tuple[bool, str]:
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    output = Path(config["output"])
    if output.is_dir() and any(output.iterdir()):
        if not (output / "index.html").exists():
            return False, f"{output} exists and is not an Allure report: not overwritten"
        shutil.rmtree(output)  # no stale data files of an older report
    try:
        done = subprocess.run(
            [*command, "generate", str(results), "--config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=GENERATE_TIMEOUT,
            env={**os.environ, "NO_COLOR": "1"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"allure generate failed: {exc}"
    if done.returncode != 0 or not (output / "index.html").exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return False, f"allure generate exited {done.returncode}: {tail[0]}"
    return True, ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stackcheck.report",
        description="Render the Allure HTML report (and its single-file copy) from existing "
        "Allure results; the history next to the results carries over.",
    )
    parser.add_argument(
        "results",
        nargs="?",
        default="reports/allure-results",
        type=Path,
        help="the Allure results folder [default: reports/allure-results]",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the HTML report folder [default: allure-report next to RESULTS]",
    )
    args = parser.parse_args(argv)
    results: Path = args.results.resolve()
    if not results.is_dir() or not any(results.glob("*-result.json")):
        print(
            f"ERROR: {results} holds no Allure results (*-result.json): run the suite first",
            file=sys.stderr,
        )
        return 4
    if allure_cli() is None:
        print(
            "ERROR: the Allure CLI (npm package allure, version 3) is not installed: run "
            "scripts/setup.sh (or npm install in the project root)",
            file=sys.stderr,
        )
        return 3
    output = (args.output or results.parent / "allure-report").resolve()
    REDACTOR.add_environment()
    redact_results(results)
    ok, message = generate_html(ROOT, results, output)
    print(message if ok else f"ERROR: {message}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
