"""No secret reaches the reports: the sim plants known secret strings (a pod's env
DB_PASSWORD, that pod's logs, Grafana's session cookie), a local server plants more in every
other input (option URLs, bodies, headers, Location, Prometheus targets' URLs and errors),
and the terminal and the whole reports tree of a real run (Allure results, HTML report,
single-file HTML, history, JUnit XML) are scanned for them.

The scan is only meaningful if the planted values do reach what the suite reads, and if the
report holds the evidence where they sat: both are asserted, so this fails if redaction goes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import requests

from stackcheck.checks.http import http_evidence
from stackcheck.checks.model import HttpAnswer
from stackcheck.diagnostics import pod_evidence
from stackcheck.kube import Kube, KubeTarget, load_configuration
from stackcheck.reading import StackReader
from stackcheck.redact import MASK, REDACTOR
from stackcheck.report import allure_cli
from stackcheck.settings import Settings
from stackcheck.sim.faults import PLANTED_SECRETS, build_spec
from stackcheck.sim.stack import SimHandle, SimulatedStack
from stackcheck.stackfile import load_stack
from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 55
# the sim's API bearer tokens (stackcheck/sim/stack.py): admin and read-only verifier
TOKEN = re.compile(rb"sim-(?:admin|verifier)-[0-9a-f]{32}")
BASE64 = re.compile(rb"[A-Za-z0-9+/]{24,}={0,2}")

pytestmark = pytest.mark.sim


def leaks(data: bytes, secrets: tuple[bytes, ...]) -> list[str]:
    """Secrets (or sim tokens) in `data`, plain or inside base64 (the single-file HTML
    embeds every data file base64-encoded)."""
    found = [s.decode() for s in secrets if s in data]
    found += [m.decode() for m in TOKEN.findall(data)]
    for blob in BASE64.findall(data):
        try:
            decoded = base64.b64decode(blob + b"=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        found += [f"{s.decode()} (base64)" for s in secrets if s in decoded]
        found += [f"{m.decode()} (base64)" for m in TOKEN.findall(decoded)]
    return found


def scan_tree(root: Path, secrets: tuple[bytes, ...]) -> dict[str, list[str]]:
    return {
        str(path.relative_to(root)): hits
        for path in sorted(root.rglob("*"))
        if path.is_file() and (hits := leaks(path.read_bytes(), secrets))
    }


PLANTED = tuple(s.encode() for s in PLANTED_SECRETS)


def test_the_scan_finds_plain_and_base64_secrets(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x " + PLANTED[1] + b" y")
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "d.html").write_bytes(
        b'd("data/attachments/1.txt","' + base64.b64encode(b"log: password=" + PLANTED[0]) + b'")'
    )
    (tmp_path / "e.json").write_bytes(b'{"token": "sim-verifier-' + b"0f" * 16 + b'"}')
    (tmp_path / "clean.txt").write_bytes(b"password=" + MASK.encode())
    found = scan_tree(tmp_path, PLANTED)
    assert set(found) == {"a.txt", "b/c/d.html", "e.json"}, found
    assert found["b/c/d.html"] == [f"{PLANTED_SECRETS[0]} (base64)"]


@pytest.fixture(scope="module")
def planted_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    stack = load_stack(ROOT / "stack.yml")
    spec = dataclasses.replace(
        build_spec(["planted-secrets", "crashloop-details"]), prometheus_down=True
    )  # not needed here: a faster start
    sim = SimulatedStack(
        spec,
        tmp_path_factory.mktemp("sim"),
        [ROOT / m for c in stack.components for m in c.manifests],
    )
    handle = sim.start()
    yield handle
    sim.stop()


def test_planted_secrets_reach_what_the_suite_reads(planted_sim: SimHandle) -> None:
    """Control: the raw pod, its logs and Grafana's answer carry the planted values, and
    the evidence built from them (what the report gets) does not."""
    kube = Kube(load_configuration(KubeTarget(planted_sim.kubeconfig, None, 5.0)), 5.0)
    assert TOKEN.search(planted_sim.kubeconfig.read_bytes()), "the token pattern is stale"
    pods = kube.list_kind("Pod", "bookinfo")
    holder = next(
        p
        for p in pods
        if any(
            e.get("name") == "DB_PASSWORD"
            for c in p["spec"]["containers"]
            for e in c.get("env", [])
        )
    )
    raw_env = str(holder["spec"]["containers"])
    main = next(c["name"] for c in holder["spec"]["containers"] if c["name"] != "linkerd-proxy")
    raw_log = kube.pod_log("bookinfo", holder["metadata"]["name"], main, 30)
    for secret in PLANTED_SECRETS:
        assert secret in raw_env and secret in raw_log

    reader = StackReader(load_stack(ROOT / "stack.yml"), Settings(), kube)
    evidence = pod_evidence(reader, "bookinfo", holder["metadata"]["name"]).text
    assert "DB_PASSWORD" in evidence and f"password={MASK}" in evidence, evidence
    assert not any(s in evidence for s in PLANTED_SECRETS), evidence

    response = requests.get(
        planted_sim.service_urls["grafana"] + "/", allow_redirects=False, timeout=5
    )
    assert PLANTED_SECRETS[0] in response.headers["Set-Cookie"]
    answer = HttpAnswer(
        response.url,
        response.status_code,
        response.reason,
        dict(response.headers),
        response.content,
    )
    text = http_evidence(answer).text
    assert f"Set-Cookie: {MASK}" in text and PLANTED_SECRETS[0] not in text, text
    assert not any(s in REDACTOR.text(raw_log) for s in PLANTED_SECRETS)


@pytest.mark.parametrize(
    ("fault", "evidence"),
    [
        ("crashloop-details", f"password={MASK}"),  # the failing pod: describe + logs attached
        # the HTTP exchange attached (Grafana's planted session cookie rides on its redirect)
        ("grafana-wrong-redirect", f"Set-Cookie: {MASK}"),
    ],
)
def test_reports_tree_holds_no_secret(tmp_path: Path, fault: str, evidence: str) -> None:
    reports = tmp_path / "reports"
    command = suite_command(
        "--target",
        "sim",
        "--wait",
        "3",
        "--sim-fault",
        "planted-secrets",
        "--sim-fault",
        fault,
        "--report-dir",
        str(reports),
        "--html-report",
        "true",
        "-q",
        "-p",
        "no:randomly",
    )
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]  # the fault's check failed, nothing crashed

    assert scan_tree(reports, PLANTED) == {}
    assert not [s for s in PLANTED_SECRETS if s in output], "secret in the terminal output"

    # and the evidence where the secrets sat is in the report, masked
    results = reports / "allure-results"
    attachments = [
        p.read_text(encoding="utf-8", errors="replace") for p in results.glob("*-attachment*")
    ]
    assert any(evidence in text for text in attachments), (
        f"no attachment shows {evidence!r}: the scan would prove nothing"
    )
    assert (reports / "junit.xml").exists()
    if allure_cli(ROOT) is not None:
        assert (reports / "allure-report" / "index.html").exists(), output[-2000:]
        assert (reports / "stackcheck-report.html").exists(), output[-2000:]


# --- every input planted, every output scanned (issue 13, case 3) -------------------------
# Each value sits where the suite reads it; none may reach the terminal or any report file.
URL_PASSWORD = "urlpass-Q7x9Kd2w"  # --grafana-url/--productpage-url userinfo
LOCATION_PASSWORD = "locpass-M3n8Vb1z"  # userinfo in a Location header
QUERY_TOKEN = "qtoken-Z5c1Rt8y"  # ?token= in a Location header
AMZ_SIGNATURE = "amzsig0f3e9d2c1b7a"  # X-Amz-Signature in a target's scrape URL
AWS_KEY_ID = "AKIAZ7Q3X9K2M4N8P6R1"  # in a target's lastError
TARGET_PASSWORD = "tgtpass-H4j6Lw9x"  # userinfo in a target's scrape URL and lastError
BODY_TOKEN = "bodytok-P2s5Xa7v"  # access_token= in an endpoint's body
HEADER_PASSWORD = "hdrpass-T8r3Qe6u"  # userinfo in a response header
EVERY_INPUT = (
    URL_PASSWORD,
    LOCATION_PASSWORD,
    QUERY_TOKEN,
    AMZ_SIGNATURE,
    AWS_KEY_ID,
    TARGET_PASSWORD,
    BODY_TOKEN,
    HEADER_PASSWORD,
)


class _Leaky(BaseHTTPRequestHandler):
    """Productpage, Grafana and Prometheus in one, each answer failing its check and
    carrying secrets: in the body, a header, a Location, target URLs and errors."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        path = self.path.split("?", 1)[0]
        headers = {"X-Upstream": f"http://up:{HEADER_PASSWORD}@backend:9080/"}
        if path.endswith("/productpage"):
            status, body = (
                200,
                (
                    f"<html>Error fetching product reviews; debug: "
                    f"callback?access_token={BODY_TOKEN}</html>"
                ),
            )
        elif path.endswith("/api/health"):
            status, body = (
                200,
                json.dumps({"database": "failing", "dsn": f"mysql://grafana:{URL_PASSWORD}@db/g"}),
            )
        elif path.endswith("/api/v1/targets"):
            status, body = 200, json.dumps(_targets())
        elif path.endswith("/api/v1/query"):
            status, body = (
                200,
                json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}),
            )
        else:  # Grafana's /: a redirect elsewhere than /login
            status, body = 302, "redirect"
            headers["Location"] = (
                f"http://admin:{LOCATION_PASSWORD}@grafana.example/signup?token={QUERY_TOKEN}"
            )
        data = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _targets() -> dict[str, object]:
    url = (
        f"http://scraper:{TARGET_PASSWORD}@10.244.0.7:4191/metrics?X-Amz-Signature={AMZ_SIGNATURE}"
    )
    targets = [
        {
            "labels": {"job": job, "namespace": "bookinfo", "pod": f"{job}-pod"},
            "scrapePool": f"podMonitor/linkerd/{job}/0",
            "scrapeUrl": url,
            "health": "down",
            "lastError": f'Get "{url}": 403 Forbidden for key {AWS_KEY_ID}',
        }
        for job in ("linkerd-proxy", "linkerd-controller")
    ]
    return {"status": "success", "data": {"activeTargets": targets}}


@pytest.fixture
def leaky_server() -> Iterator[str]:
    _Leaky.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Leaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_input_planted_no_output_holds_it(tmp_path: Path, leaky_server: str) -> None:
    reports = tmp_path / "reports"
    base = f"http://admin:{URL_PASSWORD}@{leaky_server}"
    command = suite_command(
        "--target",
        "sim",
        "--wait",
        "2",
        "--sim-fault",
        "planted-secrets",
        "--sim-fault",
        "crashloop-details",
        "--productpage-url",
        base,
        "--grafana-url",
        base,
        "--prometheus-url",
        f"http://{leaky_server}",
        "--report-dir",
        str(reports),
        "--junitxml",
        str(tmp_path / "ci" / "junit.xml"),
        "--html-report",
        "true",
        "-p",
        "no:randomly",
        "-rA",
    )
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT * 2, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]

    # control: every planted place was read, and the report shows where the values sat
    assert {"/productpage", "/", "/api/health", "/api/v1/targets"} <= {
        p.split("?", 1)[0] for p in _Leaky.seen
    }, _Leaky.seen
    evidence = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in (reports / "allure-results").glob("*-attachment*")
    )
    for masked in (
        f"admin:{MASK}@",
        f"scraper:{MASK}@",
        f"X-Amz-Signature={MASK}",
        f"access_token={MASK}",
        f"up:{MASK}@",
        f"password={MASK}",
    ):
        assert masked in evidence + output, f"{masked!r} shown nowhere: the scan proves nothing"

    secrets = tuple(s.encode() for s in (*EVERY_INPUT, *PLANTED_SECRETS))
    assert not [s for s in EVERY_INPUT + PLANTED_SECRETS if s in output], output[-3000:]
    assert scan_tree(reports, secrets) == {}
    assert scan_tree(tmp_path / "ci", secrets) == {}
    junit = (tmp_path / "ci" / "junit.xml").read_text(encoding="utf-8")
    assert 'name="stackcheck"' in junit and MASK in junit  # its properties, redacted
    if allure_cli(ROOT) is not None:
        assert (reports / "stackcheck-report.html").exists(), output[-2000:]
        assert (reports / "history.jsonl").exists(), output[-2000:]
