"""ApiServer, driven with the official kubernetes client, its dynamic client, `requests` and
(when installed) kubectl, against the plain-http sim."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, dynamic, watch
from kubernetes.client.exceptions import ApiException
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from stackcheck.sim.apiserver import ApiServer
from stackcheck.sim.content import read_objects
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.store import ObjectStore

ROOT = Path(__file__).resolve().parents[2]
DYNAMIC: Any = dynamic  # untyped modules of the client
WATCH: Any = watch
ADMIN = "admin-token"
READONLY = "readonly-token"
Obj = dict[str, Any]


def pod(
    name: str, containers: list[str], labels: dict[str, str] | None = None, phase: str = "Running"
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "bookinfo", "labels": labels or {}},
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": c, "image": "img"} for c in containers],
        },
        "status": {"phase": phase},
    }


def podmonitor_crd() -> Obj:
    path = ROOT / "stackcheck/sim/data/10-kube-prometheus-stack.yml"
    docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return next(d for d in docs if d and d["kind"] == "CustomResourceDefinition")


@pytest.fixture
def store() -> ObjectStore:
    store = ObjectStore()
    for name in ("bookinfo", "monitoring"):
        store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for obj in read_objects(ROOT / "manifests/rbac/verifier-readonly.yml"):
        store.apply(obj)
    store.apply(pod("details-v1-abc", ["details"], {"app": "details"}))
    store.apply(
        pod("reviews-v1-abc", ["reviews", "linkerd-proxy"], {"app": "reviews"}, phase="Pending")
    )
    store.logs[("bookinfo", "details-v1-abc", "details")] = "one\ntwo\nthree\n"
    store.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "monitoring"},
            "spec": {"ports": [{"name": "http-web", "port": 9090}]},
        }
    )
    store.apply(podmonitor_crd())
    return store


@pytest.fixture
def spec() -> SimSpec:
    return SimSpec()


@pytest.fixture
def server(store: ObjectStore, spec: SimSpec) -> Iterator[ApiServer]:
    api = ApiServer(store, spec, ADMIN)
    api.start()
    api.register_token(READONLY, "stackcheck", "stackcheck-verifier")
    yield api
    api.stop()


def api_client(server: ApiServer, token: str = ADMIN) -> Any:
    """An ApiClient (typed Any: the generated models make every field Optional)."""
    configuration = client.Configuration()
    configuration.host = server.base_url
    configuration.api_key = {"authorization": f"Bearer {token}"}
    configuration.retries = 0
    return client.ApiClient(configuration)


@pytest.fixture
def core(server: ApiServer) -> Iterator[Any]:
    with api_client(server) as api:
        yield client.CoreV1Api(api)


def raw(
    server: ApiServer, method: str, path: str, token: str | None = ADMIN, **kwargs: Any
) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, server.base_url + path, headers=headers, timeout=10, **kwargs)


def status_of(response: requests.Response) -> Obj:
    body: Obj = response.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure" and body["code"] == response.status_code
    return body


def configmap(name: str, data: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "bookinfo"},
        "data": data or {"k": "v"},
    }


# --- discovery -------------------------------------------------------------------------------
def test_discovery_with_the_client(server: ApiServer) -> None:
    with api_client(server) as api:
        assert client.VersionApi(api).get_code().git_version == "v1.28.15"
        assert client.CoreApi(api).get_api_versions().versions == ["v1"]
        groups: dict[str, Any] = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
        assert {
            "apps",
            "batch",
            "rbac.authorization.k8s.io",
            "apiextensions.k8s.io",
            "monitoring.coreos.com",
        } <= set(groups)
        assert groups["apps"].preferred_version.group_version == "apps/v1"
        resources: dict[str, Any] = {
            r.name: r for r in client.CoreV1Api(api).get_api_resources().resources
        }
        assert resources["pods"].namespaced and resources["pods"].kind == "Pod"
        assert "po" in resources["pods"].short_names and "watch" in resources["pods"].verbs
        assert resources["pods/log"].verbs == ["get"]
        assert not resources["nodes"].namespaced
        assert "services/proxy" in resources
        custom = client.CustomObjectsApi(api).get_api_resources("monitoring.coreos.com", "v1")
        assert [r.name for r in custom.resources if "/" not in r.name] == ["podmonitors"]


def test_health_needs_no_token(server: ApiServer) -> None:
    for path in ("/healthz", "/readyz", "/livez"):
        answer = raw(server, "GET", path, token=None)
        assert (answer.status_code, answer.text) == (200, "ok")


def test_unknown_paths_are_404_status(server: ApiServer) -> None:
    for path in ("/api/v1/widgets", "/apis/nope/v1", "/apis/apps/v1/pods", "/openapi/v2"):
        answer = raw(server, "GET", path)
        assert answer.status_code == 404, path
        assert status_of(answer)["message"] == "the server could not find the requested resource"


def test_dynamic_client_discovers_and_applies(server: ApiServer, store: ObjectStore) -> None:
    with api_client(server) as api:
        dyn = DYNAMIC.DynamicClient(api)
        monitors = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="PodMonitor")
        body = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {"name": "linkerd-proxy", "namespace": "monitoring"},
            "spec": {"selector": {}},
        }
        first = dyn.server_side_apply(
            monitors,
            body=body,
            namespace="monitoring",
            field_manager="stackcheck",
            force_conflicts=True,
        )
        second = dyn.server_side_apply(
            monitors,
            body=body,
            namespace="monitoring",
            field_manager="stackcheck",
            force_conflicts=True,
        )
        assert first.metadata.resourceVersion == second.metadata.resourceVersion
        listed = dyn.get(monitors, namespace="monitoring")
        assert [m.metadata.name for m in listed.items] == ["linkerd-proxy"]
    assert (
        store.get_object("monitoring.coreos.com/v1", "PodMonitor", "monitoring", "linkerd-proxy")
        is not None
    )


# --- reads -----------------------------------------------------------------------------------
def test_get_and_list(core: Any, server: ApiServer) -> None:
    got = core.read_namespaced_pod("details-v1-abc", "bookinfo")
    assert got.metadata.uid and got.spec.containers[0].name == "details"
    everywhere = core.list_pod_for_all_namespaces()
    assert [p.metadata.name for p in everywhere.items] == ["details-v1-abc", "reviews-v1-abc"]
    namespaces = core.list_namespace()
    assert {"bookinfo", "monitoring", "stackcheck"} <= {n.metadata.name for n in namespaces.items}
    body = raw(server, "GET", "/api/v1/namespaces/bookinfo/pods").json()
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"].isdigit()
    assert "kind" not in body["items"][0]  # as upstream: list items carry no type


def test_selectors(core: Any, server: ApiServer) -> None:
    def names(**selectors: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("bookinfo", **selectors).items]

    assert names(label_selector="app=details") == ["details-v1-abc"]
    assert names(label_selector="app in (details,reviews),app!=details") == ["reviews-v1-abc"]
    assert names(field_selector="status.phase=Running") == ["details-v1-abc"]
    assert names(field_selector="metadata.name!=details-v1-abc,spec.nodeName=node-1") == [
        "reviews-v1-abc"
    ]
    bad = raw(server, "GET", "/api/v1/pods", params={"fieldSelector": "spec.image=x"})
    assert bad.status_code == 400
    assert status_of(bad)["reason"] == "BadRequest"
    assert "field label not supported: spec.image" in status_of(bad)["message"]


def test_pagination_is_consistent(server: ApiServer, store: ObjectStore) -> None:
    for index in range(7):
        store.apply(configmap(f"cm-{index}"))
    path = "/api/v1/namespaces/bookinfo/configmaps"
    first = raw(server, "GET", path, params={"limit": 3}).json()
    assert len(first["items"]) == 3 and first["metadata"]["remainingItemCount"] == 4
    store.apply(configmap("cm-00-new"))  # sorts inside the first page: must not shift pages
    store.remove("v1", "ConfigMap", "bookinfo", "cm-5")
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = raw(server, "GET", path, params={"limit": 3, "continue": token}).json()
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == [f"cm-{i}" for i in range(7)]
    bad = raw(server, "GET", path, params={"limit": 3, "continue": "garbage!"})
    assert bad.status_code == 400


def test_lists_stay_in_key_order_as_objects_come_and_go(
    server: ApiServer, store: ObjectStore
) -> None:
    def names() -> list[str]:
        body = raw(server, "GET", "/api/v1/namespaces/bookinfo/configmaps").json()
        return [i["metadata"]["name"] for i in body["items"]]

    for name in ("cm-b", "cm-d"):
        store.apply(configmap(name))
    assert names() == ["cm-b", "cm-d"]
    store.apply(configmap("cm-c"))
    store.apply(configmap("cm-a"))
    assert names() == ["cm-a", "cm-b", "cm-c", "cm-d"]
    store.remove("v1", "ConfigMap", "bookinfo", "cm-b")
    store.apply(configmap("cm-c", {"changed": "yes"}))  # a change keeps its place
    assert names() == ["cm-a", "cm-c", "cm-d"]


def test_client_paginates(core: Any, store: ObjectStore) -> None:
    for index in range(5):
        store.apply(configmap(f"cm-{index}"))
    page = core.list_namespaced_config_map("bookinfo", limit=2)
    seen = [c.metadata.name for c in page.items]
    while page.metadata._continue:
        page = core.list_namespaced_config_map(
            "bookinfo", limit=2, _continue=page.metadata._continue
        )
        seen += [c.metadata.name for c in page.items]
    assert seen == [f"cm-{i}" for i in range(5)]


def test_watch_from_a_listed_version(core: Any, store: ObjectStore) -> None:
    listed = core.list_namespaced_config_map("bookinfo")

    def changes() -> None:
        store.apply(configmap("new"))
        store.apply(configmap("other", {"a": "b"}))
        store.remove("v1", "ConfigMap", "bookinfo", "new")

    later = threading.Timer(0.2, changes)
    later.start()
    seen = []
    stream = WATCH.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map,
        "bookinfo",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=3,
        allow_watch_bookmarks=True,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    later.join()
    assert seen == [("ADDED", "new"), ("ADDED", "other"), ("DELETED", "new")]


def test_watch_without_version_starts_with_the_state(server: ApiServer) -> None:
    began = time.monotonic()
    answer = raw(
        server,
        "GET",
        "/api/v1/namespaces/bookinfo/pods",
        params={"watch": "true", "timeoutSeconds": "1", "labelSelector": "app=details"},
    )
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [
        ("ADDED", "details-v1-abc")
    ]
    assert lines[0]["object"]["kind"] == "Pod"
    assert 0.9 <= time.monotonic() - began < 3  # timeoutSeconds ends the stream


def test_watch_selector_transitions(server: ApiServer, store: ObjectStore) -> None:
    version = store.resource_version
    relabelled = pod("details-v1-abc", ["details"], {"app": "gone"})
    threading.Timer(0.1, lambda: store.apply(relabelled)).start()
    answer = raw(
        server,
        "GET",
        "/api/v1/namespaces/bookinfo/pods",
        params={
            "watch": "1",
            "resourceVersion": version,
            "timeoutSeconds": "1",
            "labelSelector": "app=details",
        },
    )
    assert [json.loads(line)["type"] for line in answer.text.splitlines()] == ["DELETED"]


# --- writes ----------------------------------------------------------------------------------
def test_crud(core: Any, server: ApiServer) -> None:
    created = core.create_namespaced_config_map("bookinfo", configmap("c"))
    assert created.metadata.resource_version and created.metadata.uid
    created.data = {"k": "changed"}
    replaced = core.replace_namespaced_config_map("c", "bookinfo", created)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("c", "bookinfo", {"data": {"x": "y"}})
    assert patched.data == {"k": "changed", "x": "y"}
    json_patched = core.patch_namespaced_config_map(
        "c", "bookinfo", [{"op": "remove", "path": "/data/k"}]
    )
    assert json_patched.data == {"x": "y"}
    core.delete_namespaced_config_map("c", "bookinfo")
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("c", "bookinfo")
    assert caught.value.status == 404
    assert json.loads(str(caught.value.body))["message"] == 'configmaps "c" not found'
    assert server.counts["create"] == 1 and server.counts["update"] == 1
    assert server.counts["patch"] == 2 and server.counts["delete"] == 1


def test_merge_patch_content_types(server: ApiServer, store: ObjectStore) -> None:
    store.apply(configmap("c", {"a": "1", "b": "2"}))
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        answer = raw(
            server,
            "PATCH",
            "/api/v1/namespaces/bookinfo/configmaps/c",
            data=json.dumps({"data": {"a": None, "c": content_type[12:17]}}),
            headers={"Content-Type": content_type},
        )
        assert answer.status_code == 200
    assert store.get_object("v1", "ConfigMap", "bookinfo", "c")["data"] == {  # type: ignore[index]
        "b": "2",
        "c": "strat",
    }
    odd = raw(
        server,
        "PATCH",
        "/api/v1/namespaces/bookinfo/configmaps/c",
        data="{}",
        headers={"Content-Type": "text/plain"},
    )
    assert odd.status_code == 415


def apply_cm(server: ApiServer, data: dict[str, str], **params: str) -> requests.Response:
    body = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": data}
    )
    return raw(
        server,
        "PATCH",
        "/api/v1/namespaces/bookinfo/configmaps/ssa",
        params={"fieldManager": "stackcheck", **params},
        data=body,
        headers={"Content-Type": "application/apply-patch+yaml"},
    )


def test_server_side_apply(server: ApiServer, store: ObjectStore) -> None:
    dry = apply_cm(server, {"a": "1"}, dryRun="All")
    assert dry.status_code == 201 and dry.json()["data"] == {"a": "1"}
    assert store.get_object("v1", "ConfigMap", "bookinfo", "ssa") is None
    first = apply_cm(server, {"a": "1"})
    assert first.status_code == 201
    again = apply_cm(server, {"a": "1"})
    assert again.status_code == 200
    version = first.json()["metadata"]["resourceVersion"]
    assert again.json()["metadata"]["resourceVersion"] == version  # idempotent
    assert again.json()["metadata"]["managedFields"][0]["manager"] == "stackcheck"
    assert apply_cm(server, {"a": "2"}, dryRun="All").json()["data"] == {"a": "2"}
    stored = store.get_object("v1", "ConfigMap", "bookinfo", "ssa")
    assert stored is not None and stored["data"] == {"a": "1"}
    changed = apply_cm(server, {"a": "2"})
    assert int(changed.json()["metadata"]["resourceVersion"]) > int(version)
    no_manager = raw(
        server,
        "PATCH",
        "/api/v1/namespaces/bookinfo/configmaps/ssa",
        data="{}",
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert no_manager.status_code == 422 and status_of(no_manager)["reason"] == "Invalid"


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "reason", "message"),
    [
        (
            "PUT",
            "/api/v1/namespaces/bookinfo/configmaps/other",
            configmap("c"),
            400,
            "BadRequest",
            "the name of the object (c) does not match the name on the URL (other)",
        ),
        (
            "POST",
            "/api/v1/namespaces/bookinfo/configmaps",
            configmap("Bad_Name"),
            422,
            "Invalid",
            'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"',
        ),
        (
            "POST",
            "/api/v1/namespaces/bookinfo/configmaps",
            {"metadata": {}},
            422,
            "Invalid",
            'ConfigMap "" is invalid: metadata.name: Required value',
        ),
        (
            "POST",
            "/api/v1/namespaces/bookinfo/pods/details-v1-abc",
            configmap("c"),
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        (
            "POST",
            "/api/v1/namespaces/nowhere/configmaps",
            {"metadata": {"name": "c"}},
            404,
            "NotFound",
            'namespaces "nowhere" not found',
        ),
        (
            "POST",
            "/api/v1/namespaces/bookinfo/pods",
            pod("details-v1-abc", ["x"]),
            409,
            "AlreadyExists",
            'pods "details-v1-abc" already exists',
        ),
        (
            "GET",
            "/apis/apps/v1/namespaces/bookinfo/deployments/nope",
            None,
            404,
            "NotFound",
            'deployments.apps "nope" not found',
        ),
        ("GET", "/api/v1/pods", {}, 400, "BadRequest", "unable to parse requirement"),
    ],
)
def test_write_errors(
    server: ApiServer,
    method: str,
    path: str,
    body: Obj | None,
    code: int,
    reason: str,
    message: str,
) -> None:
    params = {"labelSelector": "a b"} if method == "GET" and body == {} else None
    answer = raw(server, method, path, json=body, params=params)
    status = status_of(answer)
    assert (answer.status_code, status["reason"]) == (code, reason)
    assert message in status["message"]


def test_conflict_on_stale_resource_version(core: Any) -> None:
    created = core.create_namespaced_config_map("bookinfo", configmap("c"))
    core.patch_namespaced_config_map("c", "bookinfo", {"data": {"k": "newer"}})
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("c", "bookinfo", created)
    assert caught.value.status == 409
    assert json.loads(str(caught.value.body))["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


# --- pods/log --------------------------------------------------------------------------------
def test_pod_logs(core: Any, server: ApiServer) -> None:
    assert core.read_namespaced_pod_log("details-v1-abc", "bookinfo") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("details-v1-abc", "bookinfo", tail_lines=2) == (
        "two\nthree\n"
    )
    assert core.read_namespaced_pod_log("details-v1-abc", "bookinfo", limit_bytes=5) == "one\nt"
    many = raw(server, "GET", "/api/v1/namespaces/bookinfo/pods/reviews-v1-abc/log")
    assert many.status_code == 400
    assert status_of(many)["message"] == (
        "a container name must be specified for pod "
        "reviews-v1-abc, choose one of: [reviews linkerd-proxy]"
    )
    wrong = raw(
        server,
        "GET",
        "/api/v1/namespaces/bookinfo/pods/details-v1-abc/log",
        params={"container": "nope"},
    )
    assert wrong.status_code == 400
    assert core.read_namespaced_pod_log("reviews-v1-abc", "bookinfo", container="reviews") == ""
    assert server.counts["log"] == 6


# --- service proxy ---------------------------------------------------------------------------
@pytest.fixture
def target() -> Iterator[str]:
    """A tiny HTTP service that echoes what it received."""

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/redirect":
            return Response("", 302, headers={"Location": "/login?x=1"})
        echo = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode(),
            "body": request.get_data(as_text=True),
            "auth": request.headers.get("Authorization"),
            "accept": request.headers.get("Accept"),
        }
        code = 207 if request.method == "POST" else 200
        return Response(
            json.dumps(echo), code, headers={"X-Target": "yes"}, mimetype="application/json"
        )

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_service_proxy_forwards(server: ApiServer, target: str) -> None:
    server.register_service_proxy("monitoring", "web", 9090, target)
    base = "/api/v1/namespaces/monitoring/services"
    for name in ("web:9090", "web", "web:http-web", "http:web:9090"):
        answer = raw(
            server,
            "POST",
            f"{base}/{name}/proxy/api/v1/query",
            params={"query": "up"},
            data="body!",
            headers={"Accept": "text/x"},
        )
        assert answer.status_code == 207 and answer.headers["X-Target"] == "yes"
        assert answer.json() == {
            "method": "POST",
            "path": "/api/v1/query",
            "query": "query=up",
            "body": "body!",
            "auth": None,
            "accept": "text/x",
        }
    moved = raw(server, "GET", f"{base}/web:9090/proxy/redirect", allow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["Location"] == f"{base}/web:9090/proxy/login?x=1"
    assert server.counts["proxy"] == 5


def test_service_proxy_failures(server: ApiServer, target: str) -> None:
    base = "/api/v1/namespaces/monitoring/services"
    no_endpoints = raw(server, "GET", f"{base}/web:9090/proxy/")
    assert no_endpoints.status_code == 503
    assert status_of(no_endpoints)["message"] == 'no endpoints available for service "web:9090"'
    missing = raw(server, "GET", f"{base}/nope:80/proxy/")
    assert missing.status_code == 404
    server.register_service_proxy("monitoring", "web", 9090, "http://127.0.0.1:9")
    refused = raw(server, "GET", f"{base}/web:9090/proxy/x")
    assert refused.status_code == 503
    assert status_of(refused)["message"] == (
        "error trying to reach service: dial tcp 127.0.0.1:9: connect: connection refused"
    )


def test_client_reads_through_the_proxy(core: Any, server: ApiServer, target: str) -> None:
    server.register_service_proxy("monitoring", "web", 9090, target)
    echo = core.connect_get_namespaced_service_proxy_with_path(
        "web:9090", "monitoring", "api/v1/targets"
    )
    assert "'path': '/api/v1/targets'" in echo  # the client hands back the decoded body's str()


# --- auth and RBAC ---------------------------------------------------------------------------
def test_tokens(server: ApiServer) -> None:
    for token in (None, "wrong"):
        answer = raw(server, "GET", "/api/v1/pods", token=token)
        assert answer.status_code == 401
        assert status_of(answer)["reason"] == "Unauthorized"
    assert (
        raw(
            server, "GET", "/api/v1/pods", headers={"Authorization": "Basic eDp5"}, token=None
        ).status_code
        == 401
    )


def test_readonly_service_account(server: ApiServer, target: str) -> None:
    server.register_service_proxy("monitoring", "web", 9090, target)
    allowed = [
        "/api/v1/pods",
        "/api/v1/namespaces/bookinfo/pods/details-v1-abc",
        "/api/v1/namespaces/bookinfo/pods/details-v1-abc/log",
        "/apis/apps/v1/deployments",
        "/api/v1/namespaces/monitoring/services/web:9090/proxy/api/v1/targets",
        "/api",
        "/apis",
        "/version",
        "/api/v1",
    ]
    for path in allowed:
        assert raw(server, "GET", path, token=READONLY).status_code < 400, path
    with api_client(server, READONLY) as api, pytest.raises(ApiException) as caught:
        client.CoreV1Api(api).list_namespaced_secret("bookinfo")
    assert caught.value.status == 403
    assert json.loads(str(caught.value.body))["message"] == (
        'secrets is forbidden: User "system:serviceaccount:stackcheck:stackcheck-verifier" '
        'cannot list resource "secrets" in API group "" in the namespace "bookinfo"'
    )
    denied = raw(
        server,
        "POST",
        "/api/v1/namespaces/bookinfo/configmaps",
        token=READONLY,
        json=configmap("c"),
    )
    assert denied.status_code == 403 and status_of(denied)["reason"] == "Forbidden"
    proxy_post = raw(
        server, "POST", "/api/v1/namespaces/monitoring/services/web:9090/proxy/x", token=READONLY
    )
    assert status_of(proxy_post)["message"] == (
        'services "web:9090" is forbidden: User "system:serviceaccount:stackcheck:'
        'stackcheck-verifier" cannot create resource "services/proxy" in API group "" in the '
        'namespace "monitoring"'
    )
    cluster = raw(server, "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", token=READONLY)
    assert "at the cluster scope" in status_of(cluster)["message"]


def test_role_bindings_are_namespaced(server: ApiServer, store: ObjectStore) -> None:
    rbac_v1 = "rbac.authorization.k8s.io/v1"
    store.apply(
        {
            "apiVersion": rbac_v1,
            "kind": "Role",
            "metadata": {"name": "cm-writer", "namespace": "bookinfo"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "verbs": ["*"],
                    "resourceNames": ["only-this"],
                },
            ],
        }
    )
    store.apply(
        {
            "apiVersion": rbac_v1,
            "kind": "RoleBinding",
            "metadata": {"name": "cm-writer", "namespace": "bookinfo"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "cm-writer",
            },
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:stackcheck"}],
        }
    )
    path = "/api/v1/namespaces/{}/configmaps"
    assert (
        raw(
            server, "POST", path.format("bookinfo"), token=READONLY, json=configmap("c")
        ).status_code
        == 201
    )
    assert (
        raw(
            server, "POST", path.format("monitoring"), token=READONLY, json=configmap("c")
        ).status_code
        == 403
    )
    store.apply(configmap("only-this"))
    assert (
        raw(server, "DELETE", path.format("bookinfo") + "/only-this", token=READONLY).status_code
        == 200
    )
    assert raw(server, "DELETE", path.format("bookinfo") + "/c", token=READONLY).status_code == 403


# --- faults ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "reason"),
    [(500, "InternalError"), (503, "ServiceUnavailable"), (429, "TooManyRequests")],
)
def test_api_error_status(server: ApiServer, spec: SimSpec, code: int, reason: str) -> None:
    spec.api_error_status = code
    answer = raw(server, "GET", "/api/v1/pods")
    assert (answer.status_code, status_of(answer)["reason"]) == (code, reason)
    assert raw(server, "GET", "/healthz").status_code == 200
    spec.api_error_status = None
    assert raw(server, "GET", "/api/v1/pods").status_code == 200


def test_bad_token_and_forbidden_faults(server: ApiServer, spec: SimSpec) -> None:
    spec.api_bad_token = True
    assert raw(server, "GET", "/version").status_code == 401
    spec.api_bad_token, spec.api_forbidden = False, True
    answer = raw(server, "GET", "/api/v1/namespaces/bookinfo/pods")
    assert answer.status_code == 403
    assert status_of(answer)["message"].startswith("pods is forbidden: User ")
    assert raw(server, "GET", "/version").status_code == 403


def test_delay_and_transient_errors(server: ApiServer, spec: SimSpec) -> None:
    spec.api_delay_seconds = 0.3
    began = time.monotonic()
    assert raw(server, "GET", "/version").status_code == 200
    assert time.monotonic() - began >= 0.3
    spec.api_delay_seconds, spec.api_transient_error_rate = 0.0, 1.0
    codes = set()
    for _ in range(40):
        answer = raw(server, "GET", "/api/v1/pods")
        codes.add(answer.status_code)
        if answer.status_code == 429:
            assert answer.headers["Retry-After"] == "1"
    assert codes == {429, 500, 503}


def test_counts_by_verb(server: ApiServer, core: Any) -> None:
    core.list_namespaced_pod("bookinfo")
    core.read_namespaced_pod("details-v1-abc", "bookinfo")
    raw(
        server,
        "GET",
        "/api/v1/pods",
        params={"watch": "1", "timeoutSeconds": "1", "resourceVersion": "1"},
    )
    raw(server, "GET", "/apis")
    assert {k: server.counts[k] for k in ("list", "get", "watch", "discovery")} == {
        "list": 1,
        "get": 1,
        "watch": 1,
        "discovery": 1,
    }


def test_stop_is_idempotent_and_frees_the_port(store: ObjectStore) -> None:
    api = ApiServer(store, SimSpec(), ADMIN)
    url = api.start()
    api.stop()
    api.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/healthz", timeout=2)
    port = int(url.rsplit(":", 1)[1])
    again = ApiServer(store, SimSpec(), ADMIN)
    assert again.start(port) == url
    again.stop()


# --- kubectl ---------------------------------------------------------------------------------
def _kubectl() -> str | None:
    path = shutil.which("kubectl") or (
        "/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None
    )
    if path is None:
        return None
    try:
        done = subprocess.run(
            [path, "version", "--client"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if done.returncode == 0 and "Client Version" in done.stdout else None


def test_kubectl_reads(store: ObjectStore, tmp_path: Path) -> None:
    """kubectl sends tokens over TLS only (kubernetes/kubectl#744): serve https."""
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("no usable kubectl")
    server = ApiServer(store, SimSpec(), ADMIN)
    url = server.start(tls=True)
    try:
        run = _kubectl_runner(kubectl, url, tmp_path)
        pods = json.loads(run("get", "pods", "-A", "-o", "json"))
        assert [p["metadata"]["name"] for p in pods["items"]] == [
            "details-v1-abc",
            "reviews-v1-abc",
        ]
        assert "details-v1-abc" in run("get", "po", "-n", "bookinfo", "-l", "app=details")
        assert run("logs", "-n", "bookinfo", "details-v1-abc") == "one\ntwo\nthree\n"
        assert "podmonitors" in run("api-resources")
    finally:
        server.stop()


def _kubectl_runner(kubectl: str, url: str, tmp_path: Path) -> Any:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "sim",
        "clusters": [{"name": "sim", "cluster": {"server": url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": ADMIN}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "u"}}],
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config), encoding="utf-8")
    base = [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache")]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    return run
