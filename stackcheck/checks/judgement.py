"""Each pod of a list judged once per run, for every check and report that reads it: its
health (pods.healthy, component.healthy), whether it is plainly meshed (mesh.proxies), its
owning workload (component.healthy) and its proxy version (the report).

Most pods are well. Their views (checks/podview.py) are recognised in one pass over their
container statuses (`_plainly_well`), which builds no reason and no dict; any other pod
is read as a dict (as_pod) and judged in full by checks/pods.py and checks/mesh.py, which
name what is wrong."""

from __future__ import annotations

from typing import Any, NamedTuple

from msgspec import UNSET

from stackcheck.checks.mesh import proxy_problem
from stackcheck.checks.pods import PROXY, PROXY_VERSION, pod_problem, workload_of
from stackcheck.checks.podview import Pod, PodView, as_pod

Obj = dict[str, Any]


class PodJudgement(NamedTuple):
    health: str | None  # pod_problem: why the pod is unhealthy, or None
    plainly_meshed: bool  # True: proxy_problem finds nothing; False: ask mesh_problem
    owner: tuple[str, str] | None  # workload_of: (kind, name) of its workload
    proxy_version: Any  # its linkerd.io/proxy-version annotation (None: none)


def judge_pod(pod: Pod, max_restarts: int) -> PodJudgement:
    if isinstance(pod, PodView):
        healthy, meshed = _plainly_well(pod, max_restarts)
        if healthy:
            return PodJudgement(None, meshed, _owner(pod), _proxy_version(pod))
    whole = as_pod(pod)
    return PodJudgement(pod_problem(whole, max_restarts), proxy_problem(whole) is None,
                        workload_of(whole), _dict_proxy_version(whole))


def mesh_problem(pod: Pod, judgement: PodJudgement) -> str | None:
    """proxy_problem, asked only of the pods not plainly meshed."""
    return None if judgement.plainly_meshed else proxy_problem(as_pod(pod))


def _plainly_well(pod: PodView, max_restarts: int) -> tuple[bool, bool]:
    """(healthy, meshed): True only where pod_problem, resp. proxy_problem, would find
    nothing; False means "judge it in full". The Running branch of pod_problem, step by
    step, on the view's attributes (tests/test_judgement.py holds them to the same
    answers). The whole pod's .get(key) is the view's attribute, UNSET when absent."""
    meta, status, spec = pod.metadata, pod.status, pod.spec
    if not meta or not status or spec is None or status.phase != "Running" \
            or meta.deletionTimestamp:
        return False, False
    entries, count = _statuses(status)
    running = _running_and_ready(spec, entries) if count <= max_restarts else None
    if running is None or not _ready(status):
        return False, False
    return True, PROXY in running and \
        getattr(meta.annotations, "proxy_version", UNSET) is not UNSET


def _statuses(status: Any) -> tuple[dict[Any, Any], int]:
    """The first status per container name (as container_status) and the restart count."""
    entries: dict[Any, Any] = {}
    count = 0
    for statuses in (status.containerStatuses, status.initContainerStatuses):
        for entry in statuses or ():
            if entry.name not in entries:
                entries[entry.name] = entry
            count += int(entry.restartCount or 0)
    return entries, count


def _running_and_ready(spec: Any, entries: dict[Any, Any]) -> set[Any] | None:
    """The long-running containers' names if each is running and ready (_container_trouble
    finds nothing), else None."""
    names = set()
    groups = ((spec.containers, False), (spec.initContainers, True)) if spec else ()
    for containers, sidecars in groups:
        for container in containers or ():
            if sidecars and container.restartPolicy != "Always":
                continue  # an init container that runs to completion
            name = "?" if container.name is UNSET else container.name
            found = entries.get(name)
            if found is None or not found.ready:
                return None
            state = found.state or {}
            if "waiting" in state or "terminated" in state:
                return None
            names.add(name)
    return names


def _ready(status: Any) -> bool:
    """No Ready condition, or one that is True (as pod_problem reads _condition)."""
    for condition in status.conditions or ():
        if condition.type == "Ready":
            return bool(condition.status == "True")
    return True


def _owner(pod: PodView) -> tuple[str, str] | None:
    """workload_of, on the view."""
    meta = pod.metadata
    if not meta:
        return None
    for ref in meta.ownerReferences or ():
        if not ref.controller:
            continue
        kind, name = str(_value(ref.kind)), str(_value(ref.name))
        template_hash = _value(meta.labels.template_hash) if meta.labels else None
        if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
            return "Deployment", name[: -len(template_hash) - 1]
        return kind, name
    return None


def _proxy_version(pod: PodView) -> Any:
    return _value(getattr(getattr(pod.metadata, "annotations", None), "proxy_version", UNSET))


def _dict_proxy_version(pod: Obj) -> Any:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(PROXY_VERSION)


def _value(field: Any) -> Any:
    """A view's field as the whole pod's .get(key) reads it."""
    return None if field is UNSET else field
