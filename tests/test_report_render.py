"""The generated HTML report renders in a real browser and shows the failing check.

A real `pytest suites/ --target sim` with one fault writes its results and, at session end,
the Allure 3 HTML report; headless Chromium loads it from a local HTTP server (the report
fetches its data files, which file:// may block), and the DOM must show the failing check's
title, its message and its attachment. A screenshot is kept in reports/test-artifacts/.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stackcheck.report import SINGLE_FILE, allure_cli
from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "reports" / "test-artifacts"
FAULT = "productpage-reviews-error"
CHECK_ID = "endpoint[productpage]"
RUN_TIMEOUT = 50
BROWSER_TIMEOUT = 30
# a closed network makes Chromium hang on its background fetches without these
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",
)

pytestmark = pytest.mark.sim


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browse(url: str, *args: str) -> str:
    """Run headless Chromium on `url` with a fresh profile; its stdout."""
    binary = chromium()
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="stackcheck-chromium-") as profile:
        done = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=BROWSER_TIMEOUT,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def visible_text(dom: str) -> str:
    """The DOM's text without scripts and styles, whitespace collapsed, entities decoded."""
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom)
    text = re.sub(r"<[^>]+>", " ", dom)
    for entity, char in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&#39;", "'"),
        ("&nbsp;", " "),
        ("&amp;", "&"),
    ):
        text = text.replace(entity, char)
    return " ".join(text.split())


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on localhost (a thread); the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def failing_result(results: Path, check_id: str) -> dict[str, Any]:
    for path in results.glob("*-result.json"):
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        labels = {(label["name"], label["value"]) for label in result.get("labels", [])}
        if ("check_id", check_id) in labels and result.get("status") == "failed":
            return result
    raise AssertionError(f"no failed result for {check_id} in {results}")


def report_route(result: dict[str, Any]) -> str:
    """Allure 3 names a test result md5(uuid); the awesome report routes `#/<id>`."""
    return "#/" + hashlib.md5(result["uuid"].encode()).hexdigest()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if chromium() is None:
        pytest.skip("Chromium is not installed (scripts/setup.sh --dev installs it)")
    if allure_cli(ROOT) is None:
        pytest.skip("the Allure CLI is not installed (scripts/setup.sh installs it)")
    reports = tmp_path_factory.mktemp("render") / "reports"
    command = suite_command(
        "--target",
        "sim",
        "--wait",
        "3",
        "--sim-fault",
        FAULT,
        "--report-dir",
        str(reports),
        "--html-report",
        "true",
        "-q",
        "-p",
        "no:randomly",
    )
    for _ in range(2):  # twice into the same folder: the second report has a history
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output[-3000:]
        assert (reports / "allure-report" / "index.html").exists(), output[-3000:]
    return reports


def test_report_shows_the_failing_check_and_its_attachment(report: Path) -> None:
    result = failing_result(report / "allure-results", CHECK_ID)
    title = result["name"]
    attachment = result["attachments"][0]["name"]
    assert attachment.startswith("GET ") and title.startswith("productpage ")
    with served(report / "allure-report") as base:
        overview = visible_text(browse(f"{base}/index.html", "--dump-dom"))
        assert title in overview, overview[:3000]
        assert "Failed 1" in overview, overview[:3000]

        page = f"{base}/index.html{report_route(result)}"
        shown = visible_text(browse(page, "--dump-dom"))
        assert title in shown, shown[:3000]
        assert attachment in shown, shown[:5000]
        assert "Error fetching product reviews" in shown, shown[:5000]  # the message
        assert "Stack defects" in shown, shown[:5000]  # its category
        attachments_tab = visible_text(browse(f"{page}/attachments", "--dump-dom"))
        assert attachment in attachments_tab, attachments_tab[:3000]

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / "report-render.png"
        screenshot.unlink(missing_ok=True)
        browse(page, f"--screenshot={screenshot}", "--window-size=1400,1000")
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000, len(data)
    print(f"screenshot: {screenshot}")


def test_single_file_report_renders_on_its_own(report: Path, tmp_path: Path) -> None:
    single = report / SINGLE_FILE
    alone = tmp_path / "shared.html"  # no data folder next to it: everything is inside
    shutil.copyfile(single, alone)
    title = failing_result(report / "allure-results", CHECK_ID)["name"]
    with served(tmp_path) as base:
        shown = visible_text(browse(f"{base}/shared.html", "--dump-dom"))
    assert title in shown, shown[:3000]
    assert "Failed 1" in shown, shown[:3000]


def test_history_carries_over_between_runs(report: Path) -> None:
    """Each run in the same folder adds a point to the trend, and a check's history id is
    stable from run to run, so the second report shows the first run's result."""
    points = [
        json.loads(line)
        for line in (report / "history.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(points) == 2, len(points)
    result = failing_result(report / "allure-results", CHECK_ID)
    shown = json.loads(
        (
            report / "allure-report" / "data" / "test-results" / f"{report_route(result)[2:]}.json"
        ).read_text(encoding="utf-8")
    )
    assert shown["historyId"] in points[0]["testResults"], shown["historyId"]
    assert [h["status"] for h in shown["history"]] == ["failed"], shown["history"]


def test_every_fixture_stage_ends_with_a_status(report: Path) -> None:
    """pytest's own finalizer (one per fixture since pytest 9.1) is not reported as a
    teardown left in status unknown (fixtures/reporting.py)."""
    stages: list[dict[str, Any]] = []
    for path in (report / "allure-results").glob("*-container.json"):
        container = json.loads(path.read_text(encoding="utf-8"))
        stages += container.get("befores", []) + container.get("afters", [])
    assert stages
    assert [s["name"] for s in stages if s.get("status") is None] == []
