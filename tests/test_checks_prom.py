"""prometheus.scrape-job / prometheus.query: the problems found in Prometheus's
/api/v1/targets and /api/v1/query answers, and the Probes verdicts read through the API
server's service proxy (a fake Kube)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stackcheck.checks.model import Result, Status
from stackcheck.checks.prom import query_problems, scrape_job_problems
from stackcheck.kube import ApiFailure
from stackcheck.stackfile import Query, ScrapeJob
from tests.kubefakes import FakeKube, Obj, evaluate, from_yaml

# One active target of a kube-prometheus-stack PodMonitor, as /api/v1/targets lists it.
PROXY_TARGET = from_yaml("""
discoveredLabels:
  __address__: 10.244.0.27:4191
  __meta_kubernetes_namespace: bookinfo
  __meta_kubernetes_pod_container_name: linkerd-proxy
  __meta_kubernetes_pod_container_port_name: linkerd-admin
  __meta_kubernetes_pod_name: reviews-v2-b7dcd98fb-k4mzq
  __metrics_path__: /metrics
  __scheme__: http
  job: podMonitor/monitoring/linkerd-proxy/0
labels:
  container: linkerd-proxy
  endpoint: linkerd-admin
  instance: 10.244.0.27:4191
  job: linkerd-proxy
  namespace: bookinfo
  pod: reviews-v2-b7dcd98fb-k4mzq
scrapePool: podMonitor/monitoring/linkerd-proxy/0
scrapeUrl: http://10.244.0.27:4191/metrics
globalUrl: http://10.244.0.27:4191/metrics
lastError: ""
lastScrape: "2024-11-20T08:20:31.123456789Z"
lastScrapeDuration: 0.004213
health: up
scrapeInterval: 10s
scrapeTimeout: 10s
""")
REFUSED = (
    'Get "http://10.244.0.40:4191/metrics": dial tcp 10.244.0.40:4191: connect: connection refused'
)
LINKERD_PROXY = ScrapeJob("linkerd-proxy", 7)
MESHED_REQUESTS = Query(
    "bookinfo-meshed-requests",
    'sum by (namespace) (request_total{namespace="bookinfo", direction="inbound", tls="true"})',
    1,
)


def target(
    pod: str,
    ip: str,
    health: str = "up",
    error: str = "",
    job: str = "linkerd-proxy",
    namespace: str = "bookinfo",
) -> Obj:
    item = copy.deepcopy(PROXY_TARGET)
    url = f"http://{ip}:4191/metrics"
    item["labels"].update(pod=pod, instance=f"{ip}:4191", job=job, namespace=namespace)
    item["discoveredLabels"].update(
        {"__address__": f"{ip}:4191", "__meta_kubernetes_pod_name": pod}
    )
    item.update(scrapeUrl=url, globalUrl=url, health=health, lastError=error)
    return item


def bookinfo_targets(count: int = 7) -> list[Obj]:
    return [target(f"bookinfo-pod-{i}", f"10.244.0.{20 + i}") for i in range(count)]


def targets_answer(*targets: Obj) -> Obj:
    return {"status": "success", "data": {"activeTargets": list(targets), "droppedTargets": []}}


def vector_answer(series: int) -> Obj:
    result = [
        {"metric": {"namespace": "bookinfo"}, "value": [1732091231.5, str(1200 + i)]}
        for i in range(series)
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


# --- scrape jobs ---------------------------------------------------------------------------
def test_enough_targets_all_up_passes() -> None:
    assert scrape_job_problems(LINKERD_PROXY, targets_answer(*bookinfo_targets(7))) == []


def test_too_few_targets_names_the_job_count_and_pool() -> None:
    problems = scrape_job_problems(LINKERD_PROXY, targets_answer(*bookinfo_targets(6)))
    assert problems == [
        "job='linkerd-proxy' has 6 target(s) up, expected at least 7 "
        "(scrape pool podMonitor/monitoring/linkerd-proxy/0)"
    ]


def test_a_down_target_fails_even_with_enough_up() -> None:
    down = target("traffic-generator-6f8d9c5b7-r5tsg", "10.244.0.40", "down", REFUSED)
    problems = scrape_job_problems(LINKERD_PROXY, targets_answer(*bookinfo_targets(7), down))
    assert problems == [
        "down target of job linkerd-proxy: bookinfo/traffic-generator-6f8d9c5b7"
        f"-r5tsg (http://10.244.0.40:4191/metrics): {REFUSED}"
    ]


def test_down_targets_below_the_minimum_give_both_problems() -> None:
    down = target("traffic-generator-6f8d9c5b7-r5tsg", "10.244.0.40", "down", REFUSED)
    problems = scrape_job_problems(LINKERD_PROXY, targets_answer(*bookinfo_targets(6), down))
    assert problems[0].startswith("job='linkerd-proxy' has 6 target(s) up, expected at least 7")
    assert "traffic-generator-6f8d9c5b7-r5tsg" in problems[1]


def test_missing_job_lists_the_jobs_seen() -> None:
    others = [
        target(
            "linkerd-identity-5f7d8b9c6-abcde",
            "10.244.0.9",
            job="linkerd-controller",
            namespace="linkerd",
        ),
        target(
            "prometheus-kube-state-metrics-7c8d9-xyz12",
            "10.244.0.5",
            job="kube-state-metrics",
            namespace="monitoring",
        ),
    ]
    problems = scrape_job_problems(LINKERD_PROXY, targets_answer(*others))
    assert problems == [
        "no active target has job='linkerd-proxy' (jobs seen: "
        "kube-state-metrics, linkerd-controller)"
    ]


def test_prometheus_error_answer_raises_with_its_text() -> None:
    error = {"status": "error", "errorType": "unavailable", "error": "TSDB not ready"}
    with pytest.raises(ValueError, match="targets: Prometheus answered 'error': TSDB not ready"):
        scrape_job_problems(LINKERD_PROXY, error)


# --- queries -------------------------------------------------------------------------------
def test_query_with_enough_series_passes() -> None:
    assert query_problems(MESHED_REQUESTS, vector_answer(1)) == []


def test_query_without_series_names_the_promql() -> None:
    assert query_problems(MESHED_REQUESTS, vector_answer(0)) == [
        f"{MESHED_REQUESTS.promql!r} returned 0 series, expected at least 1"
    ]


def test_query_error_answer_raises_naming_the_query() -> None:
    error = {"status": "error", "errorType": "bad_data", "error": "1:1: parse error"}
    with pytest.raises(ValueError, match="query 'sum by"):
        query_problems(MESHED_REQUESTS, error)


# --- the probes, through the API server's service proxy ------------------------------------
class PrometheusKube(FakeKube):
    """Answers service-proxy GETs with a canned Prometheus answer (or an ApiFailure)."""

    def __init__(self, answer: Obj | ApiFailure) -> None:
        super().__init__()
        self.answer = answer
        self.proxied: list[tuple[str, int, str]] = []

    def service_proxy(
        self, service: str, port: int, path: str, query: list[tuple[str, str]] | None = None
    ) -> Obj:
        self.proxied.append((service, port, path))
        if isinstance(self.answer, ApiFailure):
            raise self.answer
        return self.answer


def prom_verdict(check: str, name: str, answer: Obj | ApiFailure) -> tuple[Result, Any]:
    kube = PrometheusKube(answer)
    check_id = (
        f"prometheus.scrape-job[{name}]" if check == "scrape" else f"prometheus.query[{name}]"
    )
    return evaluate(check_id, kube=kube), kube


def test_scrape_probe_reads_targets_through_the_service_proxy() -> None:
    verdict, kube = prom_verdict("scrape", "linkerd-proxy", targets_answer(*bookinfo_targets()))
    assert verdict.status is Status.PASSED, verdict.reason
    # once; the other checks' Prometheus reads (queries, alerts, rules) are prefetched too
    assert (
        kube.proxied.count(
            ("monitoring/prometheus-kube-prometheus-prometheus", 9090, "/api/v1/targets")
        )
        == 1
    )


def test_scrape_probe_failure_names_the_job() -> None:
    verdict, _ = prom_verdict("scrape", "linkerd-proxy", targets_answer(*bookinfo_targets(2)))
    assert verdict.status is Status.FAILED
    assert verdict.summary == "2 target(s) for job linkerd-proxy"
    assert "job='linkerd-proxy' has 2 target(s) up, expected at least 7" in verdict.reason


def test_scrape_evidence_is_whole_json_of_the_targets_not_up() -> None:
    targets = bookinfo_targets()
    for target in targets[:3]:
        target.update(health="down", lastError="connection refused")
    verdict, _ = prom_verdict("scrape", "linkerd-proxy", targets_answer(*targets))
    (evidence,) = verdict.evidence
    assert evidence.media_type == "application/json"
    summary = json.loads(evidence.text)  # valid: summarised, never cut
    assert (summary["targets"], summary["up"], len(summary["down"])) == (
        len(targets),
        len(targets) - 3,
        3,
    )
    assert all(t["health"] == "down" for t in summary["down"])


def test_scrape_probe_reports_an_unreachable_prometheus() -> None:
    failure = ApiFailure(
        "GET /api/v1/namespaces/monitoring/services/"
        "prometheus-kube-prometheus-prometheus:9090/proxy/api/v1/targets: "
        "503 Service Unavailable: no endpoints available",
        503,
    )
    verdict, _ = prom_verdict("scrape", "linkerd-proxy", failure)
    assert verdict.failures == (failure.reason,)


def test_query_probe_passes_and_fails_on_series_count() -> None:
    passed, _ = prom_verdict("query", "bookinfo-meshed-requests", vector_answer(1))
    assert passed.status is Status.PASSED
    verdict, _ = prom_verdict("query", "bookinfo-meshed-requests", vector_answer(0))
    assert verdict.status is Status.FAILED
    assert "returned 0 series, expected at least 1" in verdict.reason
