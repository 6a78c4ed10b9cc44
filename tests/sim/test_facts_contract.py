"""The sim held to the facts about the real components (tests/data/facts/*.yml).

Each fact carries its public source; each test here reads a fact's value from those files,
never from the sim, and checks the sim against it. A fact the sim does not model yet is
listed in NOT_SIMULATED with the reason, so that no fact is silently unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from stackcheck.sim.content import load_content
from stackcheck.sim.controller import reconcile
from stackcheck.sim.endpoints import REVIEW_VERSIONS, ProductPage, render_productpage
from stackcheck.sim.prometheus import (
    MonitorSelection,
    chart_selection,
    scrape_config,
    stack_selection,
)
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.store import ObjectStore

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "facts"
OWN_FACT_FILES = (
    "bookinfo.yml",
    "linkerd.yml",
    "linkerd-proxy.yml",
    "heartbeat.yml",
    "prometheus-operator.yml",
    "workload-status.yml",
)
MANIFESTS = [
    ROOT / "manifests/applications/bookinfo-with-linkerd.yml",
    ROOT / "manifests/applications/traffic-generator.yml",
    ROOT / "manifests/observability/linkerd-podmonitors.yml",
]
BLOCK = "127.46"
TIMEOUT = 5.0
TOLERANCE = 0.01  # sizes within 1% of the real page's
Obj = dict[str, Any]

# fact id -> why the sim is not held to it (yet)
NOT_SIMULATED = {
    ("bookinfo", "image-source"): "provenance of the other facts, nothing to simulate",
    ("prometheus-operator", "operator-version"): "provenance of the other facts",
    ("linkerd-proxy", "proxy-version"): "provenance of the other facts",
}


def facts(component_file: str) -> dict[str, Any]:
    data = yaml.safe_load((FACTS / component_file).read_text(encoding="utf-8"))
    return {key: fact["value"] for key, fact in data["facts"].items()}


def fact_ids() -> Iterator[tuple[str, str]]:
    for name in OWN_FACT_FILES:
        data = yaml.safe_load((FACTS / name).read_text(encoding="utf-8"))
        for key in data["facts"]:
            yield data["component"], key


@pytest.fixture(scope="module")
def store() -> ObjectStore:
    cluster = ObjectStore()
    spec = SimSpec()
    load_content(cluster, MANIFESTS, spec)
    reconcile(cluster, spec, BLOCK)
    return cluster


def bookinfo_pods(store: ObjectStore) -> list[Obj]:
    return store.list_objects("v1", "Pod", "bookinfo")


def pod_of(store: ObjectStore, namespace: str, prefix: str) -> Obj:
    found = [
        p
        for p in store.list_objects("v1", "Pod", namespace)
        if p["metadata"]["name"].startswith(prefix + "-")
    ]
    assert len(found) == 1, [p["metadata"]["name"] for p in found]
    return found[0]


# --- the facts files themselves ----------------------------------------------------------


@pytest.mark.parametrize("name", OWN_FACT_FILES)
def test_every_fact_says_what_and_where_from(name: str) -> None:
    data = yaml.safe_load((FACTS / name).read_text(encoding="utf-8"))
    assert data["component"] and data["version"]
    for key, fact in data["facts"].items():
        assert set(fact) == {"what", "value", "source"}, key
        assert fact["what"].strip(), key
        source = fact["source"]
        assert source.get("repository") and source.get("path"), key
        assert source.get("tag") or source.get("commit"), f"{key}: no tag or commit"


def test_every_fact_is_held_or_said_not_to_be() -> None:
    held = {(component, key) for component, key in fact_ids()} - set(NOT_SIMULATED)
    unheld = sorted(held - HELD)
    assert unheld == [], "facts no test here checks (add one, or a reason to NOT_SIMULATED)"
    assert sorted(HELD - held) == [], "HELD names facts the files do not have"


HELD = (
    {
        # held in tests/sim/test_workload_shapes.py
        ("kubernetes", key)
        for key in (
            "job-pod-failed",
            "job-backoff-limit",
            "job-failed-condition",
            "cronjob-status",
            "oom-killed",
            "progress-deadline-exceeded",
            "scale-bumps-generation",
            "pod-evicted",
            "eviction-message",
            "disruption-target",
            "active-pods",
        )
    }
    | {
        ("bookinfo", key)
        for key in (
            "page-bytes",
            "reviews-error-bytes",
            "details-error-bytes",
            "both-error-bytes",
            "pod-name-bytes",
            "page-start",
            "title",
            "healthy-markers",
            "reviews-served-by",
            "reviews-podname",
            "reviews-error",
            "details-error",
            "stars",
            "health",
        )
    }
    | {
        ("linkerd", key)
        for key in (
            "proxy-container",
            "init-container",
            "proxy-ports",
            "proxy-port-defaults",
            "proxy-listen-env",
            "proxy-env-names",
            "admin-http-ports",
            "proxy-version-annotation",
            "created-by-annotation",
            "trust-root-annotation",
            "identity-mode-annotation",
            "injected-labels",
        )
    }
    | {
        # held in tests/sim/test_mesh_traffic.py
        ("linkerd-proxy", key)
        for key in (
            "ready-endpoints-only",
            "no-endpoints-failfast",
            "outbound-error-metric",
            "outbound-metrics-per-endpoint",
            "reviews-without-ratings",
        )
    }
    | {
        # held in tests/sim/test_probe_traffic.py
        ("linkerd-proxy", key)
        for key in (
            "probes-through-inbound-proxy",
            "kubelet-probe-request",
            "probe-route",
            "inbound-http-labels",
            "server-http-routes",
            "policy-resource-labels",
        )
    }
    | {("bookinfo", "call-paths")}  # held in tests/sim/test_probe_traffic.py
    # held in tests/test_checks_golden.py: the check's queries, not the sim
    | {("linkerd-proxy", "viz-stat-counts-probes")}
    | {
        ("linkerd-heartbeat", key)
        for key in (
            "schedule",
            "successful-jobs-history-limit",
            "failed-jobs-history-limit",
            "concurrency-policy",
            "restart-policy",
            "container",
            "exit-without-egress",
        )
    }
    | {
        ("prometheus-operator", key)
        for key in (
            "pod-monitor-selector",
            "pod-monitor-namespace-selector",
            "selector-semantics",
            "our-values",
            "scrape-pool-name",
            "job-label",
            "generated-relabelings",
            "prometheus-resource-name",
        )
    }
)


# --- Bookinfo productpage ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pages(store: ObjectStore) -> dict[str, str]:
    """One /productpage answer per reviews version, as the sim serves them, plus /health."""
    page = ProductPage(SimSpec(), lambda: bookinfo_pods(store))
    page.start()
    try:
        with requests.Session() as session:
            answers = [
                session.get(page.url + "/productpage", timeout=TIMEOUT) for _ in REVIEW_VERSIONS
            ]
            health = session.get(page.url + "/health", timeout=TIMEOUT)
    finally:
        page.stop()
    assert [a.status_code for a in answers] == [200] * len(REVIEW_VERSIONS)
    served = dict(zip(page.served, answers, strict=True))
    assert sorted(served) == sorted(REVIEW_VERSIONS)
    return {**{version: answer.text for version, answer in served.items()}, "health": health.text}


def _error_page(store: ObjectStore, failing: set[str], version: str = "v1") -> str:
    spec = SimSpec(productpage_errors=set(failing))
    pods = [
        p
        for p in bookinfo_pods(store)
        if p["metadata"]["labels"].get("app") != "reviews"
        or p["metadata"]["labels"].get("version") == version
    ]
    page = ProductPage(spec, lambda: pods)
    page.start()
    try:
        with requests.Session() as session:
            answer = session.get(page.url + "/productpage", timeout=TIMEOUT)
    finally:
        page.stop()
    assert answer.status_code == 200
    return answer.text


def _near(actual: int, expected: int) -> bool:
    return abs(actual - expected) <= expected * TOLERANCE


def test_page_sizes_per_reviews_version(pages: dict[str, str]) -> None:
    expected = facts("bookinfo.yml")["page-bytes"]
    sizes = {version: len(pages[version].encode()) for version in REVIEW_VERSIONS}
    assert all(_near(sizes[v], expected[v]) for v in REVIEW_VERSIONS), (sizes, expected)


def test_error_page_sizes(store: ObjectStore) -> None:
    known = facts("bookinfo.yml")
    reviews_failing = len(_error_page(store, {"reviews"}).encode())
    assert _near(reviews_failing, known["reviews-error-bytes"]), reviews_failing
    for version, size in known["details-error-bytes"].items():
        details_failing = len(_error_page(store, {"details"}, version).encode())
        assert _near(details_failing, size), (version, details_failing)
    both = len(_error_page(store, {"details", "reviews"}).encode())
    assert _near(both, known["both-error-bytes"]), both


def test_pod_name_moves_the_page_by_its_bytes() -> None:
    per_character = facts("bookinfo.yml")["pod-name-bytes"]
    short = len(render_productpage("v2", reviews_pod="reviews-v2-a"))
    longer = len(render_productpage("v2", reviews_pod="reviews-v2-abcd"))
    assert longer - short == 3 * per_character


def test_page_markers(pages: dict[str, str], store: ObjectStore) -> None:
    known = facts("bookinfo.yml")
    reviews_pods = {
        p["metadata"]["labels"]["version"]: p["metadata"]["name"]
        for p in bookinfo_pods(store)
        if p["metadata"]["labels"].get("app") == "reviews"
    }
    served_by = known["reviews-served-by"]
    for version in REVIEW_VERSIONS:
        text = pages[version]
        assert text.startswith(known["page-start"])
        assert "<!doctype" not in text.lower() and "<html" not in text
        assert known["title"] in text
        assert all(marker in text for marker in known["healthy-markers"])
        named = re.findall(served_by["pattern"], text)
        # one per review, naming the sim's own reviews pod of that version (its HOSTNAME)
        assert named == [reviews_pods[version]] * 2, (version, named)
        assert known["reviews-podname"] == "HOSTNAME"
        assert not any(marker in text for marker in known["reviews-error"])


def test_error_markers(store: ObjectStore) -> None:
    known = facts("bookinfo.yml")
    for section, heading in (("reviews", "Book Reviews"), ("details", "Book Details")):
        text = _error_page(store, {section})
        assert all(marker in text for marker in known[f"{section}-error"]), section
        assert heading not in text
        assert f"Error fetching product {section}!" not in text  # 1.20 dropped the "!"


def test_stars(pages: dict[str, str]) -> None:
    stars = facts("bookinfo.yml")["stars"]

    def reviews_part(version: str) -> str:
        return pages[version].split("Book Reviews", 1)[1]

    assert stars["v1"] is None and "<svg" not in reviews_part("v1")
    for version in ("v2", "v3"):
        color, other = stars[version], stars["v3" if version == "v2" else "v2"]
        part = reviews_part(version)
        assert f"-{color}-" in part and f"-{other}-" not in part  # text-<color>-500, as 1.20
        full = stars["Reviewer1"] + stars["Reviewer2"]
        assert reviews_part(version).count('fill="currentColor"') == full
        assert reviews_part(version).count('fill="none"') == 10 - full


def test_health(pages: dict[str, str]) -> None:
    assert pages["health"] == facts("bookinfo.yml")["health"]


# --- Linkerd: the injected pod and the control plane -------------------------------------


def _container(pod: Obj, name: str) -> Obj:
    spec = pod["spec"]
    found = [c for c in [*spec.get("initContainers", []), *spec["containers"]] if c["name"] == name]
    assert len(found) == 1, f"{pod['metadata']['name']}: no single container {name}"
    container: Obj = found[0]
    return container


def test_injected_pod_containers_and_ports(store: ObjectStore) -> None:
    known = facts("linkerd.yml")
    pod = pod_of(store, "bookinfo", "details-v1")
    proxy = _container(pod, known["proxy-container"])
    assert {p["name"]: p["containerPort"] for p in proxy["ports"]} == known["proxy-ports"]
    assert pod["spec"]["initContainers"][0]["name"] == known["init-container"]
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert set(env) <= set(known["proxy-env-names"]), set(env) - set(known["proxy-env-names"])
    for name, value in known["proxy-listen-env"].items():
        assert env[name] == value, name
    ports = known["proxy-port-defaults"]
    assert env["LINKERD2_PROXY_ADMIN_LISTEN_ADDR"].endswith(f":{ports['admin']}")
    assert env["LINKERD2_PROXY_INBOUND_LISTEN_ADDR"].endswith(f":{ports['inbound']}")
    assert env["LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR"].endswith(f":{ports['outbound']}")
    assert env["LINKERD2_PROXY_CONTROL_LISTEN_ADDR"].endswith(f":{ports['control']}")


def test_injected_pod_annotations_and_labels(store: ObjectStore) -> None:
    known = facts("linkerd.yml")
    pod = pod_of(store, "bookinfo", "details-v1")
    annotations, labels = pod["metadata"]["annotations"], pod["metadata"]["labels"]
    for key, value in known["proxy-version-annotation"].items():
        assert annotations[key] == value
    assert annotations["linkerd.io/created-by"] == known["created-by-annotation"]["injector"]
    for key, pattern in known["trust-root-annotation"].items():
        assert re.fullmatch(pattern, annotations[key])
    assert set(known["injected-labels"]) <= set(labels)
    assert labels["linkerd.io/proxy-deployment"] == "details-v1"
    assert labels["linkerd.io/workload-ns"] == "bookinfo"
    assert labels["linkerd.io/control-plane-ns"] == "linkerd"


def test_injected_pod_has_no_identity_mode_annotation(store: ObjectStore) -> None:
    assert facts("linkerd.yml")["identity-mode-annotation"] == "absent"
    pod = pod_of(store, "bookinfo", "details-v1")
    assert "linkerd.io/identity-mode" not in pod["metadata"]["annotations"]


def test_control_plane_pods_are_created_by_the_chart(store: ObjectStore) -> None:
    chart = facts("linkerd.yml")["created-by-annotation"]["chart"]
    pod = pod_of(store, "linkerd", "linkerd-destination")
    assert pod["metadata"]["annotations"]["linkerd.io/created-by"] == chart


def test_admin_http_ports(store: ObjectStore) -> None:
    for deployment, containers in facts("linkerd.yml")["admin-http-ports"].items():
        namespace = "linkerd" if deployment.startswith("linkerd-") else "linkerd-viz"
        workload = store.get_object("apps/v1", "Deployment", namespace, deployment)
        assert workload is not None, deployment
        served = {
            c["name"]: {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            for c in workload["spec"]["template"]["spec"]["containers"]
        }
        for container, port in containers.items():
            assert served[container].get("admin-http") == port, (deployment, container)


# --- the heartbeat CronJob ---------------------------------------------------------------


def test_heartbeat_cronjob_spec(store: ObjectStore) -> None:
    known = facts("heartbeat.yml")
    cronjob = store.get_object("batch/v1", "CronJob", "linkerd", "linkerd-heartbeat")
    assert cronjob is not None
    spec = cronjob["spec"]
    assert re.fullmatch(known["schedule"], spec["schedule"])
    assert spec["successfulJobsHistoryLimit"] == known["successful-jobs-history-limit"]
    assert spec.get("failedJobsHistoryLimit", 1) == known["failed-jobs-history-limit"]
    assert spec["concurrencyPolicy"] == known["concurrency-policy"]
    pod_spec = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == known["restart-policy"]
    assert [c["name"] for c in pod_spec["containers"]] == [known["container"]]


def test_a_heartbeat_run_without_egress_exits_1_saying_so() -> None:
    known = facts("heartbeat.yml")["exit-without-egress"]
    cluster = ObjectStore()
    spec = SimSpec(failed_cronjobs={"linkerd-heartbeat"})
    load_content(cluster, MANIFESTS, spec)
    reconcile(cluster, spec, BLOCK)
    failed = [
        p
        for p in cluster.list_objects("v1", "Pod", "linkerd")
        if p["metadata"]["name"].startswith("linkerd-heartbeat-")
    ]
    assert failed
    for pod in failed:
        (status,) = pod["status"]["containerStatuses"]
        assert status["state"]["terminated"]["exitCode"] == known["exit_code"]
        log = cluster.logs[("linkerd", pod["metadata"]["name"], status["name"])]
        assert known["log"] in log and "level=fatal" in log


def test_a_healthy_sim_keeps_no_succeeded_heartbeat_job(store: ObjectStore) -> None:
    assert facts("heartbeat.yml")["successful-jobs-history-limit"] == 0
    jobs = [j["metadata"]["name"] for j in store.list_objects("batch/v1", "Job", "linkerd")]
    assert not [name for name in jobs if name.startswith("linkerd-heartbeat-")], jobs


# --- Prometheus as the operator configures it --------------------------------------------


def test_chart_selector_rendering() -> None:
    known = facts("prometheus-operator.yml")
    rendering = known["pod-monitor-selector"]
    release = {"matchLabels": {"release": "prometheus"}}
    assert rendering["when-true"] == {"matchLabels": {"release": "<release>"}}
    default = chart_selection({})
    assert rendering["nil-uses-helm-values-default"] is True and default.selector == release
    off = {"prometheus": {"prometheusSpec": {"podMonitorSelectorNilUsesHelmValues": False}}}
    assert chart_selection(off).selector == rendering["when-false"]
    assert default.namespace_selector == known["pod-monitor-namespace-selector"]


def test_selector_semantics_and_our_values(store: ObjectStore) -> None:
    known = facts("prometheus-operator.yml")
    semantics = known["selector-semantics"]
    assert semantics == {
        "namespace-nil": "own namespace",
        "namespace-empty": "all",
        "selector-nil": "none",
        "selector-empty": "all",
    }
    monitors = store.list_objects("monitoring.coreos.com/v1", "PodMonitor")
    namespaces = store.list_objects("v1", "Namespace")
    pods = store.list_objects("v1", "Pod")

    def pools(selection: MonitorSelection) -> set[str]:
        config = scrape_config(monitors, pods, namespaces, SimSpec(), selection=selection)
        return {job["job_name"] for job in config["scrape_configs"]}

    everything = pools(MonitorSelection({}, {}))
    assert everything and pools(MonitorSelection(None, {})) == set()
    assert pools(MonitorSelection({}, None, "monitoring")) == everything  # ours live there
    assert pools(MonitorSelection({}, None, "linkerd")) == set()
    values_file = ROOT / "manifests/observability/prometheus-stack-values.yml"
    values = yaml.safe_load(values_file.read_text(encoding="utf-8"))
    flag = values["prometheus"]["prometheusSpec"]["podMonitorSelectorNilUsesHelmValues"]
    assert flag == known["our-values"]["podMonitorSelectorNilUsesHelmValues"]
    assert stack_selection(SimSpec()).selector == {}


def test_scrape_pools_job_label_and_relabelings(store: ObjectStore) -> None:
    known = facts("prometheus-operator.yml")
    config = scrape_config(
        store.list_objects("monitoring.coreos.com/v1", "PodMonitor"),
        store.list_objects("v1", "Pod"),
        store.list_objects("v1", "Namespace"),
        SimSpec(),
    )
    pattern = (
        re.escape(known["scrape-pool-name"])
        .replace(re.escape("<namespace>"), "[a-z0-9-]+")
        .replace(re.escape("<name>"), "[a-z0-9-]+")
        .replace(re.escape("<endpoint index>"), r"\d+")
    )
    for job in config["scrape_configs"]:
        assert re.fullmatch(pattern, job["job_name"]), job["job_name"]
        _, namespace, name, _ = job["job_name"].split("/")
        rules = job["relabel_configs"]
        expected = []
        for rule in known["generated-relabelings"]:
            text = yaml.safe_dump(rule).replace("<namespace>", namespace).replace("<name>", name)
            if "<port>" in text:
                keep = next(
                    (
                        r
                        for r in rules
                        if r.get("source_labels") == ["__meta_kubernetes_pod_container_port_name"]
                    ),
                    None,
                )
                if keep is None:
                    continue  # an endpoint without a port name: no port rules
                text = text.replace("<port>", keep["regex"])
            expected.append(yaml.safe_load(text))
        positions = [rules.index(rule) for rule in expected]  # ValueError: a rule is missing
        assert positions == sorted(positions), job["job_name"]
        default_job = (
            known["job-label"]["default"].replace("<namespace>", namespace).replace("<name>", name)
        )
        assert {"target_label": "job", "replacement": default_job} in rules


def test_prometheus_resource_name() -> None:
    name = facts("prometheus-operator.yml")["prometheus-resource-name"]
    config = scrape_config([], [], [], SimSpec())
    assert config["global"]["external_labels"]["prometheus"] == name
