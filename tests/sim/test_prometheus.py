"""The PodMonitor -> scrape config generator, and a real Prometheus scraping proxy servers."""

from __future__ import annotations

import random
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from stackcheck.polling import Attempt, Deadline, poll_until
from stackcheck.sim.metrics import ProxyMetricsServers, ProxyTarget
from stackcheck.sim.prometheus import (
    PROMETHEUS_BINARY,
    MonitorSelection,
    PrometheusError,
    PrometheusServer,
    chart_selection,
    find_prometheus,
    scrape_config,
    selected_podmonitors,
    stack_selection,
)
from stackcheck.sim.spec import SimSpec

HAVE_PROMETHEUS = Path(PROMETHEUS_BINARY).is_file() or shutil.which("prometheus") is not None
needs_prometheus = pytest.mark.skipif(
    not HAVE_PROMETHEUS, reason="no prometheus binary; install it: apt-get install -y prometheus"
)
TIMEOUT = 5.0

# The linkerd-proxy PodMonitor as Linkerd's docs give it for kube-prometheus-stack (no
# `port`: the keep rule picks the proxy's admin port), plus a job override to `linkerd-proxy`.
LINKERD_PROXY = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {
        "name": "linkerd-proxy",
        "namespace": "linkerd-viz",
        "labels": {"release": "prometheus"},
    },
    "spec": {
        "namespaceSelector": {"any": True},
        "selector": {"matchLabels": {}},
        "podMetricsEndpoints": [
            {
                "interval": "10s",
                "scrapeTimeout": "10s",
                "relabelings": [
                    {
                        "sourceLabels": [
                            "__meta_kubernetes_pod_container_name",
                            "__meta_kubernetes_pod_container_port_name",
                            "__meta_kubernetes_pod_label_linkerd_io_control_plane_ns",
                        ],
                        "action": "keep",
                        "regex": "^linkerd-proxy;linkerd-admin;linkerd$",
                    },
                    {
                        "sourceLabels": ["__meta_kubernetes_namespace"],
                        "action": "replace",
                        "targetLabel": "namespace",
                    },
                    {
                        "sourceLabels": ["__meta_kubernetes_pod_name"],
                        "action": "replace",
                        "targetLabel": "pod",
                    },
                    {
                        "action": "labelmap",
                        "regex": "__meta_kubernetes_pod_label_linkerd_io_proxy_(.+)",
                    },
                    {"action": "replace", "targetLabel": "job", "replacement": "linkerd-proxy"},
                ],
            }
        ],
    },
}

# A port-named PodMonitor with no job override: job is `<ns>/<name>`, endpoint the port.
PRODUCTPAGE_ADMIN = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "productpage-admin", "namespace": "bookinfo"},
    "spec": {
        "selector": {"matchLabels": {"app": "productpage"}},
        "podMetricsEndpoints": [{"port": "linkerd-admin", "path": "/metrics"}],
    },
}


def _pod(
    namespace: str,
    name: str,
    app: str,
    deployment: str,
    ip: str,
    phase: str = "Running",
    proxy: bool = True,
) -> dict[str, Any]:
    labels = {"app": app, "pod-template-hash": "6b746f74dc"}
    containers: list[dict[str, Any]] = [
        {
            "name": app,
            "image": f"docker.io/istio/examples-bookinfo-{app}-v1:1.20.2",
            "ports": [{"containerPort": 9080, "protocol": "TCP"}],
        }
    ]
    if proxy:
        labels |= {
            "linkerd.io/control-plane-ns": "linkerd",
            "linkerd.io/proxy-deployment": deployment,
            "linkerd.io/workload-ns": namespace,
        }
        containers.append(
            {
                "name": "linkerd-proxy",
                "image": "cr.l5d.io/linkerd/proxy:stable",
                "ports": [
                    {"containerPort": 4143, "name": "linkerd-proxy"},
                    {"containerPort": 4191, "name": "linkerd-admin"},
                ],
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "uid": name,
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": f"{deployment}-6b7", "controller": True}
            ],
        },
        "spec": {"containers": containers, "nodeName": "sim-node"},
        "status": {
            "phase": phase,
            "podIP": ip if phase == "Running" else "",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _namespaces(*names: str) -> list[dict[str, Any]]:
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names]


def _world(block: str) -> tuple[list[dict[str, Any]], list[ProxyTarget]]:
    pods = [
        _pod(
            "bookinfo",
            "productpage-v1-6b746f74dc-9stvs",
            "productpage",
            "productpage-v1",
            f"{block}.0.2",
        ),
        _pod("bookinfo", "details-v1-79f774bdb9-b2jvt", "details", "details-v1", f"{block}.0.3"),
        _pod("bookinfo", "reviews-v2-7bf8c9648f-xs8kd", "reviews", "reviews-v2", f"{block}.0.4"),
        _pod(
            "bookinfo", "unmeshed-5d8b7c-q2w3e", "unmeshed", "unmeshed", f"{block}.0.5", proxy=False
        ),
        _pod("bookinfo", "ratings-v1-pending", "ratings", "ratings-v1", "", phase="Pending"),
    ]
    targets = [
        ProxyTarget(
            p["metadata"]["namespace"],
            p["metadata"]["name"],
            "deployment",
            p["metadata"]["labels"]["linkerd.io/proxy-deployment"],
            p["status"]["podIP"],
        )
        for p in pods[:3]
    ]
    return pods, targets


# --- the generator ----------------------------------------------------------------------


def test_scrape_config_emulates_the_operator() -> None:
    pods, _ = _world("127.9")
    config = scrape_config(
        [PRODUCTPAGE_ADMIN, LINKERD_PROXY],
        pods,
        _namespaces("bookinfo", "linkerd-viz"),
        SimSpec(),
        "1s",
    )
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == [
        "podMonitor/bookinfo/productpage-admin/0",
        "podMonitor/linkerd-viz/linkerd-proxy/0",
    ]
    assert config["global"]["scrape_interval"] == "1s"

    admin = jobs["podMonitor/bookinfo/productpage-admin/0"]
    assert admin["metrics_path"] == "/metrics" and admin["scrape_interval"] == "1s"
    assert [s["targets"] for s in admin["static_configs"]] == [["127.9.0.2:4191"]]
    meta = admin["static_configs"][0]["labels"]
    assert meta["__meta_kubernetes_pod_name"] == "productpage-v1-6b746f74dc-9stvs"
    assert meta["__meta_kubernetes_pod_container_name"] == "linkerd-proxy"
    assert meta["__meta_kubernetes_pod_label_linkerd_io_proxy_deployment"] == "productpage-v1"
    relabel = admin["relabel_configs"]
    assert {"target_label": "job", "replacement": "bookinfo/productpage-admin"} in relabel
    assert {"target_label": "endpoint", "replacement": "linkerd-admin"} in relabel
    assert {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"} in relabel

    proxy = jobs["podMonitor/linkerd-viz/linkerd-proxy/0"]
    addresses = [s["targets"][0] for s in proxy["static_configs"]]
    # every port of every pod with an IP is discovered; the keep rule picks the admin ports
    assert "127.9.0.3:4191" in addresses and "127.9.0.5:9080" in addresses
    assert not any(a.startswith("127.9.0.6") for a in addresses)
    assert proxy["relabel_configs"][-1] == {
        "action": "replace",
        "target_label": "job",
        "replacement": "linkerd-proxy",
    }
    assert proxy["relabel_configs"][-2]["action"] == "labelmap"


def test_scrape_config_missing_pools_and_down_targets() -> None:
    pods, _ = _world("127.9")
    spec = SimSpec(missing_scrape_pools={"productpage-admin"}, targets_down={"linkerd-proxy"})
    config = scrape_config(
        [PRODUCTPAGE_ADMIN, LINKERD_PROXY], pods, _namespaces("bookinfo", "linkerd-viz"), spec
    )
    (proxy,) = config["scrape_configs"]
    assert proxy["job_name"] == "podMonitor/linkerd-viz/linkerd-proxy/0"
    addresses = {s["targets"][0] for s in proxy["static_configs"]}
    assert addresses and all(a.endswith(":1") for a in addresses)


def test_scrape_config_namespace_and_label_selection() -> None:
    pods, _ = _world("127.9")
    elsewhere = dict(PRODUCTPAGE_ADMIN, metadata={"name": "pp", "namespace": "monitoring"})
    config = scrape_config([elsewhere], pods, _namespaces("bookinfo", "monitoring"), SimSpec())
    assert config["scrape_configs"][0]["static_configs"] == []  # default: own namespace only
    chosen = dict(
        elsewhere,
        spec={
            **PRODUCTPAGE_ADMIN["spec"],  # type: ignore[dict-item]
            "namespaceSelector": {"matchNames": ["bookinfo"]},
        },
    )
    config = scrape_config([chosen], pods, _namespaces("bookinfo", "monitoring"), SimSpec())
    assert len(config["scrape_configs"][0]["static_configs"]) == 1


# --- which PodMonitors the Prometheus resource selects -------------------------------------

RELEASE_SELECTOR = {"matchLabels": {"release": "prometheus"}}


@pytest.mark.parametrize(
    ("prometheus_spec", "selector"),
    [
        ({}, RELEASE_SELECTOR),  # the chart's default: podMonitorSelectorNilUsesHelmValues true
        ({"podMonitorSelectorNilUsesHelmValues": True}, RELEASE_SELECTOR),
        ({"podMonitorSelectorNilUsesHelmValues": False}, {}),
        (
            {
                "podMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelector": {"matchLabels": {"team": "mesh"}},
            },
            {"matchLabels": {"team": "mesh"}},
        ),
        (
            {"podMonitorSelector": {"matchLabels": {"team": "mesh"}}},
            {"matchLabels": {"team": "mesh"}},
        ),
    ],
)
def test_chart_renders_the_pod_monitor_selector(
    prometheus_spec: dict[str, Any], selector: dict[str, Any]
) -> None:
    selection = chart_selection({"prometheus": {"prometheusSpec": prometheus_spec}})
    assert selection.selector == selector
    assert selection.namespace_selector == {}  # rendered `{}` unless set: every namespace


def test_our_values_select_every_pod_monitor() -> None:
    assert stack_selection(SimSpec()) == MonitorSelection({}, {}, "monitoring")
    helm_default = stack_selection(SimSpec(podmonitor_selector_nil_uses_helm_values=True))
    assert helm_default.selector == RELEASE_SELECTOR


def test_bad_values_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "values.yml"
    broken.write_text("prometheus: [", encoding="utf-8")
    with pytest.raises(PrometheusError, match="cannot read the kube-prometheus-stack values"):
        stack_selection(SimSpec(), broken)


def _monitor(name: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}}


def test_selection_follows_labels_and_namespaces() -> None:
    monitors = [
        _monitor("labelled", "monitoring", {"release": "prometheus"}),
        _monitor("unlabelled", "monitoring", {}),
        _monitor("elsewhere", "linkerd", {"release": "prometheus"}),
    ]
    namespaces = [
        {"metadata": {"name": "monitoring", "labels": {"team": "obs"}}},
        {"metadata": {"name": "linkerd", "labels": {}}},
    ]

    def names(selection: MonitorSelection) -> list[str]:
        return [
            m["metadata"]["name"] for m in selected_podmonitors(monitors, namespaces, selection)
        ]

    assert names(MonitorSelection({}, {})) == ["labelled", "unlabelled", "elsewhere"]
    assert names(MonitorSelection(RELEASE_SELECTOR, {})) == ["labelled", "elsewhere"]
    assert names(MonitorSelection(RELEASE_SELECTOR, None)) == ["labelled"]  # own namespace
    assert names(MonitorSelection({}, {"matchLabels": {"team": "obs"}})) == [
        "labelled",
        "unlabelled",
    ]
    assert names(MonitorSelection(None, {})) == []  # a nil selector selects nothing


def test_unselected_pod_monitor_gets_no_scrape_pool() -> None:
    pods, _ = _world("127.9")
    unlabelled = {
        **LINKERD_PROXY,
        "metadata": {"name": "linkerd-proxy", "namespace": "linkerd-viz"},
    }
    namespaces = _namespaces("bookinfo", "linkerd-viz")
    chart_default = MonitorSelection(RELEASE_SELECTOR, {})
    config = scrape_config([unlabelled], pods, namespaces, SimSpec(), selection=chart_default)
    assert config["scrape_configs"] == []
    config = scrape_config([LINKERD_PROXY], pods, namespaces, SimSpec(), selection=chart_default)
    assert [j["job_name"] for j in config["scrape_configs"]] == [
        "podMonitor/linkerd-viz/linkerd-proxy/0"
    ]
    spec = SimSpec(podmonitor_selector_nil_uses_helm_values=True)  # selection from the values
    assert scrape_config([unlabelled], pods, namespaces, spec)["scrape_configs"] == []


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stackcheck.sim.prometheus.PROMETHEUS_BINARY", "/nonexistent/prom")
    monkeypatch.setattr("stackcheck.sim.prometheus.shutil.which", lambda _name: None)
    with pytest.raises(PrometheusError, match="apt-get install -y prometheus"):
        find_prometheus()


# --- a real Prometheus ------------------------------------------------------------------


@pytest.fixture
def loopback_block() -> Iterator[str]:
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


def _api(url: str, path: str, **params: str) -> Any:
    with requests.get(f"{url}{path}", params=params, timeout=TIMEOUT) as answer:
        answer.raise_for_status()
        return answer.json()["data"]


def _targets_up(url: str, pool: str, count: int, health: str) -> Attempt[list[dict[str, Any]]]:
    try:
        active = _api(url, "/api/v1/targets", state="active")["activeTargets"]
    except requests.RequestException as exc:
        return Attempt(False, str(exc))
    mine = [t for t in active if t["scrapePool"] == pool]
    healths = sorted(t["health"] for t in mine)
    if healths != [health] * count:
        return Attempt(False, f"{pool}: health {healths}, want {count}x {health}")
    return Attempt(True, value=mine)


@needs_prometheus
def test_real_prometheus_scrapes_the_proxies(tmp_path: Path, loopback_block: str) -> None:
    spec = SimSpec()
    pods, targets = _world(loopback_block)
    proxies = ProxyMetricsServers(spec)
    proxies.start(targets)
    config = scrape_config(
        [LINKERD_PROXY, PRODUCTPAGE_ADMIN], pods, _namespaces("bookinfo", "linkerd-viz"), spec, "1s"
    )
    server = PrometheusServer(tmp_path / "prometheus", config)
    try:
        began = time.monotonic()
        url = server.start()
        assert server.start() == url
        pool = "podMonitor/linkerd-viz/linkerd-proxy/0"
        found = poll_until(
            lambda: _targets_up(url, pool, 3, "up"),
            Deadline.after(20),
            "3 linkerd-proxy targets up",
            interval=0.2,
        )
        first_scrape = time.monotonic() - began
        print(
            f"prometheus ready in {server.start_seconds:.2f}s, targets up after {first_scrape:.2f}s"
        )
        assert found.value is not None
        by_pod = {t["labels"]["pod"]: t for t in found.value}
        assert set(by_pod) == {t.pod for t in targets}
        for target in targets:
            labels = by_pod[target.pod]["labels"]
            assert labels["job"] == "linkerd-proxy"
            assert labels["namespace"] == "bookinfo"
            assert labels["deployment"] == target.workload_name
            assert labels["instance"] == target.address
            assert by_pod[target.pod]["scrapeUrl"] == f"http://{target.address}/metrics"
        admin = poll_until(
            lambda: _targets_up(url, "podMonitor/bookinfo/productpage-admin/0", 1, "up"),
            Deadline.after(10),
            "productpage admin target up",
            interval=0.2,
        )
        assert admin.value is not None
        assert admin.value[0]["labels"]["job"] == "bookinfo/productpage-admin"
        assert admin.value[0]["labels"]["endpoint"] == "linkerd-admin"

        def requests_seen() -> Attempt[float]:
            query = (
                'sum by (namespace) (request_total{namespace="bookinfo", '
                'direction="inbound", tls="true", job="linkerd-proxy"})'
            )
            result = _api(url, "/api/v1/query", query=query)["result"]
            if not result:
                return Attempt(False, "no series yet")
            return Attempt(True, value=float(result[0]["value"][1]))

        total = poll_until(
            requests_seen, Deadline.after(10), "request_total in Prometheus", interval=0.2
        )
        assert total.value is not None and total.value > 0

        # targets_down, applied by a reload: the same pool, now failing with a real error
        spec.targets_down.add("linkerd-proxy")
        server.reload(
            scrape_config([LINKERD_PROXY], pods, _namespaces("bookinfo", "linkerd-viz"), spec, "1s")
        )
        down = poll_until(
            lambda: _targets_up(url, pool, 3, "down"),
            Deadline.after(15),
            "3 linkerd-proxy targets down",
            interval=0.2,
        )
        assert down.value is not None
        assert all("connection refused" in t["lastError"] for t in down.value)
        assert all(t["labels"]["job"] == "linkerd-proxy" for t in down.value)
    finally:
        pid = server.pid
        server.stop()
        server.stop()
        proxies.stop()
    assert pid is not None and not Path(f"/proc/{pid}").exists()


@needs_prometheus
def test_bad_config_fails_fast_with_the_log(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path, {"scrape_configs": [{"job_name": "x", "bogus": 1}]})
    with pytest.raises(PrometheusError, match="exited"):
        server.start()
    assert server.pid is None
