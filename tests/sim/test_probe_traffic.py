"""The kubelet's probes in the sim's proxy metrics, held to tests/data/facts/linkerd-proxy.yml
(probes-through-inbound-proxy, kubelet-probe-request, probe-route, inbound-http-labels,
server-http-routes, policy-resource-labels) and tests/data/facts/bookinfo.yml (call-paths).

Each test reconciles the sim's Bookinfo from our manifests and renders the proxies' /metrics
as the simulated stack serves them: the probes of each pod's spec reach its inbound proxy at
their period, in plaintext, with no `authority`, on the policy controller's probe route.
"""

from __future__ import annotations

from typing import Any

import pytest

from stackcheck.sim import metrics
from stackcheck.sim.metrics import (
    CALL_PATHS,
    http_probes,
    render_metrics,
    service_of,
    traffic_shape,
)
from tests.sim.test_mesh_traffic import Bookinfo, Sample, facts, parse

Obj = dict[str, Any]
APPS = ("productpage-v1", "details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3")
POLICY = ("srv", "route", "authz")


@pytest.fixture(scope="module")
def bookinfo() -> Bookinfo:
    return Bookinfo()


def inbound(samples: list[Sample], name: str = "request_total") -> list[tuple[Obj, float]]:
    return [
        (labels, v) for n, labels, v in samples if n == name and labels["direction"] == "inbound"
    ]


def probe_series(samples: list[Sample], name: str = "request_total") -> list[tuple[Obj, float]]:
    return [(labels, v) for labels, v in inbound(samples, name) if "authority" not in labels]


def spec_probes(bookinfo: Bookinfo, workload: str) -> list[Obj]:
    """The app containers' HTTP liveness/readiness probes, read from the pod spec."""
    (pod,) = [p for p in bookinfo.pods if p["metadata"]["name"] == bookinfo.pod_of(workload)]
    skipped = set(
        facts("linkerd-proxy.yml")["probes-through-inbound-proxy"]["skipped_inbound_ports"]
    )
    return [
        c[key]["httpGet"] | {"period": c[key].get("periodSeconds", 10)}
        for c in pod["spec"]["containers"]
        for key in ("livenessProbe", "readinessProbe")
        if "httpGet" in c.get(key, {}) and c[key]["httpGet"]["port"] not in skipped
    ]


@pytest.mark.parametrize("workload", APPS)
def test_each_probe_of_the_spec_reaches_the_inbound_proxy_at_its_period(
    bookinfo: Bookinfo, workload: str
) -> None:
    fact = facts("linkerd-proxy.yml")["probes-through-inbound-proxy"]
    assert fact["probes_rewritten"] is False and 4191 in fact["skipped_inbound_ports"]
    probes = spec_probes(bookinfo, workload)
    assert probes, f"{workload}: our manifests give every Bookinfo app an HTTP probe"
    early, late = bookinfo.metrics(workload, 60.0), bookinfo.metrics(workload, 120.0)
    ((labels, at_60),) = probe_series(early)
    ((_, at_120),) = probe_series(late)
    assert at_120 - at_60 == pytest.approx(60 * sum(1 / p["period"] for p in probes))
    assert labels["target_port"] == str(probes[0]["port"])  # not the proxy's own 4191


def test_the_probes_labels_are_the_proxys(bookinfo: Bookinfo) -> None:
    route = facts("linkerd-proxy.yml")["probe-route"]
    labels_fact = facts("linkerd-proxy.yml")["inbound-http-labels"]
    want = {
        **{f"srv_{k}": v for k, v in route["server"].items()},
        **{f"route_{k}": v for k in ("group", "kind", "name") for v in [route["probe_route"][k]]},
        **{f"authz_{k}": v for k, v in route["probe_authz"].items()},
        **labels_fact["plaintext"],
    }
    for workload in APPS:
        samples = bookinfo.metrics(workload)
        for name in ("request_total", "response_total", "response_latency_ms_bucket"):
            series = probe_series(samples, name)
            assert series, (workload, name)
            for labels, _ in series:
                assert {k: labels.get(k) for k in want} == want, (workload, name)
                assert "client_id" not in labels  # no identity: plaintext


def test_every_inbound_series_carries_the_policy_labels(bookinfo: Bookinfo) -> None:
    names = facts("linkerd-proxy.yml")["inbound-http-labels"]["policy_labels"]
    assert names == [f"{p}_{k}" for p in POLICY for k in ("group", "kind", "name")]
    for workload in APPS:
        for labels, _ in inbound(bookinfo.metrics(workload)):
            policy = {k for k in labels if k.split("_")[0] in POLICY}
            assert policy == set(names), workload  # no srv_port at v2.210.4


def test_callers_on_a_probe_path_are_on_the_probe_route_over_mtls(bookinfo: Bookinfo) -> None:
    """Bookinfo's callers GET the paths our readiness probes use: their requests match the
    probe route too, and still carry mTLS and their named authority."""
    paths = facts("bookinfo.yml")["call-paths"]
    assert {k: v for k, v in CALL_PATHS.items() if k in paths} == paths
    route = facts("linkerd-proxy.yml")["probe-route"]
    for workload in APPS:
        probed = {p["path"] for p in spec_probes(bookinfo, workload)}
        on_probe_path = CALL_PATHS[service_of(workload)] in probed
        meshed = [
            labels for labels, _ in inbound(bookinfo.metrics(workload)) if "authority" in labels
        ]
        assert meshed and all(labels["tls"] == "true" for labels in meshed), workload
        want = route["probe_route" if on_probe_path else "default_route"]["name"]
        assert {labels["route_name"] for labels in meshed} == {want}, workload
    assert CALL_PATHS["details"] in {p["path"] for p in spec_probes(bookinfo, "details-v1")}


def test_plaintext_callers_keep_their_authority() -> None:
    """A caller without mTLS is still told apart from the kubelet: it names its host."""
    bookinfo = Bookinfo("details-plaintext")
    (target,) = [t for t in bookinfo.targets if t.workload_name == "details-v1"]
    shape = traffic_shape(bookinfo.spec, "details-v1")
    assert shape.plaintext
    text = render_metrics(target, bookinfo.targets, 1.7e9, 60.0, shape=shape, mesh=bookinfo.mesh)
    samples = parse(text)
    plain = [labels for labels, _ in inbound(samples) if labels["tls"] != "true"]
    assert {"authority" in labels for labels in plain} == {True, False}  # callers, kubelet


def test_the_kubelet_probes_whatever_the_traffic_generator_does() -> None:
    bookinfo = Bookinfo("traffic-generator-down")
    early, late = bookinfo.metrics("details-v1", 60.0), bookinfo.metrics("details-v1", 120.0)
    assert [v for _, v in inbound(early) if _["tls"] == "true"] == []
    ((_, at_60),) = probe_series(early)
    ((_, at_120),) = probe_series(late)
    assert at_120 > at_60


def test_probe_defaults_and_skipped_ports() -> None:
    """A probe without periodSeconds runs every 10 s; a named port resolves; the proxy's
    admin port and TCP probes add no HTTP traffic."""
    default_period = facts("linkerd-proxy.yml")["kubelet-probe-request"]["default_period_seconds"]
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                    "livenessProbe": {"tcpSocket": {"port": 8080}},
                },
                {
                    "name": "linkerd-proxy",
                    "livenessProbe": {"httpGet": {"path": "/live", "port": 4191}},
                },
            ]
        }
    }
    assert http_probes(pod) == (metrics.HttpProbe(8080, "/ready", float(default_period)),)


def test_a_pod_without_probes_and_callers_has_no_inbound_http(bookinfo: Bookinfo) -> None:
    """The traffic generator's manifest has no probe, and nothing calls it."""
    assert inbound(bookinfo.metrics("traffic-generator")) == []


def test_under_the_users_own_route_probes_and_callers_carry_its_labels() -> None:
    """A Server of the user's with its own HTTPRoute on the app port: no probe route any
    more, so the kubelet's probes (plaintext, no authority) carry the user's route, as an
    unmeshed client calling the pod's address would; resources labelled as Linkerd's."""
    assert facts("linkerd-proxy.yml")["server-http-routes"]["probe_route_with_own_routes"] is False
    kinds = facts("linkerd-proxy.yml")["policy-resource-labels"]
    bookinfo = Bookinfo("probes-on-own-routes")
    for workload in APPS:
        (target,) = [t for t in bookinfo.targets if t.workload_name == workload]
        shape = traffic_shape(bookinfo.spec, workload)
        assert shape.own_route, workload
        text = render_metrics(
            target, bookinfo.targets, 1.7e9, 60.0, shape=shape, mesh=bookinfo.mesh
        )
        series = inbound(parse(text))
        probes = [labels for labels, _ in series if "authority" not in labels]
        callers = [labels for labels, _ in series if "authority" in labels]
        assert probes and callers, workload
        for labels in probes + callers:
            for prefix, kind in (("srv", "server"), ("route", "route")):
                assert labels[f"{prefix}_group"] == kinds[kind]["group"], workload
                assert labels[f"{prefix}_kind"] == kinds[kind]["kind"], workload
            policy = kinds["authorization_policy"]
            assert (labels["authz_group"], labels["authz_kind"]) == (
                policy["group"],
                policy["kind"],
            )
            assert labels["route_name"] != "probe"
        assert {labels["tls"] for labels in probes} == {"no_identity"}
        assert {labels["tls"] for labels in callers} == {"true"}
        assert {labels["authz_name"] for labels in probes}.isdisjoint(
            {labels["authz_name"] for labels in callers}
        )  # the kubelet's network is authorized apart from the meshed clients
