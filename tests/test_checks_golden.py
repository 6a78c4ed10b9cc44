"""Golden-signal queries and judgements.

The query strings are linkerd2 stable-2.14.10's (viz/metrics-api/stat_summary.go `reqQuery`,
`latencyQuantileQuery`, with `buildRequestLabels`' inbound labels for deployments), and each
must parse as PromQL (promql-parser, the Rust parser's Python binding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from stackcheck.checks import golden
from stackcheck.checks.golden import Signals, Slo
from stackcheck.checks.model import Status
from tests.kubefakes import real_stack

Obj = dict[str, Any]
DEPLOYMENTS = ["productpage-v1", "reviews-v2"]


def test_queries_are_linkerds() -> None:
    assert golden.requests_query("bookinfo", "1m") == (
        'sum(increase(response_total{direction="inbound", namespace="bookinfo"}[1m])) '
        "by (namespace, deployment, classification, tls, authority, route_kind, route_name, "
        "authz_kind, authz_name)"
    )
    assert golden.latency_query("bookinfo", "1m") == (
        'histogram_quantile(0.95, sum(irate(response_latency_ms_bucket{direction="inbound", '
        'namespace="bookinfo"}[1m])) by (le, namespace, deployment))'
    )


@pytest.mark.parametrize(
    "query",
    [
        golden.requests_query("bookinfo", "8s"),
        golden.latency_query("bookinfo", "1m", 0.99),
    ],
)
def test_queries_parse_as_promql(query: str) -> None:
    expr = promql_parser.parse(query)
    assert "response_" in str(expr)


def test_a_window_is_a_promql_duration() -> None:
    assert golden.duration_seconds("1m") == 60 and golden.duration_seconds("30s") == 30
    with pytest.raises(ValueError, match="not a duration"):
        golden.duration_seconds("1 minute")


def instant(*samples: tuple[Obj, float]) -> Obj:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": metric, "value": [1764421638.1, str(value)]} for metric, value in samples
            ],
        },
    }


def _requests(deployment: str, classification: str, tls: str, value: float) -> tuple[Obj, float]:
    return (
        {
            "namespace": "bookinfo",
            "deployment": deployment,
            "classification": classification,
            "tls": tls,
        },
        value,
    )


REQUESTS = instant(
    _requests("productpage-v1", "success", "true", 300.0),
    _requests("reviews-v2", "success", "true", 240.0),
    _requests("reviews-v2", "failure", "true", 60.0),
    _requests("other-ns-deploy", "success", "true", 5.0),
)
LATENCY = instant(
    ({"namespace": "bookinfo", "deployment": "productpage-v1"}, 47.6),
    ({"namespace": "bookinfo", "deployment": "reviews-v2"}, float("nan")),
)


def test_measure_adds_up_linkerds_groups() -> None:
    page, reviews = golden.measure(DEPLOYMENTS, REQUESTS, LATENCY, "1m")
    assert (page.requests, page.successes, page.mtls, page.p95_ms) == (300, 300, 300, 47.6)
    assert page.rps == 5.0 and page.success_rate == 1.0 and page.mtls_share == 1.0
    assert reviews.success_rate == 0.8 and reviews.p95_ms is None


def test_judges_name_the_deployment_and_the_values() -> None:
    slo = Slo()
    page, reviews = golden.measure(DEPLOYMENTS, REQUESTS, LATENCY, "1m")
    assert golden.judge(page, slo).status is Status.PASSED
    finding = golden.judge_success_rate(reviews, slo)
    assert finding.status is Status.FAILED
    assert finding.reasons == (
        "deployment reviews-v2: success rate 80.00% < SLO 99.00% "
        "(60 of 300 responses failed in 1m)",
    )
    unmeasured = golden.judge_latency(reviews, slo)
    assert unmeasured.status is Status.WARNING  # requests, but no bucket moved: not judged
    assert unmeasured.reasons[0].endswith("no latency histogram in the last 1m: p95 not judged")


def test_slow_and_plaintext_fail_unless_allowed() -> None:
    slow = Signals("ratings-v1", 300, 300, 300, 60, 950.0)
    assert golden.judge_latency(slow, Slo()).reasons == (
        "deployment ratings-v1: p95 latency 950 ms > bound 500 ms",
    )
    plain = Signals("details-v1", 300, 300, 0, 60, 40.0)
    assert golden.judge_mtls(plain, Slo()).status is Status.FAILED
    allowed = Slo(plaintext_allowed=(("details-v1", "called from outside the mesh"),))
    finding = golden.judge_mtls(plain, allowed)
    assert finding.status is Status.PASSED
    assert finding.summary.endswith(
        "; deployment details-v1: 100.0% of inbound responses "
        "(300 of 300) without mTLS: allowed (called from outside "
        "the mesh)"
    )
    combined = golden.judge(plain, allowed)
    assert combined.status is Status.PASSED and "allowed (called from" in combined.summary


def test_no_traffic_fails_the_request_rate_and_judges_nothing_else() -> None:
    (idle,) = golden.measure(["details-v1"], instant(), instant(), "1m")
    rate = golden.judge_request_rate(idle, Slo())
    assert rate.status is Status.FAILED
    assert rate.reasons[0].startswith(
        "deployment details-v1: no inbound requests in the last "
        "1m (is the traffic generator running"
    )
    for judge in (golden.judge_success_rate, golden.judge_latency, golden.judge_mtls):
        finding = judge(idle, Slo())
        assert finding.status is Status.PASSED
        assert finding.summary == "details-v1: not judged: no traffic in the last 1m"
    combined = golden.judge(idle, Slo())
    assert combined.status is Status.FAILED and combined.failures == rate.failures
    assert combined.summary.endswith("success rate, latency and mTLS not judged")


def test_the_table_reads_at_a_glance() -> None:
    measured = golden.measure(DEPLOYMENTS, REQUESTS, LATENCY, "1m")
    markdown = golden.render_table(measured, Slo())
    assert "| productpage-v1 | 5.00 | 100.0% | 48 ms | 100% | passed |" in markdown
    assert "| reviews-v2 | 5.00 | 80.0% | no data | 100% | failed |" in markdown
    assert markdown.startswith("Golden signals over 1m (SLO: success >= 99.00%, p95 <= 500 ms")
    plain = golden.render_table(measured, Slo(), markdown=False).splitlines()
    assert plain[2].split() == ["Deployment", "Requests/s", "Success", "p95", "mTLS", "Verdict"]
    assert plain[4].split() == ["reviews-v2", "5.00", "80.0%", "no", "data", "100%", "failed"]


def test_one_check_per_deployment_carries_the_table_on_pass() -> None:
    stack = real_stack()
    checks = {c.id: c for c in golden.golden_checks(stack)}
    assert sorted(checks) == sorted(
        f"golden.signals[{d}]"
        for d in (
            "productpage-v1",
            "details-v1",
            "ratings-v1",
            "reviews-v1",
            "reviews-v2",
            "reviews-v3",
        )
    )
    check = checks["golden.signals[reviews-v2]"]
    requests, latency = check.reads
    assert requests.args == (golden.requests_query("bookinfo", stack.slo.window),)
    result = check.evaluate({requests: REQUESTS, latency: LATENCY})
    assert result.status is Status.FAILED
    assert result.failures[0].startswith("deployment reviews-v2: success rate 80.00%")
    assert [e.media_type for e in result.evidence] == ["text/markdown", "text/html", "text/csv"]
    assert all(e.on_pass for e in result.evidence)
    csv_lines = result.evidence[2].text.splitlines()
    assert csv_lines[0] == "Deployment,Requests/s,Success,p95,mTLS,Verdict"
    assert "reviews-v2,5.00,80.0%,no data,100%,failed" in csv_lines
    assert "<td>productpage-v1</td>" in result.evidence[1].text


# ----------------------------------------------------------------------------------------
# the kubelet's probes (tests/data/facts/linkerd-proxy.yml)
# ----------------------------------------------------------------------------------------

PROXY_FACTS = Path(__file__).parent / "data" / "facts" / "linkerd-proxy.yml"


def proxy_fact(key: str) -> Any:
    return yaml.safe_load(PROXY_FACTS.read_text(encoding="utf-8"))["facts"][key]["value"]


def probe_labels() -> Obj:
    """A kubelet probe's labels, from the facts: the built-in probe route and authorization,
    plaintext, and no `authority` (its Host is the pod's address)."""
    route = proxy_fact("probe-route")
    assert proxy_fact("inbound-http-labels")["authority"] == "named hosts only"
    assert proxy_fact("kubelet-probe-request")["host"] == "<pod IP>:<port>"
    return {
        **{f"route_{k}": route["probe_route"][k] for k in ("kind", "name")},
        **{f"authz_{k}": route["probe_authz"][k] for k in ("kind", "name")},
        "tls": proxy_fact("inbound-http-labels")["plaintext"]["tls"],
    }


def test_probes_are_told_apart_by_the_facts_labels() -> None:
    probe = probe_labels()
    assert golden.is_probe(probe)
    assert set(golden.PROBE_LABELS) | {"tls"} == set(probe)
    assert not golden.is_probe({**probe, "authority": "details.bookinfo.svc.cluster.local:9080"})
    assert not golden.is_probe({**probe, "tls": "true"})  # a meshed caller on a probe path
    assert not golden.is_probe({**probe, "route_name": "default"})
    assert not golden.is_probe({**probe, "authz_name": "all-unauthenticated"})
    group = golden.requests_query("bookinfo", "1m").rsplit("by (", 1)[1]
    assert all(label in group for label in [*golden.PROBE_LABELS, "authority", "tls"])


def details(mtls: float, plaintext: float, probes: float) -> Signals:
    authority = {"authority": "details.bookinfo.svc.cluster.local:9080"}
    requests = instant(
        # meshed callers GET the probe path: on the probe route too, but over mTLS
        (probe_labels() | _requests("details-v1", "success", "true", 0)[0] | authority, mtls),
        (_requests("details-v1", "success", "no_identity", 0)[0] | authority, plaintext),
        (_requests("details-v1", "success", "no_identity", 0)[0] | probe_labels(), probes),
    )
    latency = instant(({"namespace": "bookinfo", "deployment": "details-v1"}, 20.0))
    (signals,) = golden.measure(["details-v1"], requests, latency, "1m")
    return signals


def test_probes_are_left_out_of_the_mtls_share_and_the_rate() -> None:
    healthy = details(mtls=300, plaintext=0, probes=6)  # 5 rps meshed, a probe every 10 s
    assert healthy.mtls_share == 1.0 and healthy.rps == 5.0
    assert healthy.success_rate == 1.0 and healthy.requests == 306  # as viz stat counts
    finding = golden.judge(healthy, Slo())
    assert finding.status is Status.PASSED
    assert finding.summary == (
        "details-v1: 5.00 rps, 100.00% success, p95 20 ms, 100% mTLS (kubelet probes left out: 6)"
    )
    assert golden.judge_mtls(healthy, Slo()).summary.endswith(
        "100.0% of inbound responses over mTLS (kubelet probes left out: 6)"
    )


def test_plaintext_callers_still_fail_beside_the_probes() -> None:
    plain = details(mtls=0, plaintext=300, probes=6)
    finding = golden.judge_mtls(plain, Slo())
    assert finding.status is Status.FAILED
    assert finding.reasons == (
        "deployment details-v1: 100.0% of inbound responses (300 of 300) without mTLS "
        "(kubelet probes left out: 6)",
    )
    some = details(mtls=270, plaintext=30, probes=6)
    assert golden.judge_mtls(some, Slo()).status is Status.FAILED


def test_probes_alone_are_no_traffic() -> None:
    """Without the traffic generator the kubelet still probes: that is no traffic."""
    idle = details(mtls=0, plaintext=0, probes=6)
    finding = golden.judge(idle, Slo())
    assert finding.status is Status.FAILED
    assert finding.failures == (
        "deployment details-v1: no inbound requests in the last 1m besides 6 kubelet probes "
        "(is the traffic generator running and meshed?)",
    )


def test_failing_probes_count_in_the_success_rate() -> None:
    """As `viz stat` has it: a probe answered 5xx is a failed response."""
    requests = instant(
        _requests("details-v1", "success", "true", 300),
        (_requests("details-v1", "failure", "no_identity", 0)[0] | probe_labels(), 6),
    )
    (signals,) = golden.measure(["details-v1"], requests, instant(), "1m")
    assert signals.success_rate == pytest.approx(300 / 306)
    assert golden.judge_success_rate(signals, Slo()).status is Status.FAILED


def test_the_requests_query_counts_probes_as_viz_stat_does() -> None:
    """`viz stat` has no route or tls matcher (its success rate and latency include the
    probes) and reads no `tls`: the mTLS share is this check's own."""
    fact = proxy_fact("viz-stat-counts-probes")
    query = golden.requests_query("bookinfo", "1m")
    selector = query.split("{", 1)[1].split("}", 1)[0]
    assert sorted(term.split("=")[0] for term in selector.split(", ")) == sorted(fact["matchers"])
    assert f"by ({', '.join(fact['group_by'])}, " in query  # grouped finer: the same sums
    assert fact["tls_used"] is False


def test_float_sums_of_the_same_counters_are_not_plaintext_traffic() -> None:
    """The bench's healthy sim once went red with "0.0% of inbound responses (0 of 32)
    without mTLS": Prometheus's increase() values summed two ways differed in the last bits."""
    # all 32.64 responses summed at once; the mTLS ones (32) summed apart, a bit short
    noisy = Signals("ratings-v1", 32.64, 32.64, 31.999999999999996, 60, 48.0, probes=0.64)
    assert noisy.plaintext == 0.0
    assert golden.judge_mtls(noisy, Slo()).status is Status.PASSED
    one_plain = Signals("ratings-v1", 33.64, 33.64, 32.0, 60, 48.0, probes=0.64)
    finding = golden.judge_mtls(one_plain, Slo())
    assert finding.status is Status.FAILED
    assert "(1 of 33) without mTLS" in finding.reasons[0]


def test_plaintext_naming_no_host_off_the_probe_route_is_a_warning() -> None:
    """Probes under a Server's own HTTPRoutes leave the probe route but still name no host,
    as a client outside the mesh calling the pod's address does: unsure, so a warning."""
    authority = {"authority": "details.bookinfo.svc.cluster.local:9080"}
    plain = _requests("details-v1", "success", "no_identity", 0)[0]
    off_route = plain | probe_labels() | {"route_kind": "HTTPRoute", "route_name": "details-routes"}
    meshed = (_requests("details-v1", "success", "true", 0)[0] | authority, 300.0)
    unnamed = instant(meshed, (off_route, 6.0))
    latency = instant(({"namespace": "bookinfo", "deployment": "details-v1"}, 20.0))
    (signals,) = golden.measure(["details-v1"], unnamed, latency, "1m")
    finding = golden.judge_mtls(signals, Slo())
    assert finding.status is Status.WARNING
    assert finding.warnings[0].startswith(
        "deployment details-v1: 2.0% of inbound responses (6 of 306) without mTLS, none "
        "naming a host"
    )
    named = {**off_route, **authority}  # a caller naming the Service: surely not a probe
    mixed = instant(meshed, (off_route, 6.0), (named, 3.0))
    (signals,) = golden.measure(["details-v1"], mixed, latency, "1m")
    assert golden.judge_mtls(signals, Slo()).status is Status.FAILED
