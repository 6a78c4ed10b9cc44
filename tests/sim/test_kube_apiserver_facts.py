"""The sim's API server, kubelet and scheduler held to tests/data/facts/kube-apiserver.yml:
each fact about the real components at 1.28 (with its source) is checked against what the
sim serves or writes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from stackcheck.sim import apiserver as apiserver_module
from stackcheck.sim import store as store_module
from stackcheck.sim import tables
from stackcheck.sim.apiserver import ApiServer
from stackcheck.sim.content import load_content, read_objects
from stackcheck.sim.controller import reconcile
from stackcheck.sim.spec import PodFault, SimSpec
from stackcheck.sim.store import ObjectStore

ROOT = Path(__file__).resolve().parents[2]
FACTS: dict[str, Any] = yaml.safe_load(
    (ROOT / "tests/data/facts/kube-apiserver.yml").read_text(encoding="utf-8")
)["facts"]
MANIFESTS = [ROOT / "manifests/applications/bookinfo-with-linkerd.yml"]
ADMIN, READER = "admin-token", "reader-token"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
Obj = dict[str, Any]


def test_every_fact_names_its_source() -> None:
    for name, fact in FACTS.items():
        source = fact["source"]
        assert source["repository"] and source["path"] and source["tag"], name
        assert fact["what"], name


# --- a sim with the pod faults, served over https -------------------------------------
FAULTS = {
    "details-v1": PodFault.CRASH_LOOP,
    "productpage-v1": PodFault.IMAGE_PULL,
    "reviews-v2": PodFault.NOT_READY,
    "ratings-v1": PodFault.PENDING,
}


@pytest.fixture(scope="module")
def faulty() -> ObjectStore:
    store = ObjectStore()
    spec = SimSpec(pod_faults=dict(FAULTS), restart_counts={"details-v1": 7})
    load_content(store, MANIFESTS, spec)
    load_content(store, [ROOT / "manifests/rbac/verifier-readonly.yml"], spec)
    reconcile(store, spec, "127.46")
    return store


@pytest.fixture(scope="module")
def api(faulty: ObjectStore) -> Iterator[ApiServer]:
    server = ApiServer(faulty, SimSpec(), ADMIN)
    server.start(tls=True)
    server.register_token(READER, "stackcheck", "stackcheck-verifier")
    yield server
    server.stop()


def call(
    api: ApiServer, method: str, path: str, token: str = ADMIN, **kwargs: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    assert api.ca_file is not None  # verified against the sim's CA: TLS as kubectl sees it
    return requests.request(
        method, api.base_url + path, headers=headers, timeout=10, verify=str(api.ca_file), **kwargs
    )


def pod_named(store: ObjectStore, workload: str) -> Obj:
    found = [
        p
        for p in store.list_objects("v1", "Pod", "bookinfo")
        if p["metadata"]["name"].startswith(workload + "-")
    ]
    assert len(found) == 1
    return found[0]


# --- tables ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(FACTS["table-columns"]["columns"]))
def test_table_columns(api: ApiServer, kind: str) -> None:
    group_version, _, name = kind.rpartition("/")
    resource = next(
        r for r in api.store.resources() if (r.api_version, r.kind) == (group_version, name)
    )
    prefix = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    answer = call(api, "GET", f"{prefix}/{resource.plural}", headers={"Accept": TABLE})
    assert answer.status_code == 200, answer.text
    table = answer.json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    wanted = FACTS["table-columns"]["columns"][kind]
    assert [[c["name"], c["priority"]] for c in table["columnDefinitions"]] == wanted
    for row in table["rows"]:
        assert len(row["cells"]) == len(wanted)
        assert row["object"]["kind"] == "PartialObjectMetadata"


def test_default_and_custom_resource_tables(api: ApiServer) -> None:
    fact = FACTS["default-table-columns"]
    answer = call(
        api, "GET", "/api/v1/namespaces/stackcheck/serviceaccounts", headers={"Accept": TABLE}
    ).json()
    assert [[c["name"], c["priority"]] for c in answer["columnDefinitions"]] == fact["columns"]
    assert [c["type"] for c in answer["columnDefinitions"]] == fact["types"]
    crd = call(
        api, "GET", "/apis/monitoring.coreos.com/v1/podmonitors", headers={"Accept": TABLE}
    ).json()
    assert [[c["name"], c["priority"]] for c in crd["columnDefinitions"]] == FACTS[
        "custom-resource-columns"
    ]["columns"]


def test_plain_json_without_the_table_accept(api: ApiServer) -> None:
    answer = call(
        api, "GET", "/api/v1/namespaces/bookinfo/pods", headers={"Accept": "application/json"}
    ).json()
    assert answer["kind"] == "PodList"


@pytest.mark.parametrize("case", FACTS["pod-status"]["cases"], ids=lambda c: c["name"])
def test_pod_status_text(case: Obj) -> None:
    containers = [{"name": s["name"]} for s in case["status"].get("containerStatuses") or []]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "creationTimestamp": "2024-11-17T08:00:00Z"},
        "spec": {
            "containers": containers or [{"name": "app"}],
            "initContainers": [{"name": n} for n in case.get("init_containers", [])],
        },
        "status": case["status"],
    }
    now = datetime.fromisoformat(case.get("now", "2024-11-20T08:00:00Z").replace("Z", "+00:00"))
    cells = tables.table("v1", "Pod", [pod], "1", now=now)["rows"][0]["cells"]
    assert cells[1:4] == [case["ready"], case["status_text"], case["restarts"]]


@pytest.mark.parametrize("seconds,text", sorted(FACTS["human-duration"]["examples"].items()))
def test_human_duration(seconds: str, text: str) -> None:
    assert tables.human_duration(int(seconds)) == text


def test_faulted_pods_read_as_kubectl_shows_them(api: ApiServer) -> None:
    table = call(api, "GET", "/api/v1/namespaces/bookinfo/pods", headers={"Accept": TABLE})
    status = {row["cells"][0].rsplit("-", 2)[0]: row["cells"][2] for row in table.json()["rows"]}
    assert status["details-v1"] == "CrashLoopBackOff"
    assert status["productpage-v1"] == "ImagePullBackOff"
    assert status["ratings-v1"] == "Pending"
    assert status["reviews-v2"] == "Running"
    restarts = next(
        r["cells"][3] for r in table.json()["rows"] if r["cells"][0].startswith("details-v1")
    )
    assert restarts.startswith("7 (") and restarts.endswith(" ago)")


# --- events ----------------------------------------------------------------------------
def events_of(store: ObjectStore, pod: Obj) -> list[Obj]:
    return [
        e
        for e in store.list_objects("v1", "Event", "bookinfo")
        if e["involvedObject"]["uid"] == pod["metadata"]["uid"]
    ]


def _matches(template: str, message: str, **values: str) -> bool:
    head, _, _ = template.partition("{error}")
    return (
        message.startswith(head.format(**values))
        if "{error}" in template
        else (message == template.format(**values))
    )


@pytest.mark.parametrize(
    "fault,workload",
    [("crash-loop", "details-v1"), ("image-pull", "productpage-v1"), ("not-ready", "reviews-v2")],
)
def test_kubelet_events(faulty: ObjectStore, fault: str, workload: str) -> None:
    pod = pod_named(faulty, workload)
    main = next(c for c in pod["spec"]["containers"] if c["name"] != "linkerd-proxy")
    values = {
        "image": main["image"],
        "container": main["name"],
        "pod": pod["metadata"]["name"],
        "namespace": "bookinfo",
        "uid": pod["metadata"]["uid"],
        "code": "503",
    }
    events = events_of(faulty, pod)
    wanted = FACTS["kubelet-events"][fault]
    assert len(events) == len(wanted)
    for kind, reason, template in wanted:
        found = [
            e
            for e in events
            if (e["type"], e["reason"]) == (kind, reason)
            and _matches(template, e["message"], **values)
        ]
        assert len(found) == 1, (reason, template, [e["message"] for e in events])
        event = found[0]
        assert event["source"] == {"component": "kubelet", "host": pod["spec"]["nodeName"]}
        assert event["reportingComponent"] == "kubelet"
        assert event["count"] >= 1
        assert (
            pod["metadata"]["creationTimestamp"]
            <= event["firstTimestamp"]
            <= event["lastTimestamp"]
        )
        assert event["involvedObject"]["fieldPath"] == f"spec.containers{{{main['name']}}}"


def test_scheduler_event(faulty: ObjectStore, api: ApiServer) -> None:
    fact = FACTS["scheduler-events"]
    pod = pod_named(faulty, "ratings-v1")
    [event] = events_of(faulty, pod)
    assert (event["reason"], event["type"], event["action"], event["reportingComponent"]) == (
        fact["reason"],
        fact["type"],
        fact["action"],
        fact["reportingComponent"],
    )
    assert event["source"] == {} and event["firstTimestamp"] is None and event["eventTime"]
    assert event["eventTime"][:19] >= pod["metadata"]["creationTimestamp"][:19]
    selected = call(api, "GET", "/api/v1/events?fieldSelector=source%3Ddefault-scheduler")
    assert [e["reason"] for e in selected.json()["items"]] == ["FailedScheduling"]


def test_events_served_in_both_apis(api: ApiServer) -> None:
    core = call(api, "GET", "/api/v1/namespaces/bookinfo/events").json()["items"]
    new = call(api, "GET", "/apis/events.k8s.io/v1/namespaces/bookinfo/events").json()
    assert sorted(e["metadata"]["name"] for e in new["items"]) == sorted(
        e["metadata"]["name"] for e in core
    )
    backoff = next(e for e in new["items"] if e["reason"] == "BackOff")
    assert backoff["regarding"]["kind"] == "Pod" and backoff["deprecatedCount"] >= 1
    assert backoff["reportingController"] == "kubelet" and backoff["note"]


# --- logs, apply, watch, reviews -----------------------------------------------------------
def test_logs_previous(faulty: ObjectStore, api: ApiServer) -> None:
    fact = FACTS["logs-previous"]
    healthy = pod_named(faulty, "reviews-v1")["metadata"]["name"]
    answer = call(
        api,
        "GET",
        f"/api/v1/namespaces/bookinfo/pods/{healthy}/log?container=reviews&previous=true",
    )
    assert answer.status_code == fact["code"]
    assert answer.json()["message"] == fact["message"].format(container="reviews", pod=healthy)
    crashing = pod_named(faulty, "details-v1")["metadata"]["name"]
    previous = call(
        api,
        "GET",
        f"/api/v1/namespaces/bookinfo/pods/{crashing}/log?container=details&previous=true",
    )
    assert previous.status_code == 200 and "ERROR" in previous.text


def test_apply_conflict(api: ApiServer) -> None:
    fact = FACTS["apply-conflict"]
    path = "/api/v1/namespaces/bookinfo/configmaps/facts-demo"
    headers = {"Content-Type": "application/apply-patch+yaml"}

    def apply(manager: str, data: Obj, force: bool = False) -> requests.Response:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "facts-demo", "labels": data.pop("label", {})},
            "data": data,
        }
        query = f"?fieldManager={manager}" + ("&force=true" if force else "")
        return call(api, "PATCH", path + query, headers=headers, data=json.dumps(body))

    assert apply("first", {"a": "1", "b": "2", "label": {"x": "1"}}).status_code == 201
    assert apply("second", {"a": "1"}).status_code == 200  # same value: shared, no conflict
    one = apply("second", {"a": "9"})
    assert one.status_code == fact["code"] and one.json()["reason"] == fact["reason"]
    assert one.json()["message"] == fact["one"].format(manager='"first"', field=".data.a")
    assert one.json()["details"]["causes"] == [
        {"type": fact["cause_type"], "message": 'conflict with "first"', "field": ".data.a"}
    ]
    many = apply("second", {"a": "9", "b": "8"}).json()
    assert many["message"] == fact["many"].format(
        count=2, manager='"first"', field=".data.a", field2=".data.b"
    )
    forced = apply("second", {"a": "9", "b": "8"}, force=True)
    assert forced.status_code == 200 and forced.json()["data"] == {"a": "9", "b": "8"}
    assert apply("first", {"a": "1"}).status_code == 409  # now "second" owns it


def test_watch_from_a_compacted_version(monkeypatch: pytest.MonkeyPatch) -> None:
    fact = FACTS["watch-expired"]
    monkeypatch.setattr(store_module, "HISTORY", 5)
    store = ObjectStore()
    for index in range(12):
        store.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"c{index}", "namespace": "default"},
            }
        )
    server = ApiServer(store, SimSpec(), ADMIN)
    server.start()
    try:
        answer = requests.get(
            server.base_url + "/api/v1/configmaps?watch=true&resourceVersion=2&timeoutSeconds=2",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=10,
        )
    finally:
        server.stop()
    [line] = answer.text.splitlines()
    event = json.loads(line)
    assert event["type"] == "ERROR"
    status = event["object"]
    assert (status["code"], status["reason"]) == (fact["code"], fact["reason"])
    assert status["message"] == fact["message"].format(asked=2, oldest=7)


@pytest.mark.parametrize("api_version,plural", FACTS["self-subject-reviews"]["resources"])
def test_self_subject_reviews_allowed_to_anyone(
    api: ApiServer, api_version: str, plural: str
) -> None:
    kind = {
        "selfsubjectreviews": "SelfSubjectReview",
        "selfsubjectaccessreviews": "SelfSubjectAccessReview",
        "selfsubjectrulesreviews": "SelfSubjectRulesReview",
    }[plural]
    spec = {
        "selfsubjectaccessreviews": {
            "resourceAttributes": {"namespace": "bookinfo", "verb": "delete", "resource": "pods"}
        },
        "selfsubjectrulesreviews": {"namespace": "bookinfo"},
    }.get(plural)
    body = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"creationTimestamp": None},
        **({"spec": spec} if spec else {}),
    }
    answer = call(api, "POST", f"/apis/{api_version}/{plural}", token=READER, json=body)
    assert answer.status_code == 201, answer.text
    status = answer.json()["status"]
    if kind == "SelfSubjectReview":
        assert status["userInfo"]["username"] == (
            "system:serviceaccount:stackcheck:stackcheck-verifier"
        )
        assert "system:authenticated" in status["userInfo"]["groups"]
    elif kind == "SelfSubjectAccessReview":
        assert status["allowed"] is False  # the read-only verifier may not delete pods
    else:
        pods = [
            r
            for r in status["resourceRules"]
            if "" in r.get("apiGroups", []) and "pods" in r.get("resources", [])
        ]
        assert pods and all(set(r["verbs"]) <= {"get", "list", "watch"} for r in pods)
        assert {
            "verbs": ["create"],
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["selfsubjectreviews"],
        } in status["resourceRules"]


# --- creation order ------------------------------------------------------------------------
def _created(obj: Obj) -> datetime:
    return datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))


def test_creation_order(faulty: ObjectStore) -> None:
    for deploy in faulty.list_objects("apps/v1", "Deployment"):
        meta = deploy["metadata"]
        sets = [
            r
            for r in faulty.list_objects("apps/v1", "ReplicaSet", meta["namespace"])
            if r["metadata"]["ownerReferences"][0]["uid"] == meta["uid"]
        ]
        assert sets, meta["name"]
        for rs in sets:
            assert _created(deploy) < _created(rs), meta["name"]
            for pod in faulty.list_objects("v1", "Pod", meta["namespace"]):
                if pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]:
                    assert _created(rs) < _created(pod), pod["metadata"]["name"]
    for job in faulty.list_objects("batch/v1", "Job"):
        owner = job["metadata"]["ownerReferences"][0]
        cronjob = faulty.get_object(
            "batch/v1", "CronJob", job["metadata"]["namespace"], owner["name"]
        )
        assert cronjob is not None and _created(cronjob) < _created(job)
        for pod in faulty.list_objects("v1", "Pod", job["metadata"]["namespace"]):
            if pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]:
                assert _created(job) < _created(pod)
    namespace = faulty.get_object("v1", "Namespace", None, "bookinfo")
    assert namespace is not None
    assert all(_created(namespace) <= _created(p) for p in faulty.list_objects("v1", "Pod"))
    assert all(_created(p) <= datetime.now(UTC) for p in faulty.list_objects("v1", "Pod"))


def test_every_readonly_rbac_document_loads() -> None:
    assert list(read_objects(ROOT / "manifests/rbac/verifier-readonly.yml"))


# --- the listener ------------------------------------------------------------------------
@pytest.mark.skipif(
    shutil.which("ss") is None or not apiserver_module.SOMAXCONN.exists(),
    reason="needs Linux's ss and /proc/sys/net/core/somaxconn",
)
def test_listen_backlog_is_somaxconn(api: ApiServer) -> None:
    port = api.base_url.rsplit(":", 1)[1]
    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()
    # a listening socket's Send-Q is its backlog
    somaxconn = int(apiserver_module.SOMAXCONN.read_text(encoding="ascii").split()[0])
    assert int(listing[2]) == somaxconn


def test_listen_backlog_when_somaxconn_is_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fact = FACTS["listen-backlog"]
    monkeypatch.setattr(apiserver_module, "SOMAXCONN", tmp_path / "missing")
    assert apiserver_module.listen_backlog() == fact["unreadable"]
    (tmp_path / "zero").write_text("0\n", encoding="ascii")
    monkeypatch.setattr(apiserver_module, "SOMAXCONN", tmp_path / "zero")
    assert apiserver_module.listen_backlog() == fact["unreadable"]


def test_version_is_the_release_the_kubelets_run(api: ApiServer) -> None:
    """/version answers as the v1.28.15 kube-apiserver, the version of the nodes' kubelets
    (kubeadm keeps them at one version), and the OpenAPI documents say the same."""
    fact = FACTS["version-info"]["answer"]
    answer = call(api, "GET", "/version").json()
    assert answer == fact
    nodes = call(api, "GET", "/api/v1/nodes").json()["items"]
    assert nodes
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {fact["gitVersion"]}
    paths = call(api, "GET", "/openapi/v3").json()["paths"]
    document = call(api, "GET", paths["api/v1"]["serverRelativeURL"]).json()
    assert document["info"]["version"] == fact["gitVersion"]
