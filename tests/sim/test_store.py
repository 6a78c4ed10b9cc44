"""ObjectStore: the contract the controller, content loader and API server rely on."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.sim import store as store_module
from stackcheck.sim.store import (
    AlreadyExists,
    Conflict,
    Expired,
    NotFound,
    ObjectStore,
    UnknownKind,
    parse_field_selector,
    parse_label_selector,
)

ROOT = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]


def pod(
    name: str,
    namespace: str = "bookinfo",
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    node: str = "node-1",
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x"}]},
        "status": {"phase": phase},
    }


def podmonitor_crd() -> Obj:
    """The PodMonitor CRD the sim's chart data carries."""
    path = ROOT / "stackcheck/sim/data/10-kube-prometheus-stack.yml"
    docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return next(d for d in docs if d and d["kind"] == "CustomResourceDefinition")


@pytest.fixture
def store() -> ObjectStore:
    return ObjectStore()


def test_apply_fills_server_fields(store: ObjectStore) -> None:
    created = store.apply(pod("a"))
    meta = created["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert meta["resourceVersion"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert store.get_object("v1", "Pod", "bookinfo", "a") == created


def test_replace_keeps_identity_and_counts_generations(store: ObjectStore) -> None:
    first = store.apply(pod("a"))
    status_only = pod("a", phase="Failed")
    second = store.apply(status_only)
    changed = pod("a", node="node-2")
    third = store.apply(changed)
    assert second["metadata"]["uid"] == third["metadata"]["uid"] == first["metadata"]["uid"]
    assert third["metadata"]["creationTimestamp"] == first["metadata"]["creationTimestamp"]
    versions = [int(o["metadata"]["resourceVersion"]) for o in (first, second, third)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert [o["metadata"]["generation"] for o in (first, second, third)] == [1, 1, 2]


def test_noop_apply_changes_nothing(store: ObjectStore) -> None:
    first = store.apply(pod("a"))
    again = store.apply({**pod("a"), "metadata": {**first["metadata"]}})
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert store.events_after(int(first["metadata"]["resourceVersion"]), 0) == []


def test_returned_objects_are_copies(store: ObjectStore) -> None:
    created = store.apply(pod("a"))
    created["metadata"]["labels"]["x"] = "y"
    listed = store.list_objects("v1", "Pod")
    listed[0]["spec"]["nodeName"] = "other"
    stored = store.get_object("v1", "Pod", "bookinfo", "a")
    assert stored is not None
    assert stored["metadata"]["labels"] == {} and stored["spec"]["nodeName"] == "node-1"


def test_json_copy_is_deep_and_equal() -> None:
    original: dict[str, Any] = {"a": [{"b": 1.5, "c": None, "d": True}], "e": ("t", ["u"])}
    copied = store_module.json_copy(original)
    assert copied == original and type(copied["e"]) is tuple
    copied["a"][0]["b"] = 2
    copied["e"][1].append("v")  # a tuple's insides are copied too (copy.deepcopy's way)
    assert original == {"a": [{"b": 1.5, "c": None, "d": True}], "e": ("t", ["u"])}


def test_scope_normalised(store: ObjectStore) -> None:
    ns = store.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "bookinfo", "namespace": "ignored"},
        }
    )
    assert "namespace" not in ns["metadata"]
    assert store.get_object("v1", "Namespace", "whatever", "bookinfo") is not None
    bare = store.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert bare["metadata"]["namespace"] == "default"


def test_unknown_kind_is_a_value_error(store: ObjectStore) -> None:
    with pytest.raises(UnknownKind, match="PodMonitor"):
        store.apply(
            {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PodMonitor",
                "metadata": {"name": "x", "namespace": "linkerd"},
            }
        )
    with pytest.raises(ValueError, match=r"metadata\.name"):
        store.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {}})


def test_crd_registers_its_kind_and_is_established(store: ObjectStore) -> None:
    crd = podmonitor_crd()
    stored = store.apply(crd)
    conditions = {c["type"]: c["status"] for c in stored["status"]["conditions"]}
    assert conditions == {"Established": "True", "NamesAccepted": "True"}
    resource = store.resource_for_plural("monitoring.coreos.com", "v1", "podmonitors")
    assert resource is not None and resource.kind == "PodMonitor" and resource.namespaced
    store.apply(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": {"name": "linkerd-proxy", "namespace": "linkerd"},
            "spec": {},
        }
    )
    assert [
        m["metadata"]["name"] for m in store.list_objects("monitoring.coreos.com/v1", "PodMonitor")
    ] == ["linkerd-proxy"]
    assert store.apply(crd)["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", ["a", "b", "c", "d"]),
        ("app=web", ["a", "b"]),
        ("app==web", ["a", "b"]),
        ("app!=web", ["c", "d"]),
        ("app in (web, db)", ["a", "b", "c"]),
        ("app notin (web)", ["c", "d"]),
        ("tier", ["a", "c"]),
        ("!tier", ["b", "d"]),
        ("app=web,tier", ["a"]),
        ("app in (web,db),!tier", ["b"]),
        ("example.com/role=x", ["d"]),
    ],
)
def test_label_selectors(store: ObjectStore, selector: str, expected: list[str]) -> None:
    store.apply(pod("a", labels={"app": "web", "tier": "front"}))
    store.apply(pod("b", labels={"app": "web"}))
    store.apply(pod("c", labels={"app": "db", "tier": "back"}))
    store.apply(pod("d", labels={"example.com/role": "x"}))
    found = store.list_objects("v1", "Pod", "bookinfo", label_selector=selector)
    assert [p["metadata"]["name"] for p in found] == expected


@pytest.mark.parametrize("bad", ["app in web", "=x", "a b", "app=(x)"])
def test_bad_label_selector_raises(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_label_selector(bad)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("metadata.name=a", ["a"]),
        ("metadata.namespace==other", ["c"]),
        ("status.phase!=Running", ["b"]),
        ("spec.nodeName=node-2,status.phase=Running", ["c"]),
    ],
)
def test_field_selectors(store: ObjectStore, selector: str, expected: list[str]) -> None:
    store.apply(pod("a"))
    store.apply(pod("b", phase="Pending"))
    store.apply(pod("c", namespace="other", node="node-2"))
    found = store.list_objects("v1", "Pod", field_selector=selector)
    assert [p["metadata"]["name"] for p in found] == expected


def test_event_field_selectors_and_unsupported_fields() -> None:
    event = {"involvedObject": {"kind": "Pod", "name": "a"}, "metadata": {"name": "e"}}
    assert parse_field_selector("Event", "involvedObject.name=a,involvedObject.kind=Pod")(event)
    assert not parse_field_selector("Event", "involvedObject.name!=a")(event)
    with pytest.raises(ValueError, match=r"field label not supported: spec\.foo"):
        parse_field_selector("Pod", "spec.foo=x")
    with pytest.raises(ValueError, match="field label not supported"):
        parse_field_selector("Deployment", "status.phase=x")


def test_list_is_ordered_by_namespace_then_name(store: ObjectStore) -> None:
    for namespace, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        store.apply(pod(name, namespace))
    assert [
        (p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.list_objects("v1", "Pod")
    ] == [("a", "y"), ("a", "z"), ("b", "x")]


def test_watch_events_in_order(store: ObjectStore) -> None:
    start = int(store.resource_version)
    store.apply(pod("a"))
    store.apply(pod("a", phase="Failed"))
    store.remove("v1", "Pod", "bookinfo", "a")
    store.remove("v1", "Pod", "bookinfo", "a")  # already gone: nothing happens
    events = store.events_after(start, 0)
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e.resource_version for e in events] == sorted(e.resource_version for e in events)
    assert events[2].object["metadata"]["resourceVersion"] == str(events[2].resource_version)
    assert store.get_object("v1", "Pod", "bookinfo", "a") is None


def test_watch_waits_for_the_next_event(store: ObjectStore) -> None:
    start = int(store.resource_version)
    timer = threading.Timer(0.1, lambda: store.apply(pod("late")))
    timer.start()
    began = time.monotonic()
    events = store.events_after(start, 5, lambda e: e.kind == "Pod")
    timer.join()
    assert [e.object["metadata"]["name"] for e in events] == ["late"]
    assert time.monotonic() - began < 2
    began = time.monotonic()
    assert store.events_after(events[-1].resource_version, 0.1) == []
    assert time.monotonic() - began >= 0.09


def test_watch_too_old_is_expired(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "HISTORY", 3)
    small = ObjectStore()
    for index in range(6):
        small.apply(pod(f"p{index}"))
    with pytest.raises(Expired, match="too old resource version"):
        small.events_after(1, 0)
    assert len(small.events_after(4, 0)) == 2


def test_create_and_update_preconditions(store: ObjectStore) -> None:
    created = store.create(pod("a"))
    with pytest.raises(AlreadyExists):
        store.create(pod("a"))
    with pytest.raises(NotFound):
        store.update(pod("b"))
    stale = {**pod("a", node="n2"), "metadata": {**created["metadata"], "resourceVersion": "1"}}
    store.apply(pod("a", phase="Failed"))
    with pytest.raises(Conflict):
        store.update(stale)


def test_namespace_removal_removes_its_objects(store: ObjectStore) -> None:
    store.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo"}})
    store.apply(pod("a"))
    store.apply(pod("b", namespace="other"))
    store.remove("v1", "Namespace", None, "bookinfo")
    assert [p["metadata"]["name"] for p in store.list_objects("v1", "Pod")] == ["b"]


def test_concurrent_applies_get_distinct_versions(store: ObjectStore) -> None:
    def worker(offset: int) -> None:
        for index in range(50):
            store.apply(pod(f"p{offset}-{index}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    versions = {p["metadata"]["resourceVersion"] for p in store.list_objects("v1", "Pod")}
    assert len(versions) == 200
    assert store.resource_version == "200"


def test_logs_are_a_plain_dict(store: ObjectStore) -> None:
    store.logs[("bookinfo", "a", "app")] = "hello\n"
    assert store.logs == {("bookinfo", "a", "app"): "hello\n"}
