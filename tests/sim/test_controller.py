"""The sim's controller: workloads -> ReplicaSets/Jobs/pods with realistic status, faults,
the Linkerd proxy-injector, events and logs. Runs against a small dict-backed store that
honours the ObjectStore contract (and against the real one once it exists)."""

from __future__ import annotations

import copy
import importlib
import itertools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stackcheck.sim.content import load_content, read_objects
from stackcheck.sim.controller import reconcile
from stackcheck.sim.spec import PodFault, SimSpec

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = [
    ROOT / "manifests/applications/bookinfo-with-linkerd.yml",
    ROOT / "manifests/applications/traffic-generator.yml",
    ROOT / "manifests/observability/linkerd-podmonitors.yml",
]
BLOCK = "127.45"
Obj = dict[str, Any]


class FakeStore:
    """apply/get_object/list_objects/remove/logs, as the ObjectStore contract says."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], Obj] = {}
        self.logs: dict[tuple[str, str, str], str] = {}
        self.kinds: set[tuple[str, str]] = set()
        self._counter = itertools.count(1)
        self.writes = 0

    def apply(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        key = (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
        old = self.objects.get(key)
        new = copy.deepcopy(obj)
        number = next(self._counter)
        new_meta = new["metadata"]
        fresh = f"00000000-0000-4000-8000-{number:012d}"
        new_meta["uid"] = old["metadata"]["uid"] if old else fresh
        new_meta["resourceVersion"] = str(number)
        new_meta.setdefault(
            "creationTimestamp",
            old["metadata"]["creationTimestamp"]
            if old
            else datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        generation = old["metadata"]["generation"] if old else 1
        if old and old.get("spec") != new.get("spec"):
            generation += 1
        new_meta["generation"] = generation
        if obj["kind"] == "CustomResourceDefinition":
            self.kinds.add((obj["spec"]["group"], obj["spec"]["names"]["kind"]))
        self.objects[key] = new
        self.writes += 1
        return copy.deepcopy(new)

    def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        found = self.objects.get((api_version, kind, namespace or "", name))
        return copy.deepcopy(found) if found else None

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]:
        out = []
        for (version, k, ns, _), obj in self.objects.items():
            if (version, k) != (api_version, kind) or (namespace and ns != namespace):
                continue
            labels = obj["metadata"].get("labels") or {}
            if label_selector and not all(
                labels.get(t.split("=")[0]) == t.split("=")[1] for t in label_selector.split(",")
            ):
                continue
            out.append(copy.deepcopy(obj))
        return out

    def remove(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        self.objects.pop((api_version, kind, namespace or "", name), None)


def _stores() -> list[Any]:
    stores: list[Any] = [FakeStore]
    try:  # the real store, once it exists
        module = importlib.import_module("stackcheck.sim.store")
    except ImportError:
        return stores
    return [*stores, module.ObjectStore]


@pytest.fixture(params=_stores(), ids=lambda s: s.__name__)
def store_class(request: pytest.FixtureRequest) -> Any:
    return request.param


def sim(store_class: Any, spec: SimSpec | None = None) -> Any:
    store = store_class()
    spec = spec or SimSpec()
    load_content(store, MANIFESTS, spec)
    reconcile(store, spec, BLOCK)
    return store


def pods(store: Any, namespace: str) -> list[Obj]:
    return sorted(store.list_objects("v1", "Pod", namespace), key=lambda p: p["metadata"]["name"])


def pod_of(store: Any, namespace: str, workload: str) -> Obj:
    found = [
        p
        for p in pods(store, namespace)
        if re.fullmatch(rf"{re.escape(workload)}-[a-z0-9]+(-[a-z0-9]+)?", p["metadata"]["name"])
    ]
    assert len(found) == 1, [p["metadata"]["name"] for p in pods(store, namespace)]
    return found[0]


def status_of(pod: Obj, container: str) -> Obj:
    statuses = pod["status"].get("containerStatuses", []) + pod["status"].get(
        "initContainerStatuses", []
    )
    return next(s for s in statuses if s["name"] == container)


def condition(obj: Obj, kind: str) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def events_for(store: Any, namespace: str, pod: str) -> list[Obj]:
    return [
        e
        for e in store.list_objects("v1", "Event", namespace)
        if e["involvedObject"]["name"] == pod
    ]


# ---------------------------------------------------------------------------- healthy


def test_healthy_pods_are_running_ready_and_named_like_real_ones(store_class: Any) -> None:
    store = sim(store_class, SimSpec(heartbeat_jobs=1))  # a heartbeat run that just finished
    names = {
        ns: [p["metadata"]["name"] for p in pods(store, ns)]
        for ns in ("bookinfo", "linkerd", "linkerd-viz", "monitoring")
    }
    assert len(names["bookinfo"]) == 7
    assert len(names["linkerd"]) == 4  # 3 deployments + 1 heartbeat job pod
    assert len(names["linkerd-viz"]) == 4
    assert len(names["monitoring"]) == 8  # node-exporter on each of the 3 nodes
    for name in names["bookinfo"]:
        assert re.fullmatch(
            r"[a-z0-9-]+-[bcdfghjklmnpqrstvwxz2456789]{9,10}"
            r"-[bcdfghjklmnpqrstvwxz2456789]{5}",
            name,
        ), name
    assert "prometheus-prometheus-kube-prometheus-prometheus-0" in names["monitoring"]
    assert "alertmanager-prometheus-kube-prometheus-alertmanager-0" in names["monitoring"]
    assert any(
        re.fullmatch(r"prometheus-prometheus-node-exporter-[a-z0-9]{5}", n)
        for n in names["monitoring"]
    )
    assert any(re.fullmatch(r"linkerd-heartbeat-\d{8}-[a-z0-9]{5}", n) for n in names["linkerd"])
    for ns in ("bookinfo", "linkerd-viz", "monitoring"):
        for pod in pods(store, ns):
            assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
            assert condition(pod, "Ready")["status"] == "True"


def test_pod_status_has_the_kubelet_fields(store_class: Any) -> None:
    pod = pod_of(sim(store_class), "bookinfo", "details-v1")
    status = pod["status"]
    assert pod["spec"]["nodeName"] == "sim-control-plane"
    assert status["podIP"].startswith(BLOCK + ".") and status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] and status["startTime"] and status["qosClass"] == "Burstable"
    assert {c["type"] for c in status["conditions"]} == {
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodReadyToStartContainers",
    }
    assert all(c["lastTransitionTime"] for c in status["conditions"])
    app = status_of(pod, "details")
    assert app["containerID"].startswith("containerd://") and "@sha256:" in app["imageID"]
    assert app["ready"] and app["started"] and "startedAt" in app["state"]["running"]
    init = status_of(pod, "linkerd-init")
    assert init["state"]["terminated"]["reason"] == "Completed"


def test_pod_ips_are_unique_and_in_the_block(store_class: Any) -> None:
    store = sim(store_class)
    ips = [
        p["status"]["podIP"]
        for p in store.list_objects("v1", "Pod")
        if p["status"].get("podIP") and not p["spec"].get("hostNetwork")
    ]
    assert len(ips) == len(set(ips))
    assert all(ip.startswith(BLOCK + ".") for ip in ips)


def test_deployment_replicaset_and_owner_chain(store_class: Any) -> None:
    store = sim(store_class)
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "productpage-v1")
    assert deploy["status"]["readyReplicas"] == deploy["status"]["availableReplicas"] == 1
    assert deploy["status"]["updatedReplicas"] == deploy["status"]["replicas"] == 1
    assert deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]
    assert condition(deploy, "Available")["status"] == "True"
    assert condition(deploy, "Progressing")["reason"] == "NewReplicaSetAvailable"
    pod = pod_of(store, "bookinfo", "productpage-v1")
    rs_ref = pod["metadata"]["ownerReferences"][0]
    assert rs_ref["kind"] == "ReplicaSet" and rs_ref["controller"] is True
    rs = store.get_object("apps/v1", "ReplicaSet", "bookinfo", rs_ref["name"])
    assert rs["metadata"]["ownerReferences"][0]["uid"] == deploy["metadata"]["uid"]
    assert (
        rs["metadata"]["name"] == "productpage-v1-" + pod["metadata"]["labels"]["pod-template-hash"]
    )
    assert rs["status"]["readyReplicas"] == 1


def test_statefulset_and_daemonset_status(store_class: Any) -> None:
    store = sim(store_class)
    sts = store.get_object(
        "apps/v1", "StatefulSet", "monitoring", "prometheus-prometheus-kube-prometheus-prometheus"
    )
    assert sts["status"]["readyReplicas"] == sts["status"]["replicas"] == 1
    ds = store.get_object(
        "apps/v1", "DaemonSet", "monitoring", "prometheus-prometheus-node-exporter"
    )
    assert ds["status"]["desiredNumberScheduled"] == ds["status"]["numberReady"] == 3
    assert ds["status"]["numberAvailable"] == 3


# ---------------------------------------------------------------------------- injector


def test_injected_pod_has_proxy_init_annotations_and_labels(store_class: Any) -> None:
    pod = pod_of(sim(store_class), "bookinfo", "reviews-v2")
    meta, spec = pod["metadata"], pod["spec"]
    assert [c["name"] for c in spec["containers"]] == ["linkerd-proxy", "reviews"]
    assert [c["name"] for c in spec["initContainers"]] == ["linkerd-init"]
    proxy = spec["containers"][0]
    assert proxy["image"] == "cr.l5d.io/linkerd/proxy:stable-2.14.10"
    assert {p["name"]: p["containerPort"] for p in proxy["ports"]} == {
        "linkerd-proxy": 4143,
        "linkerd-admin": 4191,
    }
    assert proxy["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "NET_ADMIN" in spec["initContainers"][0]["securityContext"]["capabilities"]["add"]
    assert meta["annotations"]["linkerd.io/proxy-version"] == "stable-2.14.10"
    assert meta["annotations"]["linkerd.io/created-by"].startswith("linkerd/proxy-injector")
    assert "linkerd.io/identity-mode" not in meta["annotations"]  # gone since 2.9
    assert len(meta["annotations"]["linkerd.io/trust-root-sha256"]) == 64
    assert meta["labels"]["linkerd.io/control-plane-ns"] == "linkerd"
    assert meta["labels"]["linkerd.io/proxy-deployment"] == "reviews-v2"
    assert meta["labels"]["linkerd.io/workload-ns"] == "bookinfo"


def test_control_plane_and_viz_pods_carry_proxies_but_not_heartbeat_or_monitoring(
    store_class: Any,
) -> None:
    store = sim(store_class)
    for ns in ("linkerd", "linkerd-viz"):
        for pod in pods(store, ns):
            names = [c["name"] for c in pod["spec"]["containers"]]
            heartbeat = pod["metadata"]["name"].startswith("linkerd-heartbeat-")
            assert ("linkerd-proxy" in names) is not heartbeat, pod["metadata"]["name"]
    assert all(
        "linkerd-proxy" not in [c["name"] for c in p["spec"]["containers"]]
        for p in pods(store, "monitoring")
    )


def test_native_sidecars_put_the_proxy_in_init_containers(store_class: Any) -> None:
    pod = pod_of(sim(store_class, SimSpec(native_sidecars=True)), "bookinfo", "details-v1")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["details"]
    init = {c["name"]: c for c in pod["spec"]["initContainers"]}
    assert list(init) == ["linkerd-init", "linkerd-proxy"]
    assert init["linkerd-proxy"]["restartPolicy"] == "Always"
    proxy_status = status_of(pod, "linkerd-proxy")
    assert proxy_status["ready"] and "running" in proxy_status["state"]
    assert condition(pod, "Ready")["status"] == "True"


def test_injector_down_leaves_bookinfo_without_proxies(store_class: Any) -> None:
    store = sim(store_class, SimSpec(injector_down=True))
    for pod in pods(store, "bookinfo"):
        assert "linkerd-proxy" not in [c["name"] for c in pod["spec"]["containers"]]
        assert not pod["spec"].get("initContainers")
        assert "linkerd.io/proxy-version" not in pod["metadata"].get("annotations", {})
    assert all(
        "linkerd-proxy" in [c["name"] for c in p["spec"]["containers"]]
        for p in pods(store, "linkerd-viz")
    )


def test_unannotated_namespace_loses_annotation_and_proxies(store_class: Any) -> None:
    store = sim(store_class, SimSpec(unannotated_namespaces={"bookinfo"}))
    namespace = store.get_object("v1", "Namespace", None, "bookinfo")
    assert "linkerd.io/inject" not in (namespace["metadata"].get("annotations") or {})
    assert all(
        "linkerd-proxy" not in [c["name"] for c in p["spec"]["containers"]]
        for p in pods(store, "bookinfo")
    )


# ---------------------------------------------------------------------------- faults


def test_crash_loop(store_class: Any) -> None:
    spec = SimSpec(pod_faults={"details-v1": PodFault.CRASH_LOOP}, restart_counts={"details-v1": 7})
    store = sim(store_class, spec)
    pod = pod_of(store, "bookinfo", "details-v1")
    app = status_of(pod, "details")
    assert app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert app["state"]["waiting"]["message"].startswith(
        "back-off 5m0s restarting failed container=details"
    )
    assert app["lastState"]["terminated"]["reason"] == "Error"
    assert app["lastState"]["terminated"]["exitCode"] == 1
    assert app["restartCount"] == 7 and not app["ready"]
    assert pod["status"]["phase"] == "Running"
    assert condition(pod, "Ready")["reason"] == "ContainersNotReady"
    events = events_for(store, "bookinfo", pod["metadata"]["name"])
    by_reason = {e["reason"]: e for e in events}
    assert (
        sorted(by_reason)
        == ["BackOff", "Created", "Pulled", "Started"]
        == sorted(e["reason"] for e in events)
    )
    backoff = by_reason["BackOff"]
    assert backoff["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert backoff["count"] >= 1 and backoff["source"]["component"] == "kubelet"
    assert {by_reason[r]["count"] for r in ("Pulled", "Created", "Started")} == {8}  # 7 restarts
    log = store.logs[("bookinfo", pod["metadata"]["name"], "details")]
    assert "ERROR" in log.strip().splitlines()[-2]
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "details-v1")
    assert condition(deploy, "Available")["reason"] == "MinimumReplicasUnavailable"
    assert "readyReplicas" not in deploy["status"]


def test_crash_loop_default_restart_count(store_class: Any) -> None:
    store = sim(store_class, SimSpec(pod_faults={"linkerd-destination": PodFault.CRASH_LOOP}))
    pod = pod_of(store, "linkerd", "linkerd-destination")
    assert status_of(pod, "destination")["restartCount"] == 5
    assert status_of(pod, "linkerd-proxy")["ready"]


def test_image_pull_backoff(store_class: Any) -> None:
    store = sim(store_class, SimSpec(pod_faults={"productpage-v1": PodFault.IMAGE_PULL}))
    pod = pod_of(store, "bookinfo", "productpage-v1")
    app = status_of(pod, "productpage")
    assert app["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert app["state"]["waiting"]["message"] == (
        'Back-off pulling image "docker.io/istio/examples-bookinfo-productpage-v1:1.20.2"'
    )
    assert pod["status"]["phase"] == "Pending"
    events = events_for(store, "bookinfo", pod["metadata"]["name"])
    assert sorted((e["type"], e["reason"], e["message"].split(":")[0]) for e in events) == [
        (
            "Normal",
            "BackOff",
            'Back-off pulling image "docker.io/istio/examples-bookinfo-productpage-v1',
        ),
        ("Normal", "Pulling", 'Pulling image "docker.io/istio/examples-bookinfo-productpage-v1'),
        ("Warning", "Failed", "Error"),
        ("Warning", "Failed", "Error"),
        (
            "Warning",
            "Failed",
            'Failed to pull image "docker.io/istio/examples-bookinfo-productpage-v1',
        ),
    ]


def test_pending_unschedulable(store_class: Any) -> None:
    store = sim(store_class, SimSpec(pod_faults={"ratings-v1": PodFault.PENDING}))
    pod = pod_of(store, "bookinfo", "ratings-v1")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"] and "containerStatuses" not in pod["status"]
    scheduled = condition(pod, "PodScheduled")
    assert scheduled["status"] == "False" and scheduled["reason"] == "Unschedulable"
    assert scheduled["message"] == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node "
        "affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims "
        "found for incoming pod, 2 Preemption is not helpful for scheduling.."
    )
    events = events_for(store, "bookinfo", pod["metadata"]["name"])
    assert [e["reason"] for e in events] == ["FailedScheduling"]
    # written through events.k8s.io/v1: no source, an eventTime
    assert events[0]["reportingComponent"] == "default-scheduler"
    assert events[0]["source"] == {} and events[0]["eventTime"]


def test_not_ready(store_class: Any) -> None:
    store = sim(store_class, SimSpec(pod_faults={"reviews-v2": PodFault.NOT_READY}))
    pod = pod_of(store, "bookinfo", "reviews-v2")
    app = status_of(pod, "reviews")
    assert "running" in app["state"] and not app["ready"]
    assert status_of(pod, "linkerd-proxy")["ready"]
    assert condition(pod, "Ready")["status"] == "False"
    events = events_for(store, "bookinfo", pod["metadata"]["name"])
    assert events[0]["reason"] == "Unhealthy"
    assert events[0]["message"].startswith("Readiness probe failed: ")


@pytest.mark.parametrize("native", [False, True])
def test_proxy_not_ready(store_class: Any, native: bool) -> None:
    spec = SimSpec(pod_faults={"reviews-v1": PodFault.PROXY_NOT_READY}, native_sidecars=native)
    store = sim(store_class, spec)
    pod = pod_of(store, "bookinfo", "reviews-v1")
    assert status_of(pod, "reviews")["ready"]
    assert not status_of(pod, "linkerd-proxy")["ready"]
    assert "linkerd-proxy" in condition(pod, "Ready")["message"]
    events = events_for(store, "bookinfo", pod["metadata"]["name"])
    where = "initContainers" if native else "containers"
    assert events[0]["involvedObject"]["fieldPath"] == f"spec.{where}{{linkerd-proxy}}"


def test_replicas_short(store_class: Any) -> None:
    store = sim(store_class, SimSpec(replicas_short={"ratings-v1": 1}))
    assert not [p for p in pods(store, "bookinfo") if p["metadata"]["name"].startswith("ratings")]
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "ratings-v1")
    assert "availableReplicas" not in deploy["status"]
    assert deploy["status"]["unavailableReplicas"] == 1
    assert condition(deploy, "Available")["status"] == "False"


def test_missing_workload(store_class: Any) -> None:
    store = sim(store_class, SimSpec(missing_workloads={"reviews-v3"}))
    assert store.get_object("apps/v1", "Deployment", "bookinfo", "reviews-v3") is None
    assert not [
        p for p in pods(store, "bookinfo") if p["metadata"]["name"].startswith("reviews-v3")
    ]


# ---------------------------------------------------------------------------- jobs


def test_heartbeat_jobs_complete(store_class: Any) -> None:
    store = sim(store_class, SimSpec(heartbeat_jobs=3))
    jobs = store.list_objects("batch/v1", "Job", "linkerd")
    assert len(jobs) == 3
    for job in jobs:
        assert re.fullmatch(r"linkerd-heartbeat-\d{8}", job["metadata"]["name"])
        assert job["status"]["succeeded"] == 1
        assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    heartbeat = [
        p for p in pods(store, "linkerd") if p["metadata"]["name"].startswith("linkerd-heartbeat-")
    ]
    assert len(heartbeat) == 3
    for pod in heartbeat:
        assert pod["status"]["phase"] == "Succeeded"
        terminated = status_of(pod, "heartbeat")["state"]["terminated"]
        assert terminated["reason"] == "Completed" and terminated["exitCode"] == 0
        ready = condition(pod, "Ready")
        assert ready["status"] == "False" and ready["reason"] == "PodCompleted"
    cronjob = store.get_object("batch/v1", "CronJob", "linkerd", "linkerd-heartbeat")
    assert cronjob["status"]["lastSuccessfulTime"]


# ---------------------------------------------------------------------------- secrets


def test_planted_secrets_reach_a_failing_log_and_a_pod_env(store_class: Any) -> None:
    secrets = ["hunter2-planted", "s3cr3t-token-planted"]
    spec = SimSpec(pod_faults={"details-v1": PodFault.CRASH_LOOP}, planted_secrets=secrets)
    store = sim(store_class, spec)
    pod = pod_of(store, "bookinfo", "details-v1")
    log = store.logs[("bookinfo", pod["metadata"]["name"], "details")]
    assert all(s in log for s in secrets)
    env = {e["name"]: e.get("value") for c in pod["spec"]["containers"] for e in c.get("env", [])}
    assert all(s in env["DB_PASSWORD"] for s in secrets)


# ---------------------------------------------------------------------------- idempotence


def test_second_reconcile_changes_nothing(store_class: Any) -> None:
    spec = SimSpec(pod_faults={"details-v1": PodFault.CRASH_LOOP}, heartbeat_jobs=2)
    store = sim(store_class, spec)
    before = {key: copy.deepcopy(obj) for key, obj in _everything(store).items()}
    logs = dict(store.logs)
    reconcile(store, spec, BLOCK)
    after = _everything(store)
    assert after == before
    assert store.logs == logs


def _everything(store: Any) -> dict[tuple[str, str, str, str], Obj]:
    kinds = [
        ("v1", "Pod"),
        ("v1", "Event"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
    ]
    return {
        (v, k, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for v, k in kinds
        for o in store.list_objects(v, k)
    }


# ---------------------------------------------------------------------------- content


def test_bad_yaml_names_file_and_document(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad\.yml document 1: missing metadata\.name"):
        list(read_objects(bad))
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.yml"):
        load_content(FakeStore(), [broken], SimSpec())


def test_empty_documents_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "m.yml"
    path.write_text(
        "---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n", encoding="utf-8"
    )
    assert [o["metadata"]["name"] for o in read_objects(path)] == ["x"]


def test_manifests_are_deployable_shapes() -> None:
    for path in MANIFESTS[:2]:
        for obj in read_objects(path):
            template = obj.get("spec", {}).get("template", {}).get("spec")
            if template is None:
                continue
            assert template["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
            assert {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule",
            } in template["tolerations"]
            for container in template["containers"]:
                assert not container["image"].endswith(":latest") and ":" in container["image"]
                assert container["resources"]["requests"]


# ---------------------------------------------------------------------------- scheduling

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


def test_default_cluster_is_a_control_plane_and_two_workers_a_worker_first(
    store_class: Any,
) -> None:
    nodes = sorted(sim(store_class).list_objects("v1", "Node"), key=lambda n: n["metadata"]["name"])
    assert [CONTROL_PLANE in n["metadata"]["labels"] for n in nodes] == [False, False, True]
    control_plane = nodes[2]
    assert control_plane["spec"]["taints"] == [{"key": CONTROL_PLANE, "effect": "NoSchedule"}]
    assert all(n["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.28.") for n in nodes)


def test_pods_go_where_their_selector_and_tolerations_let_them(store_class: Any) -> None:
    store = sim(store_class)
    nodes = {n["metadata"]["name"]: n for n in store.list_objects("v1", "Node")}
    ips = {
        name: next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP")
        for name, n in nodes.items()
    }
    for pod in store.list_objects("v1", "Pod"):
        node = pod["spec"]["nodeName"]
        assert pod["status"]["hostIP"] == ips[node], pod["metadata"]["name"]
        if pod["metadata"]["name"].startswith("prometheus-prometheus-node-exporter"):
            continue
        assert node == "sim-control-plane", pod["metadata"]["name"]  # everything is pinned
    exporters = [
        p
        for p in store.list_objects("v1", "Pod", "monitoring")
        if p["metadata"]["name"].startswith("prometheus-prometheus-node-exporter")
    ]
    assert sorted(p["spec"]["nodeName"] for p in exporters) == sorted(nodes)


def test_unplaced_pod_lands_on_a_worker_when_there_are_workers(store_class: Any) -> None:
    store = sim(store_class, SimSpec(unplaced_workloads={"linkerd-destination"}))
    pod = pod_of(store, "linkerd", "linkerd-destination")
    assert pod["status"]["phase"] == "Running"
    assert pod["spec"]["nodeName"].endswith("-worker")


def test_unplaced_pod_on_the_tainted_control_plane_alone_is_pending_naming_the_taint(
    store_class: Any,
) -> None:
    store = sim(
        store_class, SimSpec(control_plane_only=True, unplaced_workloads={"linkerd-destination"})
    )
    assert [n["metadata"]["name"] for n in store.list_objects("v1", "Node")] == [
        "sim-control-plane"
    ]
    pod = pod_of(store, "linkerd", "linkerd-destination")
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]
    message = (
        "0/1 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/1 nodes are "
        "available: 1 Preemption is not helpful for scheduling.."
    )
    scheduled = condition(pod, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == (
        "False",
        "Unschedulable",
        message,
    )
    events = events_for(store, "linkerd", pod["metadata"]["name"])
    # the scheduler writes events.k8s.io Events: reportingComponent, an empty source
    assert [(e["reason"], e["message"], e["reportingComponent"]) for e in events] == [
        ("FailedScheduling", message, "default-scheduler")
    ]
    identity = pod_of(store, "linkerd", "linkerd-identity")  # placed: still runs
    assert identity["status"]["phase"] == "Running"


def test_unscheduled_heartbeat_job_never_completes(store_class: Any) -> None:
    store = sim(
        store_class,
        SimSpec(
            control_plane_only=True, heartbeat_jobs=1, unplaced_workloads={"linkerd-heartbeat"}
        ),
    )
    pod = pod_of(store, "linkerd", "linkerd-heartbeat")
    assert pod["status"]["phase"] == "Pending"
    job = store.list_objects("batch/v1", "Job", "linkerd")[0]
    assert job["status"]["active"] == 1 and "succeeded" not in job["status"]
