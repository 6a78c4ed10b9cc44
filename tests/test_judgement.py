"""judge_pod, read from a pod's view (the Struct a list decodes to), answers exactly what
pod_problem, proxy_problem, workload_of and the annotation answer on the whole pod: on
every pod state the data holds, plus the edges of its quick path for well pods."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from stackcheck.checks.judgement import PodJudgement, _plainly_well, judge_pod, mesh_problem
from stackcheck.checks.mesh import proxy_problem
from stackcheck.checks.pods import PROXY_VERSION, pod_problem, workload_of
from tests.kubefakes import status_of
from tests.test_pod_view import PODS_SEEN, VARIANTS, _view

Obj = dict[str, Any]
WELL = PODS_SEEN["golden/injected-bookinfo-pod#0"]
PROXY = "linkerd-proxy"


def _changed(change: Callable[[Obj], object]) -> Obj:
    pod = copy.deepcopy(WELL)
    change(pod)
    return pod


def _ready_condition(pod: Obj) -> Obj:
    return next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")


def _app(pod: Obj) -> Obj:
    return status_of(pod, next(c["name"] for c in pod["spec"]["containers"]
                               if c["name"] != PROXY))


def _proxy_twice(pod: Obj) -> None:
    """Two statuses named linkerd-proxy: the checks read the first (container_status)."""
    later = {**copy.deepcopy(status_of(pod, PROXY)), "ready": True}
    pod["status"].setdefault("initContainerStatuses", []).append(later)
    status_of(pod, PROXY).update(ready=False)


EDGES: dict[str, Obj] = {
    "well": WELL,
    "Ready condition False, containers ready": _changed(
        lambda p: _ready_condition(p).update(status="False", reason="ReadinessGatesNotReady")),
    "no Ready condition": _changed(lambda p: p["status"].update(conditions=[
        c for c in p["status"]["conditions"] if c["type"] != "Ready"])),
    "restarted once": _changed(lambda p: _app(p).update(restartCount=1)),
    "ready but waiting": _changed(lambda p: _app(p).update(
        state={"waiting": {"reason": "ContainerCreating"}})),
    "ready but terminated": _changed(lambda p: _app(p).update(
        state={"terminated": {"reason": "Completed", "exitCode": 0}})),
    "empty state, ready": _changed(lambda p: _app(p).update(state={})),
    "no state, ready": _changed(lambda p: _app(p).update(state=None)),
    "app container not ready": _changed(lambda p: _app(p).update(ready=False)),
    "proxy not ready": _changed(lambda p: status_of(p, PROXY).update(ready=False)),
    "no status for the proxy": _changed(lambda p: p["status"].update(containerStatuses=[
        s for s in p["status"]["containerStatuses"] if s["name"] != PROXY])),
    "proxy's first status not ready, a later one ready": _changed(_proxy_twice),
    "no proxy annotation": _changed(
        lambda p: p["metadata"]["annotations"].pop("linkerd.io/proxy-version")),
    "annotations null": _changed(lambda p: p["metadata"].update(annotations=None)),
    "no proxy container": _changed(lambda p: p["spec"].update(containers=[
        c for c in p["spec"]["containers"] if c["name"] != PROXY])),
    "proxy-version annotation null": _changed(
        lambda p: p["metadata"]["annotations"].update({"linkerd.io/proxy-version": None})),
    "labels null": _changed(lambda p: p["metadata"].update(labels=None)),
    "owner not a controller": _changed(
        lambda p: p["metadata"]["ownerReferences"][0].update(controller=False)),
    "a status without a name": _changed(lambda p: _app(p).pop("name")),
    "Terminating": _changed(
        lambda p: p["metadata"].update(deletionTimestamp="2026-11-25T10:00:00Z")),
    "Pending": _changed(lambda p: p["status"].update(phase="Pending")),
    "Succeeded": _changed(lambda p: p["status"].update(phase="Succeeded")),
    "no status": _changed(lambda p: p.pop("status")),
    "no metadata": _changed(lambda p: p.pop("metadata")),
}
CASES = {**{f"data: {k}": v for k, v in VARIANTS.items()},
         **{f"edge: {k}": v for k, v in EDGES.items()}}


def _separately(pod: Obj, max_restarts: int) -> PodJudgement:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return PodJudgement(pod_problem(pod, max_restarts), proxy_problem(pod) is None,
                        workload_of(pod), annotations.get(PROXY_VERSION))


@pytest.mark.parametrize("max_restarts", [0, 100])
@pytest.mark.parametrize("name", sorted(CASES))
def test_judge_pod_answers_as_the_separate_judgements(name: str, max_restarts: int) -> None:
    pod, view = CASES[name], _view(CASES[name])
    judged = judge_pod(view, max_restarts)
    assert judged == _separately(pod, max_restarts)
    assert judge_pod(pod, max_restarts) == judged  # a whole pod (a list the view did not fit)
    assert mesh_problem(view, judged) == proxy_problem(pod)


def test_the_quick_path_is_taken_for_well_pods_and_only_for_them() -> None:
    assert _plainly_well(_view(WELL), 0) == (True, True)
    assert _plainly_well(_view(EDGES["no proxy annotation"]), 0) == (True, False)
    for name in ("Ready condition False, containers ready", "restarted once",
                 "ready but waiting", "proxy not ready", "Terminating"):
        assert _plainly_well(_view(EDGES[name]), 0) == (False, False), name
    assert _plainly_well(_view(EDGES["restarted once"]), 1) == (True, True)
    no_spec = _view(_changed(lambda p: p.update(spec=None)))
    assert _plainly_well(no_spec, 0) == (False, False)  # judged in full, as before
