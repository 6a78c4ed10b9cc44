"""Lists of pods are decoded to podview.PodView (kept for the 10,000-pod bench): dicts of
some fields only. The view must hold every field that the checks and the report read, so
each answers the same on it as on the whole pod."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from stackcheck import kube
from stackcheck.checks.identity import container_anchors, judge_proxy_versions, proxy_container
from stackcheck.checks.mesh import proxy_problem
from stackcheck.checks.pods import (
    container_status,
    long_running_containers,
    owner_kind,
    pod_problem,
    pod_ref,
    restarts,
    workload_of,
)
from stackcheck.diagnostics import describe_pod
from stackcheck.podview import PodView, container_env, env_entry
from tests.kubefakes import GOLDEN, PODS, status_of

Obj = dict[str, Any]


def _pods() -> dict[str, Obj]:
    found = {}
    for folder in (PODS, GOLDEN):
        for path in sorted(Path(folder).glob("*.yml")):
            for i, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
                if isinstance(doc, dict) and doc.get("kind") == "Pod":
                    found[f"{path.parent.name}/{path.stem}#{i}"] = doc
    return found


PODS_SEEN = _pods()


def _variants() -> dict[str, Obj]:
    """The data's pods, plus each turned into the states that use other fields."""
    variants = dict(PODS_SEEN)
    for name, pod in PODS_SEEN.items():
        terminating = copy.deepcopy(pod)
        terminating["metadata"]["deletionTimestamp"] = "2026-11-25T10:00:00Z"
        variants[name + " terminating"] = terminating
        failed = copy.deepcopy(pod)
        failed["status"].update(phase="Failed", reason="Evicted")
        variants[name + " evicted"] = failed
        unproxied = copy.deepcopy(pod)
        unproxied["metadata"].get("annotations", {}).pop("linkerd.io/proxy-version", None)
        variants[name + " unannotated"] = unproxied
        if pod["status"].get("containerStatuses"):
            crashing = copy.deepcopy(pod)
            entry = status_of(crashing, crashing["status"]["containerStatuses"][0]["name"])
            entry.update(
                ready=False,
                restartCount=7,
                state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                lastState={"terminated": {"reason": "Error", "exitCode": 1}},
            )
            variants[name + " crashing"] = crashing
    return variants


VARIANTS = _variants()
LINKERD_CONFIG = {"data": {"values": "linkerdVersion: stable-2.14.10\n"}}

ANSWERS: dict[str, Callable[[Obj], object]] = {
    "pod_problem": lambda p: pod_problem(p, 0),
    "pod_problem (restarts allowed)": lambda p: pod_problem(p, 100),
    "proxy_problem": proxy_problem,
    "workload_of": workload_of,
    "owner_kind": owner_kind,
    "restarts": restarts,
    "pod_ref": pod_ref,
    "containers": lambda p: [
        (
            c.get("name"),
            c.get("image"),
            c.get("restartPolicy"),
            _judged(container_status(p, c.get("name", ""))),
        )
        for c in long_running_containers(p)
    ],
    "describe": describe_pod,
    "env": lambda p: [container_env(c) for c in long_running_containers(p)],
    "proxy anchors": lambda p: container_anchors(proxy_container(p) or {}),
    "proxy versions": lambda p: judge_proxy_versions(LINKERD_CONFIG, [p]),
}


def _judged(status: Obj | None) -> Obj | None:
    """What the checks read of a container's status (its image and ids they do not)."""
    keys = ("name", "ready", "restartCount", "state", "lastState")
    return None if status is None else {k: status[k] for k in keys if k in status}


def _view(pod: Obj) -> Obj:
    """The pod as a list answer decodes it."""
    body = json.dumps({"kind": "PodList", "metadata": {}, "items": [pod]}).encode()
    view = kube._decode_page(body, "pods", PodView)["items"][0]
    assert isinstance(view, dict)
    return view


def test_the_data_has_pods_in_every_state_the_checks_tell_apart() -> None:
    assert len(PODS_SEEN) >= 10
    problems = {pod_problem(p, 0) is None for p in VARIANTS.values()}
    assert problems == {True, False}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_view_answers_as_the_whole_pod(name: str) -> None:
    pod, view = VARIANTS[name], _view(VARIANTS[name])
    assert {k: answer(view) for k, answer in ANSWERS.items()} == {
        k: answer(pod) for k, answer in ANSWERS.items()
    }


def test_the_view_drops_what_no_check_reads() -> None:
    pod = PODS_SEEN["golden/injected-bookinfo-pod#0"]
    view = _view(pod)
    assert pod["spec"].get("volumes") and "volumes" not in view["spec"]
    assert not any("volumeMounts" in c for c in view["spec"]["containers"])
    assert len(msgspec.json.encode(view)) < len(json.dumps(pod)) / 2


def test_an_answer_the_view_does_not_fit_is_decoded_whole() -> None:
    odd = {"metadata": {"name": "x", "ownerReferences": "not a list"}, "spec": {"a": 1}}
    body = json.dumps({"kind": "PodList", "items": [odd]}).encode()
    assert kube._decode_page(body, "pods", PodView)["items"] == [odd]


def test_a_variable_defined_twice_takes_its_later_value_raw_or_decoded() -> None:
    """As the container runtime does (kubectl warns "hides previous definition")."""
    container = {
        "name": "linkerd-proxy",
        "env": [
            {"name": "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS", "value": "old"},
            {"name": "LINKERD2_PROXY_LOG", "value": "warn"},
            {"name": "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS", "value": "new"},
        ],
    }
    body = json.dumps({"items": [{"spec": {"containers": [container]}}]}).encode()
    view = kube._decode_page(body, "pods", PodView)["items"][0]["spec"]["containers"][0]
    assert isinstance(view["env"], msgspec.Raw)  # kept raw: decoded when read
    for each in (container, view):
        assert env_entry(each, "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS") == container["env"][2]
        assert env_entry(each, "LINKERD2_PROXY_ADMIN_LISTEN_ADDR") is None
        assert container_env(each) == container["env"]
