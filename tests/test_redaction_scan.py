"""No secret reaches the reports: the sim plants known secret strings (a pod's env
DB_PASSWORD, that pod's logs, Grafana's session cookie) and the whole reports tree of a real
run (Allure results, HTML report, single-file HTML, JUnit XML) is scanned for them.

The scan is only meaningful if the planted values do reach what the suite reads, and if the
report holds the evidence where they sat: both are asserted, so this fails if redaction goes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
    return {str(path.relative_to(root)): hits for path in sorted(root.rglob("*"))
            if path.is_file() and (hits := leaks(path.read_bytes(), secrets))}


PLANTED = tuple(s.encode() for s in PLANTED_SECRETS)


def test_the_scan_finds_plain_and_base64_secrets(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"x " + PLANTED[1] + b" y")
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "d.html").write_bytes(
        b'd("data/attachments/1.txt","' + base64.b64encode(b"log: password=" + PLANTED[0])
        + b'")')
    (tmp_path / "e.json").write_bytes(b'{"token": "sim-verifier-' + b"0f" * 16 + b'"}')
    (tmp_path / "clean.txt").write_bytes(b"password=" + MASK.encode())
    found = scan_tree(tmp_path, PLANTED)
    assert set(found) == {"a.txt", "b/c/d.html", "e.json"}, found
    assert found["b/c/d.html"] == [f"{PLANTED_SECRETS[0]} (base64)"]


@pytest.fixture(scope="module")
def planted_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    stack = load_stack(ROOT / "stack.yml")
    spec = dataclasses.replace(build_spec(["planted-secrets", "crashloop-details"]),
                               prometheus_down=True)  # not needed here: a faster start
    sim = SimulatedStack(spec, tmp_path_factory.mktemp("sim"),
                         [ROOT / m for c in stack.components for m in c.manifests])
    handle = sim.start()
    yield handle
    sim.stop()


def test_planted_secrets_reach_what_the_suite_reads(planted_sim: SimHandle) -> None:
    """Control: the raw pod, its logs and Grafana's answer carry the planted values, and
    the evidence built from them (what the report gets) does not."""
    kube = Kube(load_configuration(KubeTarget(planted_sim.kubeconfig, None, 5.0)), 5.0)
    assert TOKEN.search(planted_sim.kubeconfig.read_bytes()), "the token pattern is stale"
    pods = kube.list_kind("Pod", "bookinfo")
    holder = next(p for p in pods if any(
        e.get("name") == "DB_PASSWORD" for c in p["spec"]["containers"] for e in c.get("env", [])))
    raw_env = str(holder["spec"]["containers"])
    main = next(c["name"] for c in holder["spec"]["containers"] if c["name"] != "linkerd-proxy")
    raw_log = kube.pod_log("bookinfo", holder["metadata"]["name"], main, 30)
    for secret in PLANTED_SECRETS:
        assert secret in raw_env and secret in raw_log

    reader = StackReader(load_stack(ROOT / "stack.yml"), Settings(), kube)
    evidence = pod_evidence(reader, "bookinfo", holder["metadata"]["name"]).text
    assert "DB_PASSWORD" in evidence and f"password={MASK}" in evidence, evidence
    assert not any(s in evidence for s in PLANTED_SECRETS), evidence

    response = requests.get(planted_sim.service_urls["grafana"] + "/", allow_redirects=False,
                            timeout=5)
    assert PLANTED_SECRETS[0] in response.headers["Set-Cookie"]
    answer = HttpAnswer(response.url, response.status_code, response.reason,
                        dict(response.headers), response.content)
    text = http_evidence(answer).text
    assert f"Set-Cookie: {MASK}" in text and PLANTED_SECRETS[0] not in text, text
    assert not any(s in REDACTOR.text(raw_log) for s in PLANTED_SECRETS)


@pytest.mark.parametrize(("fault", "evidence"), [
    ("crashloop-details", f"password={MASK}"),   # the failing pod: describe + logs attached
    # the HTTP exchange attached (Grafana's planted session cookie rides on its redirect)
    ("grafana-wrong-redirect", f"Set-Cookie: {MASK}"),
])
def test_reports_tree_holds_no_secret(tmp_path: Path, fault: str, evidence: str) -> None:
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", "suites/", "--target", "sim", "--wait", "3",
               "--sim-fault", "planted-secrets", "--sim-fault", fault,
               "--report-dir", str(reports), "--html-report", "true", "-q", "-p", "no:randomly"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]  # the fault's check failed, nothing crashed

    assert scan_tree(reports, PLANTED) == {}
    assert not [s for s in PLANTED_SECRETS if s in output], "secret in the terminal output"

    # and the evidence where the secrets sat is in the report, masked
    results = reports / "allure-results"
    attachments = [p.read_text(encoding="utf-8", errors="replace")
                   for p in results.glob("*-attachment*")]
    assert any(evidence in text for text in attachments), \
        f"no attachment shows {evidence!r}: the scan would prove nothing"
    assert (reports / "junit.xml").exists()
    if allure_cli(ROOT) is not None:
        assert (reports / "allure-report" / "index.html").exists(), output[-2000:]
        assert (reports / "stackcheck-report.html").exists(), output[-2000:]
