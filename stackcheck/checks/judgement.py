"""Each pod judged once per run, for every check that reads it: its health (pods.healthy,
component.healthy), its proxy (mesh.proxies) and its owning workload (component.healthy).

Most pods are well. Those are recognised in one pass over their container statuses
(`_plainly_well`), which builds no reason; any other pod gets the full judgements, which
name what is wrong. At 10,000 pods that halves the time spent judging."""

from __future__ import annotations

from typing import Any, NamedTuple

from stackcheck.checks.mesh import proxy_problem
from stackcheck.checks.pods import (
    PROXY,
    PROXY_VERSION,
    long_running_containers,
    pod_problem,
    workload_of,
)

Obj = dict[str, Any]


class PodJudgement(NamedTuple):
    health: str | None  # pod_problem: why the pod is unhealthy, or None
    mesh: str | None  # proxy_problem: why it is not properly meshed, or None
    owner: tuple[str, str] | None  # workload_of: (kind, name) of its workload


def judge_pod(pod: Obj, max_restarts: int) -> PodJudgement:
    healthy, meshed = _plainly_well(pod, max_restarts)
    return PodJudgement(None if healthy else pod_problem(pod, max_restarts),
                        None if meshed else proxy_problem(pod), workload_of(pod))


def _plainly_well(pod: Obj, max_restarts: int) -> tuple[bool, bool]:
    """(healthy, meshed): True only where pod_problem, resp. proxy_problem, would find
    nothing; False means "judge it in full". The Running branch of pod_problem, step by
    step, without building reasons (tests/test_pod_view.py holds them to the same answers)."""
    meta, status = pod.get("metadata"), pod.get("status")
    if not meta or not status or status.get("phase") != "Running" \
            or meta.get("deletionTimestamp"):
        return False, False
    entries: dict[Any, Obj] = {}  # first status per container name, as container_status
    count = 0
    for key in ("containerStatuses", "initContainerStatuses"):
        for entry in status.get(key) or []:
            entries.setdefault(entry.get("name"), entry)
            count += int(entry.get("restartCount") or 0)
    names = set()
    for container in long_running_containers(pod):
        name = container.get("name", "?")
        entry = entries.get(name)
        if entry is None:
            return False, False
        state = entry.get("state") or {}
        if "waiting" in state or "terminated" in state or not entry.get("ready"):
            return False, False
        names.add(name)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") != "True":
                return False, False
            break
    if count > max_restarts:
        return False, False
    meshed = PROXY in names and PROXY_VERSION in (meta.get("annotations") or {})
    return True, meshed
