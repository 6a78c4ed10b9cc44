"""The sim's parts for issue 14, held to the facts they carry (no process started here).

Sources: linkerd/linkerd2 tag stable-2.14.10 (charts/partials/templates/_proxy.tpl,
charts/linkerd-control-plane/templates/{identity,config}.yaml); prometheus-community/
helm-charts tag kube-prometheus-stack-65.8.1 (values.yaml `alertmanager.config`,
templates/prometheus/rules-1.14/*.yaml).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from stackcheck.sim.alertmanager import CHART_CONFIG
from stackcheck.sim.content import load_content
from stackcheck.sim.controller import reconcile
from stackcheck.sim.identity import identity_objects
from stackcheck.sim.metrics import ProxyTarget, TrafficShape, render_metrics
from stackcheck.sim.operator import render_operator_metrics
from stackcheck.sim.prometheus import rule_groups, with_alerting
from stackcheck.sim.spec import SimSpec
from tests.sim.test_controller import BLOCK, MANIFESTS, FakeStore, pod_of

Obj = dict[str, Any]
ANCHORS = "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"


def _rules(spec: SimSpec) -> dict[str, Obj]:
    return {
        rule.get("alert") or rule["record"]: rule
        for group in rule_groups(spec)["groups"]
        for rule in group["rules"]
    }


def test_rules_are_the_charts() -> None:
    rules = _rules(SimSpec())
    assert rules["Watchdog"]["expr"] == "vector(1)"
    assert rules["Watchdog"]["labels"] == {"severity": "none"}
    assert rules["PrometheusBadConfig"]["expr"] == (
        'max_over_time(prometheus_config_last_reload_successful{job="prometheus-kube-'
        'prometheus-prometheus",namespace="monitoring"}[5m]) == 0'
    )
    assert rules["AlertmanagerFailedReload"]["labels"] == {"severity": "critical"}
    assert "KubeSchedulerDown" not in rules and "job:up_or_duration:broken" not in rules
    faulty = _rules(SimSpec(firing_critical=True, rule_error=True))
    assert faulty["KubeSchedulerDown"]["expr"] == 'absent(up{job="kube-scheduler"} == 1)'
    assert faulty["KubeSchedulerDown"]["labels"] == {"severity": "critical"}
    assert "job:up_or_duration:broken" in faulty


def test_alerting_goes_to_alertmanager_unless_unrouted(tmp_path: Path) -> None:
    base: Obj = {"global": {}, "scrape_configs": [{"job_name": "podMonitor/x/y/0"}]}
    routed = with_alerting(base, tmp_path / "rules.yml", 9090, 9093, SimSpec())
    targets = routed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["127.0.0.1:9093"] and routed["rule_files"] == [str(tmp_path / "rules.yml")]
    jobs = {job["job_name"]: job for job in routed["scrape_configs"]}
    labels = jobs["serviceMonitor/monitoring/prometheus-kube-prometheus-alertmanager/0"][
        "static_configs"
    ][0]["labels"]
    assert labels["job"] == "prometheus-kube-prometheus-alertmanager"
    assert labels["namespace"] == "monitoring"
    assert "podMonitor/x/y/0" in jobs
    unrouted = with_alerting(base, tmp_path / "r.yml", 9090, 9093, SimSpec(watchdog_unrouted=True))
    assert "alerting" not in unrouted


def test_alertmanager_config_is_the_charts_null_receiver() -> None:
    assert CHART_CONFIG["receivers"] == [{"name": "null"}]
    assert CHART_CONFIG["route"]["receiver"] == "null"
    assert CHART_CONFIG["route"]["routes"] == [
        {"receiver": "null", "matchers": ['alertname = "Watchdog"']}
    ]


def _anchor(configmaps: list[Obj]) -> x509.Certificate:
    roots = next(c for c in configmaps if c["metadata"]["name"] == "linkerd-identity-trust-roots")
    return x509.load_pem_x509_certificate(roots["data"]["ca-bundle.crt"].encode())


def test_identity_objects_carry_the_anchor_and_no_key() -> None:
    now = dt.datetime.now(dt.UTC)
    configmaps = identity_objects(SimSpec(), now)
    left = (_anchor(configmaps).not_valid_after_utc - now).days
    assert 3649 <= left <= 3650
    config = next(c for c in configmaps if c["metadata"]["name"] == "linkerd-config")
    values = yaml.safe_load(config["data"]["values"])
    assert values["linkerdVersion"] == "stable-2.14.10"
    assert "BEGIN CERTIFICATE" in values["identity"]["issuer"]["tls"]["crtPEM"]
    assert "keyPEM" not in values["identity"]["issuer"]["tls"]
    assert "PRIVATE KEY" not in config["data"]["values"]


def test_expiring_expired_and_rotated_anchors() -> None:
    now = dt.datetime.now(dt.UTC)
    soon = _anchor(identity_objects(SimSpec(trust_anchor_days_left=10.0), now))
    assert 9.9 < (soon.not_valid_after_utc - now).total_seconds() / 86400 < 10.1
    gone = _anchor(identity_objects(SimSpec(trust_anchor_days_left=-3.0), now))
    assert gone.not_valid_after_utc < now
    spec = SimSpec(stale_anchor_workloads={"details-v1"})
    current = _anchor(identity_objects(spec, now))
    previous = x509.load_pem_x509_certificate(spec.previous_trust_anchor_pem.encode())
    assert previous.serial_number != current.serial_number


def _env(pod: Obj) -> dict[str, Obj]:
    proxy = next(
        c
        for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
        if c["name"] == "linkerd-proxy"
    )
    return {e["name"]: e for e in proxy["env"]}


def _injected(spec: SimSpec) -> FakeStore:
    store = FakeStore()
    load_content(store, MANIFESTS, spec)
    for configmap in identity_objects(spec):
        store.apply(configmap)
    reconcile(store, spec, BLOCK)
    return store


def test_proxies_carry_the_anchor_as_the_injector_writes_it() -> None:
    spec = SimSpec(
        stale_anchor_workloads={"ratings-v1"}, proxy_versions={"reviews-v1": "stable-2.14.9"}
    )
    store = _injected(spec)
    roots = store.get_object("v1", "ConfigMap", "linkerd", "linkerd-identity-trust-roots")
    assert roots is not None
    bundle = roots["data"]["ca-bundle.crt"]
    details = pod_of(store, "bookinfo", "details-v1")
    names = list(_env(details))
    assert names.index(ANCHORS) == names.index("LINKERD2_PROXY_IDENTITY_DIR") + 1
    assert _env(details)[ANCHORS]["value"].strip() == bundle
    control = pod_of(store, "linkerd", "linkerd-destination")
    assert _env(control)[ANCHORS]["valueFrom"] == {
        "configMapKeyRef": {"name": "linkerd-identity-trust-roots", "key": "ca-bundle.crt"}
    }
    stale = pod_of(store, "bookinfo", "ratings-v1")
    assert _env(stale)[ANCHORS]["value"].strip() == spec.previous_trust_anchor_pem.strip()
    skewed = pod_of(store, "bookinfo", "reviews-v1")
    assert skewed["metadata"]["annotations"]["linkerd.io/proxy-version"] == "stable-2.14.9"
    image = next(c["image"] for c in skewed["spec"]["containers"] if c["name"] == "linkerd-proxy")
    assert image == "cr.l5d.io/linkerd/proxy:stable-2.14.9"


# ----------------------------------------------------------------------------------------
# proxy metrics shaped by the golden-signal faults
# ----------------------------------------------------------------------------------------

TARGET = ProxyTarget("bookinfo", "reviews-v2-1", "deployment", "reviews-v2", "127.9.0.3")
CALLER = ProxyTarget("bookinfo", "productpage-v1-1", "deployment", "productpage-v1", "127.9.0.2")
_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            out.append((labels, float(match.group(3))))
    return out


def _inbound(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (labels, value)
        for labels, value in _samples(text, name)
        if labels["direction"] == "inbound"
    ]


def test_error_share_answers_500s() -> None:
    text = render_metrics(
        TARGET, [CALLER, TARGET], 1.7e9, 100.0, shape=TrafficShape(error_share=0.2)
    )
    counts = {labels["classification"]: value for labels, value in _inbound(text, "response_total")}
    assert counts["failure"] / (counts["failure"] + counts["success"]) == 0.2
    failures = [
        labels
        for labels, _ in _inbound(text, "response_total")
        if labels["classification"] == "failure"
    ]
    assert failures[0]["status_code"] == "500"


def test_plaintext_callers_have_no_tls_and_no_identity() -> None:
    text = render_metrics(
        TARGET, [CALLER, TARGET], 1.7e9, 100.0, shape=TrafficShape(plaintext=True)
    )
    ((labels, _),) = _inbound(text, "request_total")
    assert labels["tls"] == "no_identity" and "client_id" not in labels
    assert labels["no_tls_reason"] == "no_tls_from_remote"


def test_counters_move_unless_frozen_and_latency_scales() -> None:
    def total(elapsed: float, shape: TrafficShape) -> float:
        text = render_metrics(TARGET, [CALLER, TARGET], 1.7e9, elapsed, shape=shape)
        return sum(v for _, v in _inbound(text, "response_total"))

    assert total(10.0, TrafficShape()) < total(20.0, TrafficShape())
    assert total(10.0, TrafficShape(frozen=True)) == total(20.0, TrafficShape(frozen=True))

    def under_100ms(shape: TrafficShape) -> float:
        text = render_metrics(TARGET, [CALLER, TARGET], 1.7e9, 100.0, shape=shape)
        buckets = {
            labels["le"]: value for labels, value in _inbound(text, "response_latency_ms_bucket")
        }
        return buckets["100"] / buckets["+Inf"]

    assert under_100ms(TrafficShape()) == 1.0
    assert under_100ms(TrafficShape(latency_factor=20.0)) < 0.1


def test_operator_metrics_count_selected_and_rejected(tmp_path: Path) -> None:
    text = render_operator_metrics(podmonitors=3, rejected=1)
    assert (
        'prometheus_operator_managed_resources{controller="prometheus",'
        'resource="PodMonitor",state="rejected"} 1'
    ) in text
    assert 'state="selected"} 2' in text
    config = with_alerting({}, tmp_path / "rules.yml", 9090, 9093, SimSpec(), 8080)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    labels = jobs["serviceMonitor/monitoring/prometheus-kube-prometheus-operator/0"][
        "static_configs"
    ][0]["labels"]
    assert labels["job"] == "prometheus-kube-prometheus-operator"
