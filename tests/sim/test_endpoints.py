"""The simulated HTTP endpoints: productpage, Grafana, linkerd-proxy admin servers."""

from __future__ import annotations

import random
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from stackcheck.sim.endpoints import (
    DEFAULT_REVIEW_PODS,
    MEASURED_DETAILS_ERROR_BYTES,
    MEASURED_PAGE_BYTES,
    MEASURED_POD_NAME_LENGTH,
    MEASURED_REVIEWS_ERROR_BYTES,
    REVIEW_VERSIONS,
    Backends,
    Grafana,
    ProductPage,
    backends,
    productpage_length_range,
    render_productpage,
)
from stackcheck.sim.metrics import ProxyMetricsServers, ProxyTarget, render_metrics
from stackcheck.sim.spec import SimSpec

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 5.0


def get(url: str, **kwargs: object) -> requests.Response:
    with requests.Session() as session:
        return session.get(url, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def spec() -> SimSpec:
    return SimSpec()


@pytest.fixture
def productpage(spec: SimSpec) -> Iterator[ProductPage]:
    page = ProductPage(spec)
    page.start()
    yield page
    page.stop()


@pytest.fixture
def grafana(spec: SimSpec) -> Iterator[Grafana]:
    server = Grafana(spec)
    server.start()
    yield server
    server.stop()


# --- productpage ------------------------------------------------------------------------


def test_productpage_rotates_review_versions(productpage: ProductPage) -> None:
    answers = [get(productpage.url + "/productpage") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 6
    assert productpage.served == list(REVIEW_VERSIONS) * 2
    v1, v2, v3 = answers[:3]
    for answer, version in zip(answers, [*REVIEW_VERSIONS] * 2, strict=True):
        assert answer.text.startswith('\n<meta charset="utf-8">')
        assert "<!DOCTYPE" not in answer.text.upper() and "<html" not in answer.text
        assert "<title>Simple Bookstore App</title>" in answer.text
        assert "The Comedy of Errors" in answer.text
        assert "Book Details" in answer.text and "Book Reviews" in answer.text
        for field in ("ISBN-10", "Publisher", "Pages", "Type", "Language"):
            assert f">{field}</dt>" in answer.text
        assert "Reviewer1" in answer.text and "Reviewer2" in answer.text
        served_by = re.findall(r"Reviews served by:\s*(\S+)", answer.text)
        assert served_by == [DEFAULT_REVIEW_PODS[version]] * 2
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        assert int(answer.headers["Content-Length"]) == len(answer.content)
        assert answer.headers["Server"]
    assert "<svg" not in v1.text.split("Book Reviews")[1]
    assert "text-black-500" in v2.text and "text-red-500" not in v2.text
    assert "text-red-500" in v3.text
    assert len({len(v1.content), len(v2.content), len(v3.content)}) == 3


def test_page_sizes_are_the_measured_ones() -> None:
    """With a reviews pod name as long as the measured one's, every state is byte-exact."""
    pod = "reviews-v1-" + "a" * (MEASURED_POD_NAME_LENGTH - len("reviews-v1-"))
    for version, size in MEASURED_PAGE_BYTES.items():
        assert len(render_productpage(version, reviews_pod=pod)) == size
    assert len(render_productpage("v2", {"reviews"})) == MEASURED_REVIEWS_ERROR_BYTES
    assert len(render_productpage("v1", {"details"}, reviews_pod=pod)) == (
        MEASURED_DETAILS_ERROR_BYTES
    )


def test_each_pod_name_character_is_two_bytes() -> None:
    short = len(render_productpage("v2", reviews_pod="reviews-v2-abc-xyz"))
    longer = len(render_productpage("v2", reviews_pod="reviews-v2-abcdef-xyz"))
    assert longer - short == 2 * 3


def test_length_range_spans_the_review_versions() -> None:
    lengths = [len(render_productpage(v)) for v in REVIEW_VERSIONS]
    assert productpage_length_range() == (min(lengths), max(lengths))
    low, high = productpage_length_range()
    assert high - low > 5000  # stars make the difference, as on the real page


def test_stack_file_length_range_accepts_every_review_version() -> None:
    """stack.yml's productpage length range must hold for v1, v2 and v3 alike, or a healthy
    stack fails one request in three; and it must refuse the page with reviews failing."""
    stack = yaml.safe_load((ROOT / "stack.yml").read_text(encoding="utf-8"))
    endpoint = next(e for e in stack["endpoints"] if e["name"] == "productpage")
    length = endpoint["expect"].get("length")
    if length is None:
        pytest.skip("stack.yml sets no length for productpage")
    low, high = productpage_length_range()
    if isinstance(length, int):
        pytest.fail(f"an exact length ({length}) cannot hold for v1..v3 ({low}..{high} bytes)")
    assert length.get("min", 0) <= low and high <= length.get("max", high), (
        f"stack.yml expects {length}, the review versions render {low}..{high} bytes"
    )
    assert len(render_productpage("v1", {"reviews"})) < length.get("min", 0)


@pytest.mark.parametrize("section", ["details", "reviews"])
def test_productpage_section_error_still_answers_200(
    productpage: ProductPage, spec: SimSpec, section: str
) -> None:
    spec.productpage_errors.add(section)
    answer = get(productpage.url + "/productpage")
    assert answer.status_code == 200
    assert f"Error fetching product {section}" in answer.text
    assert f"Sorry, product {section} are currently unavailable for this book." in answer.text
    heading = "Book Details" if section == "details" else "Book Reviews"
    assert heading not in answer.text
    other = "Book Reviews" if section == "details" else "Book Details"
    assert other in answer.text


def test_productpage_status_and_padding_follow_the_spec(
    productpage: ProductPage, spec: SimSpec
) -> None:
    healthy = get(productpage.url + "/productpage")  # v1
    spec.productpage_padding = 7000
    for _ in range(2):
        get(productpage.url + "/productpage")  # v2, v3
    padded = get(productpage.url + "/productpage")  # v1 again
    assert len(padded.content) == len(healthy.content) + 7000
    spec.productpage_status = 500
    failed = get(productpage.url + "/productpage")
    assert failed.status_code == 500
    assert "Internal Server Error" in failed.text
    assert "Simple Bookstore App" not in failed.text


def _pod(app: str, version: str, name: str, ready: bool = True) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "namespace": "bookinfo",
            "labels": {"app": app, "version": version},
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_reviews_go_round_robin_over_ready_pods_and_name_them(spec: SimSpec) -> None:
    cluster = [
        _pod("details", "v1", "details-v1-79dfbd6fff-8qdfx"),
        _pod("reviews", "v1", "reviews-v1-5c5b7b9f8d-9wr2x"),
        _pod("reviews", "v2", "reviews-v2-65cb66b45c-m7kqj", ready=False),
        _pod("reviews", "v3", "reviews-v3-7d6b8f9d4c-tq5zn"),
    ]
    page = ProductPage(spec, lambda: cluster)
    page.start()
    try:
        answers = [get(page.url + "/productpage").text for _ in range(4)]
        served = [re.findall(r"Reviews served by:\s*(\S+)", text)[0] for text in answers]
        assert served == ["reviews-v1-5c5b7b9f8d-9wr2x", "reviews-v3-7d6b8f9d4c-tq5zn"] * 2
        assert page.served == ["v1", "v3"] * 2
        cluster[:] = [_pod("reviews", "v1", "reviews-v1-5c5b7b9f8d-9wr2x", ready=False)]
        broken = get(page.url + "/productpage")
        assert broken.status_code == 200
        assert "Error fetching product details" in broken.text
        assert "Error fetching product reviews" in broken.text
    finally:
        page.stop()


def test_backends_read_the_bookinfo_pods() -> None:
    cluster = [
        _pod("reviews", "v2", "reviews-v2-b"),
        _pod("reviews", "v1", "reviews-v1-a"),
        _pod("ratings", "v1", "ratings-v1-c"),
    ]
    assert backends(cluster) == Backends(False, (("v1", "reviews-v1-a"), ("v2", "reviews-v2-b")))


def test_productpage_health_and_index(productpage: ProductPage) -> None:
    health = get(productpage.url + "/health")
    assert (health.status_code, health.text) == (200, "Product page is healthy")
    index = get(productpage.url + "/")
    assert index.status_code == 200
    assert "/productpage?u=normal" in index.text
    assert get(productpage.url + "/nope").status_code == 404


def test_transient_errors_answer_503(
    productpage: ProductPage, grafana: Grafana, spec: SimSpec
) -> None:
    spec.http_transient_error_rate = 1.0
    assert get(productpage.url + "/health").status_code == 503
    assert get(grafana.url + "/api/health").status_code == 503
    spec.http_transient_error_rate = 0.0
    assert get(productpage.url + "/health").status_code == 200


def test_start_stop_idempotent_and_leave_nothing_behind(spec: SimSpec) -> None:
    before = {t.ident for t in threading.enumerate()}
    page = ProductPage(spec)
    url = page.start()
    assert page.start() == url
    port = int(url.rsplit(":", 1)[1])
    page.stop()
    page.stop()
    assert {t.ident for t in threading.enumerate()} <= before
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1.0)
        probe.connect(("127.0.0.1", port))


# --- Grafana ------------------------------------------------------------------------------


def test_grafana_redirects_anonymous_users_to_login(grafana: Grafana) -> None:
    answer = get(grafana.url + "/", allow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login"
    assert answer.text == '<a href="/login">Found</a>.\n\n'
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "deny"
    assert "X-Xss-Protection" in answer.headers
    assert "redirect_to=%2F; Path=/; HttpOnly; SameSite=Lax" in answer.headers["Set-Cookie"]
    assert "grafana_session" not in answer.headers["Set-Cookie"]
    login = get(grafana.url + "/login")
    assert login.status_code == 200 and "<title>Grafana</title>" in login.text


def test_grafana_redirect_target_and_anonymous_access(grafana: Grafana, spec: SimSpec) -> None:
    spec.grafana_redirect = "/signup"
    assert get(grafana.url + "/", allow_redirects=False).headers["Location"] == "/signup"
    spec.grafana_anonymous = True
    home = get(grafana.url + "/", allow_redirects=False)
    assert home.status_code == 200
    assert "<title>Grafana</title>" in home.text


def test_grafana_health_and_api(grafana: Grafana, spec: SimSpec) -> None:
    health = get(grafana.url + "/api/health")
    assert health.status_code == 200
    data = health.json()
    assert data["database"] == "ok" and data["version"].startswith("11.") and data["commit"]
    spec.grafana_database = "failing"
    failing = get(grafana.url + "/api/health")
    assert failing.status_code == 503 and failing.json()["database"] == "failing"
    api = get(grafana.url + "/api/dashboards/home")
    assert api.status_code == 401 and api.json()["message"] == "Unauthorized"


def test_grafana_plants_the_secret_in_a_session_cookie(grafana: Grafana, spec: SimSpec) -> None:
    spec.planted_secrets = ["planted-0123456789abcdef"]
    answer = get(grafana.url + "/", allow_redirects=False)
    cookies = answer.raw.headers.getlist("Set-Cookie")
    assert any(c.startswith("grafana_session=planted-0123456789abcdef;") for c in cookies)
    assert any(c.startswith("redirect_to=") for c in cookies)


# --- linkerd-proxy admin servers ----------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """A strict-enough parser for the text format (prometheus_client is not installed)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or re.match(r"^# (HELP|TYPE) \S+ .+$", line), line
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = dict(_LABEL.findall(match.group(3) or ""))
        samples.append((match.group(1), labels, float(match.group(4))))
    return samples


@pytest.fixture
def loopback_block() -> Iterator[str]:
    """A 127.<b> block no other sim uses (we hold one of its addresses, as stack.py does)."""
    for b in random.sample(range(2, 250), 40):
        lease = socket.socket()
        try:
            lease.bind((f"127.{b}.255.254", 4191))
        except OSError:
            lease.close()
            continue
        with lease:
            yield f"127.{b}"
        return
    pytest.fail("no free loopback block")


def _targets(block: str) -> list[ProxyTarget]:
    return [
        ProxyTarget(
            "bookinfo",
            "productpage-v1-6b746f74dc-9stvs",
            "deployment",
            "productpage-v1",
            f"{block}.0.2",
        ),
        ProxyTarget(
            "bookinfo", "reviews-v2-7bf8c9648f-xs8kd", "deployment", "reviews-v2", f"{block}.0.3"
        ),
        ProxyTarget(
            "bookinfo", "ratings-v1-5f9699cfdf-6lpzj", "deployment", "ratings-v1", f"{block}.0.4"
        ),
    ]


def test_proxy_metrics_text_and_labels(spec: SimSpec, loopback_block: str) -> None:
    targets = _targets(loopback_block)
    servers = ProxyMetricsServers(spec)
    urls = servers.start(targets)
    try:
        assert servers.start(targets) == urls
        url = urls[targets[0].pod]
        assert url == f"http://{targets[0].pod_ip}:4191"
        answer = get(url + "/metrics")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        samples = parse_metrics(answer.text)
        names = {name for name, _, _ in samples}
        assert {
            "request_total",
            "response_total",
            "response_latency_ms_bucket",
            "response_latency_ms_sum",
            "response_latency_ms_count",
            "tcp_open_total",
            "process_start_time_seconds",
        } <= names
        inbound = [
            labels
            for name, labels, _ in samples
            if name == "request_total" and labels["direction"] == "inbound"
        ]
        assert inbound and inbound[0]["tls"] == "true"
        assert inbound[0]["authority"] == "productpage.bookinfo.svc.cluster.local:9080"
        assert inbound[0]["srv_kind"] and inbound[0]["target_addr"]
        outbound = [
            labels
            for name, labels, _ in samples
            if name == "request_total" and labels["direction"] == "outbound"
        ]
        assert {o["dst_deployment"] for o in outbound} == {"reviews-v2"}  # details not running
        assert all("namespace" not in labels and "pod" not in labels for _, labels, _ in samples), (
            "target labels come from the scrape config"
        )
        responses = [labels for name, labels, _ in samples if name == "response_total"]
        assert all(
            r["classification"] == "success" and r["status_code"] == "200" for r in responses
        )
        assert get(url + "/ready").text == "ready\n"
        assert get(url + "/live").text == "live\n"

        servers.set_down({targets[1].pod})
        assert get(urls[targets[1].pod] + "/metrics").status_code == 500
        assert get(url + "/metrics").status_code == 200
        spec.proxy_metrics = False
        bare = {name for name, _, _ in parse_metrics(get(url + "/metrics").text)}
        assert "request_total" not in bare and "response_total" not in bare
        assert "process_start_time_seconds" in bare
    finally:
        servers.stop()
        servers.stop()
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1.0)
        probe.connect((targets[0].pod_ip, 4191))


def test_proxy_counters_grow_with_time() -> None:
    target = ProxyTarget("bookinfo", "details-v1-1", "deployment", "details-v1", "127.9.0.2")

    def total(elapsed: float) -> float:
        text = render_metrics(target, [target], 1.7e9, elapsed)
        return sum(v for n, _, v in parse_metrics(text) if n == "request_total")

    assert total(0) < total(30) < total(300)
