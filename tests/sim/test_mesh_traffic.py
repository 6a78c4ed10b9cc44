"""The sim's proxy metrics follow the pods, held to tests/data/facts/linkerd-proxy.yml.

Each test reconciles the sim's Bookinfo under a pod fault, renders every running proxy's
/metrics with the mesh view of those pods (as the simulated stack serves them), and checks
what the real mesh records: a pod that is not Ready gets no requests and sends none, its
callers record no per-endpoint series for it but count their own failfast errors, and a
caller whose callee is down still answers its own callers with success.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from stackcheck.sim.content import load_content
from stackcheck.sim.controller import reconcile
from stackcheck.sim.endpoints import ProductPage
from stackcheck.sim.faults import build_spec
from stackcheck.sim.metrics import (
    Mesh,
    ProxyTarget,
    mesh_pods,
    proxy_running,
    render_metrics,
    workload_of,
)
from stackcheck.sim.store import ObjectStore

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"
MANIFESTS = [
    ROOT / "manifests/applications/bookinfo-with-linkerd.yml",
    ROOT / "manifests/applications/traffic-generator.yml",
]
BLOCK = "127.47"
Sample = tuple[str, dict[str, str], float]
_SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$")


def facts(name: str) -> dict[str, Any]:
    data = yaml.safe_load((FACTS / name).read_text(encoding="utf-8"))
    return {key: fact["value"] for key, fact in data["facts"].items()}


def parse(text: str) -> list[Sample]:
    out = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            out.append((match.group(1), labels, float(match.group(3))))
    return out


class Bookinfo:
    """The sim's Bookinfo under the given faults: each proxy's metrics, by workload."""

    def __init__(self, *faults: str) -> None:
        self.spec = build_spec(list(faults))
        self.store = ObjectStore()
        load_content(self.store, MANIFESTS, self.spec)
        reconcile(self.store, self.spec, BLOCK)
        self.pods = self.store.list_objects("v1", "Pod", "bookinfo")
        self.mesh = Mesh.of(mesh_pods(self.pods))
        self.targets = [
            ProxyTarget(
                "bookinfo",
                p["metadata"]["name"],
                "deployment",
                workload_of(p),
                p["status"]["podIP"],
            )
            for p in self.pods
            if proxy_running(p)
        ]

    def proxied(self) -> set[str]:
        return {t.workload_name for t in self.targets}

    def metrics(self, workload: str, elapsed: float = 60.0) -> list[Sample]:
        (target,) = [t for t in self.targets if t.workload_name == workload]
        return parse(render_metrics(target, self.targets, 1.7e9, elapsed, mesh=self.mesh))

    def pod_of(self, workload: str) -> str:
        (pod,) = [t.pod for t in self.targets if t.workload_name == workload]
        return pod


def request_count(samples: list[Sample], direction: str, **labels: str) -> float:
    return sum(
        value
        for name, got, value in samples
        if name == "request_total"
        and got.get("direction") == direction
        and all(got.get(k) == v for k, v in labels.items())
    )


def app_inbound(samples: list[Sample]) -> float:
    """Inbound requests from meshed callers (kubelet probes are plaintext)."""
    return request_count(samples, "inbound", tls="true")


def errors(samples: list[Sample]) -> dict[str, float]:
    return {
        labels["error"]: value
        for name, labels, value in samples
        if name == "outbound_http_errors_total"
    }


def test_healthy_mesh_every_pod_serves_and_no_proxy_fails_a_request() -> None:
    bookinfo = Bookinfo()
    for workload in bookinfo.proxied() - {"traffic-generator"}:
        assert app_inbound(bookinfo.metrics(workload)) > 0, workload
    for workload in bookinfo.proxied():
        assert errors(bookinfo.metrics(workload)) == {}, workload


@pytest.mark.parametrize(
    ("fault", "workload"),
    [
        ("crashloop-details", "details-v1"),
        ("not-ready-reviews", "reviews-v2"),
        ("proxy-not-ready", "reviews-v1"),
        ("image-pull-productpage", "productpage-v1"),
    ],
)
def test_a_pod_not_ready_gets_no_requests_and_sends_none(fault: str, workload: str) -> None:
    """ready-endpoints-only: its proxy runs (and is scraped) but sees no application traffic;
    no caller has a series to it."""
    assert facts("linkerd-proxy.yml")["ready-endpoints-only"]["skips"] == (
        "conditions.ready == false"
    )
    bookinfo = Bookinfo(fault)
    mine = bookinfo.metrics(workload)
    assert request_count(mine, "inbound", tls="true") == 0
    assert request_count(mine, "outbound") == 0
    pod = bookinfo.pod_of(workload)
    for caller in bookinfo.proxied():
        assert request_count(bookinfo.metrics(caller), "outbound", dst_pod=pod) == 0, caller


def test_other_replicas_of_the_service_keep_serving() -> None:
    bookinfo = Bookinfo("not-ready-reviews")
    page = bookinfo.metrics("productpage-v1")
    assert request_count(page, "outbound", dst_deployment="reviews-v1") > 0
    assert request_count(page, "outbound", dst_deployment="reviews-v3") > 0
    assert errors(page) == {}  # reviews still has endpoints
    assert app_inbound(bookinfo.metrics("ratings-v1")) > 0  # reviews-v3 still calls it


def test_callers_of_a_service_without_endpoints_fail_fast() -> None:
    """no-endpoints-failfast, outbound-error-metric, outbound-metrics-per-endpoint: the
    caller's proxy answers for the missing endpoints itself and counts that only in its
    error counter, by error kind, failfast once and then shed."""
    known = facts("linkerd-proxy.yml")
    metric = known["outbound-error-metric"]
    bookinfo = Bookinfo("crashloop-details")
    page = bookinfo.metrics("productpage-v1", elapsed=60.0)
    assert request_count(page, "outbound", dst_service="details") == 0
    assert not [
        labels
        for name, labels, _ in page
        if name.startswith("response_")
        and labels.get("direction") == "outbound"
        and labels.get("status_code") in {str(s) for s in known["no-endpoints-failfast"].values()}
    ], "per-endpoint series never hold the proxy's own failfast answers"
    counted = [(labels, value) for name, labels, value in page if name == metric["name"]]
    assert counted and all(sorted(labels) == metric["labels"] for labels, _ in counted)
    later = errors(bookinfo.metrics("productpage-v1", elapsed=120.0))
    assert errors(page)[metric["failfast"]] == later[metric["failfast"]] > 0
    assert 0 < errors(page)[metric["loadshed"]] < later[metric["loadshed"]]
    assert app_inbound(page) > 0  # the page itself is still asked for


def test_the_page_shows_the_details_error_while_details_has_no_endpoints() -> None:
    """no-endpoints-failfast: productpage gets 503/504, not 200, from its proxy, and renders
    the details error (bookinfo.yml details-error) with 200; its inbound stays success."""
    failfast = facts("linkerd-proxy.yml")["no-endpoints-failfast"]
    assert 200 not in failfast.values()
    marker = facts("bookinfo.yml")["details-error"][0]
    bookinfo = Bookinfo("crashloop-details")
    page = ProductPage(bookinfo.spec, lambda: bookinfo.pods)
    page.start()
    try:
        with requests.Session() as session:
            answer = session.get(page.url + "/productpage", timeout=5.0)
    finally:
        page.stop()
    assert answer.status_code == 200 and marker in answer.text
    inbound = [
        labels
        for name, labels, _ in bookinfo.metrics("productpage-v1")
        if name == "response_total" and labels["direction"] == "inbound"
    ]
    assert inbound and all(labels["classification"] == "success" for labels in inbound)


def test_reviews_answer_success_while_ratings_has_no_endpoints() -> None:
    """reviews-without-ratings; and a Pending pod runs no proxy: no metrics, no target."""
    assert facts("linkerd-proxy.yml")["reviews-without-ratings"]["status"] == 200
    bookinfo = Bookinfo("pending-ratings")
    assert "ratings-v1" not in bookinfo.proxied()
    for caller in ("reviews-v2", "reviews-v3"):
        samples = bookinfo.metrics(caller)
        assert app_inbound(samples) > 0
        assert request_count(samples, "outbound", dst_service="ratings") == 0
        assert set(errors(samples)) == {"failfast", "loadshed"}
        inbound = [
            labels
            for name, labels, _ in samples
            if name == "response_total" and labels["direction"] == "inbound"
        ]
        assert all(labels["classification"] == "success" for labels in inbound)
    assert errors(bookinfo.metrics("reviews-v1")) == {}  # v1 calls no ratings


def test_without_a_traffic_generator_nothing_flows() -> None:
    bookinfo = Bookinfo("traffic-generator-down")
    for workload in bookinfo.proxied():
        samples = bookinfo.metrics(workload)
        assert app_inbound(samples) == 0 and request_count(samples, "outbound") == 0, workload


def test_pods_without_a_proxy_still_count_as_endpoints() -> None:
    """A Service's endpoints are its Ready pods, meshed or not: unmeshed pods are named by
    their Deployment (the ReplicaSet less its pod-template-hash)."""
    bookinfo = Bookinfo("injector-down")
    assert bookinfo.targets == []
    workloads = {pod.workload for pod in bookinfo.mesh.pods}
    assert {"productpage-v1", "details-v1", "reviews-v2", "traffic-generator"} <= workloads
    assert bookinfo.mesh.has_endpoints("bookinfo", "details")
    assert bookinfo.mesh.is_active("bookinfo", bookinfo.pods[0]["metadata"]["name"])
