"""The report's pure parts: redaction patterns, component versions, categories, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from fixtures.reporting import _versions
from stackcheck.checks.pods import PROXY_VERSION
from stackcheck.redact import MASK, Redactor
from stackcheck.report import (
    CATEGORIES,
    allure_config,
    categories_allure2,
    component_versions,
    write_metadata,
)
from tests.kubefakes import GOLDEN, fake_runner, load, real_stack

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("2026-01-01T00:00:00Z DEBUG connecting with password=hunter2-xyz other-word", "hunter2"),
        (
            "2026-01-01T00:00:00Z DEBUG connecting with password=first-part second-part",
            "second-part",
        ),
        ('{"db_password": "s3cr3t value"}', "s3cr3t"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t", "LS0tLS1CRUdJTiBFQyBQ"),
        ("token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4eHh4eCJ9.c2lnbmF0dXJlc2ln", "eyJhbGci"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkey\n-----END EC PRIVATE KEY-----", "MHcCAQ"),
        ("GET /api?api_key=abcdef123456&x=1", "abcdef123456"),
        ("AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI", "wJalrXUtnFEMI"),
    ],
)
def test_patterns_mask_secret_shapes(text: str, secret: str) -> None:
    redacted = Redactor().text(text)
    assert secret not in redacted and MASK in redacted, redacted


@pytest.mark.parametrize(
    "text",
    [
        "namespace bookinfo carries linkerd.io/inject: enabled",
        "pod bookinfo/details-v1-x: Running but not Ready: container details is CrashLoopBackOff",
        "status 200 OK, expected 302",
        "    env (names only): DB_PASSWORD, LINKERD2_PROXY_IDENTITY_TOKEN_FILE",
        "api.reachable: the API server answers with these credentials: FAILED after 2.0s",
        "hint: check that the credentials may get/list namespaces",
    ],
)
def test_innocent_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_pod_env_secrets_are_masked_wherever_they_appear() -> None:
    redactor = Redactor()
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "env": [
                        {"name": "DB_PASSWORD", "value": "alpha-secret-1 beta-secret-2"},
                        {"name": "LOG_LEVEL", "value": "verbose-debug"},
                        {
                            "name": "API_TOKEN",
                            "valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}},
                        },
                    ],
                }
            ],
            "initContainers": [
                {"name": "init", "env": [{"name": "SIGNING_KEY", "value": "gamma-secret-3"}]}
            ],
        }
    }
    redactor.add_pod(pod)
    text = redactor.text("beta-secret-2 then alpha-secret-1; gamma-secret-3; verbose-debug")
    assert text == f"{MASK} then {MASK}; {MASK}; verbose-debug"


def test_sensitive_headers_are_masked() -> None:
    headers = Redactor().headers(
        {
            "Set-Cookie": "grafana_session=abc; Path=/",
            "Cookie": "a=b",
            "Authorization": "Basic Zm9vOmJhcg==",
            "X-Auth-Token": "t0k3n",
            "Content-Type": "text/html",
        }
    )
    assert headers == {
        "Set-Cookie": MASK,
        "Cookie": MASK,
        "Authorization": MASK,
        "X-Auth-Token": MASK,
        "Content-Type": "text/html",
    }


def test_component_versions_from_labels_images_and_proxies() -> None:
    grafana = {
        "kind": "Deployment",
        "metadata": {
            "name": "prometheus-grafana",
            "labels": {"helm.sh/chart": "grafana-8.5.11", "app.kubernetes.io/version": "11.3.0"},
        },
        "spec": {
            "template": {
                "metadata": {"labels": {}},
                "spec": {
                    "containers": [
                        {"name": "grafana", "image": "docker.io/grafana/grafana:11.3.0"},
                        {
                            "name": "sidecar",
                            "image": "quay.io/kiwigrid/k8s-sidecar@sha256:" + "a" * 64,
                        },
                    ]
                },
            }
        },
    }
    heartbeat = {
        "kind": "CronJob",
        "metadata": {"name": "linkerd-heartbeat"},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"labels": {"app.kubernetes.io/version": "stable-2.14.10"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "hb",
                                    "image": "cr.l5d.io/linkerd/controller:stable-2.14.10",
                                }
                            ]
                        },
                    }
                }
            }
        },
    }
    proxies = ["stable-2.14.10", "stable-2.14.10", None]  # one pod has no annotation
    env = component_versions({"kps": [grafana], "linkerd": [heartbeat], "empty": []}, proxies)
    assert env == {
        "kps.charts": "grafana-8.5.11",
        "kps.versions": "11.3.0",
        "kps.images": "grafana:11.3.0, k8s-sidecar@sha256:aaaaaaaaaaaa",
        "linkerd.versions": "stable-2.14.10",
        "linkerd.images": "controller:stable-2.14.10",
        "linkerd.proxy-version": "stable-2.14.10",
    }


def test_the_environment_names_the_proxy_versions_of_running_meshed_pods() -> None:
    """From the pods the checks read (fixtures/reporting.py), as identity.proxy-versions
    judges them: a finished pod's proxy does not run."""
    current = load("injected-bookinfo-pod", GOLDEN)
    skewed = load("injected-bookinfo-pod", GOLDEN)
    skewed["metadata"]["name"] = "details-v1-65599dcf88-old01"
    skewed["metadata"]["annotations"][PROXY_VERSION] = "stable-2.14.9"
    finished = load("injected-bookinfo-pod", GOLDEN)
    finished["metadata"]["name"] = "details-v1-65599dcf88-done1"
    finished["metadata"]["annotations"][PROXY_VERSION] = "stable-2.13.0"
    finished["status"]["phase"] = "Succeeded"
    with closing(fake_runner(current, skewed, finished)) as runner:
        env = _versions(runner, real_stack())
    assert env["linkerd.proxy-version"] == "stable-2.14.10, stable-2.14.9"


def test_metadata_is_redacted_and_bounded(tmp_path: Path) -> None:
    write_metadata(
        tmp_path,
        {"cluster server": "https://u:p@host", "faults": "x" * 1000, "note": "token=abcdef123456"},
    )
    lines = (tmp_path / "environment.properties").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"cluster_server=https://u:{MASK}@host"  # a URL's password too
    assert len(lines[1]) < 420 and lines[1].endswith("...")
    assert lines[2] == f"note=token={MASK}"
    categories = json.loads((tmp_path / "categories.json").read_text(encoding="utf-8"))
    assert categories == categories_allure2()


def allure3_category(status: str, **labels: str) -> str:
    """The category Allure 3 gives a result: the first rule one of whose matchers holds
    (statuses, then every label's regular expression searched in the label's value)."""
    for rule in CATEGORIES:
        matchers = rule["matchers"] if isinstance(rule["matchers"], list) else [rule["matchers"]]
        for matcher in matchers:
            if status in matcher["statuses"] and all(
                re.search(pattern, labels.get(name, "\0"))
                for name, pattern in matcher.get("labels", {}).items()
            ):
                return str(rule["name"])
    return "none"


def allure2_category(status: str, message: str) -> str:
    for rule in categories_allure2():  # Java's matches(): the whole message
        if status in rule["matchedStatuses"] and re.fullmatch(rule["messageRegex"], message):
            return str(rule["name"])
    return "none"


def test_categories_come_from_the_result_labels(tmp_path: Path) -> None:
    def category(status: str, result: str, check_id: str = "pods.healthy[bookinfo]") -> str:
        return allure3_category(status, result=result, check_id=check_id).split(" (")[0]

    assert category("failed", "failed") == "Stack defects"
    assert category("passed", "passed") == "none"
    assert category("passed", "warning") == "Warnings"
    assert category("failed", "warning") == "Warnings"  # under --fail-on warning
    assert category("failed", "failed", "api.reachable") == "Suite/infra problems"
    assert category("skipped", "skipped") == "Suite/infra problems"  # skipped by the gate
    assert allure3_category("failed", feature="Manifests").startswith("Manifest defects")
    assert allure3_category("broken").startswith("Suite errors")
    # Allure 2 reads categories.json, which can match the message only
    assert allure2_category(
        "failed", "pods.healthy[bookinfo]: x: FAILED after 4.0s (1 attempt(s)): 3/4\n  - pod x"
    ).startswith("Stack defects")
    assert allure2_category(
        "failed", "Failed: pods.healthy[bookinfo]: x: WARNING after 1.0s"
    ).startswith("Warnings")
    assert allure2_category("skipped", "Skipped: api.reachable failed: HTTP 401").startswith(
        "Suite/infra"
    )
    config = allure_config(
        tmp_path / "r",
        tmp_path / "o",
        single_file=True,
        history=tmp_path / "h.jsonl",
        append_history=False,
    )
    assert config["plugins"]["awesome"]["options"]["singleFile"] is True
    assert config["appendHistory"] is False


def test_cli_explains_missing_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stackcheck.report", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 4
    assert "holds no Allure results" in done.stderr


def test_report_script_is_strict_and_explains_a_missing_cli(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "report.sh"
    assert "set -euo pipefail" in script.read_text(encoding="utf-8")
    fake_root = tmp_path / "checkout"
    (fake_root / "scripts").mkdir(parents=True)
    (fake_root / "scripts" / "report.sh").write_bytes(script.read_bytes())
    done = subprocess.run(
        ["bash", str(fake_root / "scripts" / "report.sh")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 3, done.stderr
    assert "Allure CLI is not installed" in done.stderr


def test_http_evidence_keeps_the_lines_of_note_past_the_excerpt() -> None:
    from stackcheck.checks.http import BODY_EXCERPT, http_evidence
    from stackcheck.checks.model import HttpAnswer

    body = (
        "<p>filler</p>\n" * 400 + "<h4>Error fetching product reviews!</h4>\n" + "<p>end</p>\n"
    ).encode()
    text = http_evidence(
        HttpAnswer(
            "http://h/productpage",
            200,
            "OK",
            {"Set-Cookie": "s=abcdefgh", "Content-Type": "text/html"},
            body,
        )
    ).text
    assert text.startswith("GET http://h/productpage\n\nHTTP 200 OK\n")
    assert f"Set-Cookie: {MASK}\nContent-Type: text/html\n" in text
    assert "  401: <h4>Error fetching product reviews!</h4>" in text
    assert "<p>end</p>" not in text and len(text) < BODY_EXCERPT + 400


def test_values_file_secrets_are_registered() -> None:
    redactor = Redactor()
    redactor.add_values(
        {
            "grafana": {
                "adminPassword": "values-pass-1",
                "replicas": "3",
                "env": [{"name": "x", "apiToken": "values-token-2"}],
            },
            "users": [{"user": {"client-key-data": "LS0tLS1CRUdJTiBFQw=="}}],
        }
    )
    text = redactor.text("a values-pass-1 b values-token-2 c LS0tLS1CRUdJTiBFQw== d 3")
    assert text == f"a {MASK} b {MASK} c {MASK} d 3"


def test_verification_never_reads_secret_objects() -> None:
    """Secret objects are never fetched: no API path of the read side names them."""
    from stackcheck import kube

    assert not any("secret" in path for path in kube._KIND_PATHS.values())
    sources = [*(ROOT / "stackcheck").glob("*.py"), *(ROOT / "stackcheck/checks").glob("*.py")]
    for path in sources:
        if path.name in ("deploy.py", "static.py", "redact.py"):
            continue  # deploy writes (admin credentials); static reads files; redact masks
        text = path.read_text(encoding="utf-8")
        assert "/secrets" not in text and '"Secret"' not in text, path


def test_results_are_redacted_whole(tmp_path: Path) -> None:
    """Every string of a result and every text attachment; JSON stays JSON."""
    from stackcheck.report import redact_results

    result = {
        "name": "GET http://admin:pw-Zx81q@h/",
        "status": "failed",
        "statusDetails": {"message": 'password="a b" and AKIAIOSFODNN7EXAMPLE'},
        "steps": [{"name": "token=abc123", "parameters": [{"value": "ok"}]}],
    }
    (tmp_path / "1-result.json").write_text(json.dumps(result), encoding="utf-8")
    (tmp_path / "2-attachment.txt").write_text("sig=deadbeef99 seen", encoding="utf-8")
    (tmp_path / "3-attachment.png").write_bytes(b"\x89PNG\r\n\xff\xfe token=raw")
    redact_results(tmp_path)
    clean = json.loads((tmp_path / "1-result.json").read_text(encoding="utf-8"))
    assert clean["name"] == f"GET http://admin:{MASK}@h/"
    assert clean["statusDetails"]["message"] == f'password="{MASK}" and {MASK}'
    assert clean["steps"][0]["name"] == f"token={MASK}"
    assert (tmp_path / "2-attachment.txt").read_text(encoding="utf-8") == f"sig={MASK} seen"
    assert (tmp_path / "3-attachment.png").read_bytes().endswith(b"token=raw")  # binary


def test_an_interrupted_runs_report_says_so(tmp_path: Path) -> None:
    from stackcheck.report import INTERRUPTED_MARKER, allure_config, interrupted_message

    (tmp_path / INTERRUPTED_MARKER).write_text(interrupted_message("SIGTERM"), encoding="utf-8")
    write_metadata(tmp_path, {"target": "sim"})
    lines = (tmp_path / "environment.properties").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "run=the run was INTERRUPTED (SIGTERM)"
    config = allure_config(
        tmp_path,
        tmp_path / "out",
        single_file=True,
        history=tmp_path / "h.jsonl",
        append_history=False,
    )
    assert "INTERRUPTED (SIGTERM)" in config["name"]


def test_the_previous_rendered_report_is_cleared(tmp_path: Path) -> None:
    from stackcheck.report import SINGLE_FILE, clear_rendered_report

    (tmp_path / "allure-report").mkdir()
    (tmp_path / "allure-report" / "index.html").write_text("old", encoding="utf-8")
    (tmp_path / SINGLE_FILE).write_text("old", encoding="utf-8")
    (tmp_path / "history.jsonl").write_text("{}\n", encoding="utf-8")
    (tmp_path / "junit.xml").write_text("<testsuites/>", encoding="utf-8")
    clear_rendered_report(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.jsonl"]  # the trend stays
