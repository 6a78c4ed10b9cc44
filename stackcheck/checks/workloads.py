"""Workload availability from Deployment/StatefulSet/DaemonSet/CronJob/Job objects."""

from __future__ import annotations

from typing import Any

from stackcheck.stackfile import Workload

Obj = dict[str, Any]


def workload_problem(expected: Workload, namespace: str, obj: Obj | None) -> str | None:
    """Why an expected workload is not available, or None."""
    ref = f"{expected.kind} {namespace}/{expected.name}"
    if obj is None:
        return f"{ref} does not exist"
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if expected.kind == "CronJob":
        return f"{ref} is suspended" if spec.get("suspend") else None
    if expected.kind == "Job":
        wanted = int(spec.get("completions") or 1)
        done = int(status.get("succeeded") or 0)
        return None if done >= wanted else f"{ref}: {done}/{wanted} completions"
    desired, available = _replicas(expected.kind, spec, status)
    if expected.replicas is not None and desired != expected.replicas:
        return f"{ref} asks for {desired} replicas, the stack file expects {expected.replicas}"
    if desired == 0 and expected.kind == "DaemonSet":
        return f"{ref} schedules no pods (no node matches its nodeSelector/tolerations)"
    if available < desired:
        return f"{ref}: {available}/{desired} replicas available{_why(status)}"
    return None


def _replicas(kind: str, spec: Obj, status: Obj) -> tuple[int, int]:
    if kind == "DaemonSet":
        return int(status.get("desiredNumberScheduled") or 0), int(status.get("numberAvailable")
                                                                    or 0)
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if kind == "StatefulSet":
        ready = status.get("availableReplicas", status.get("readyReplicas"))
        return desired, int(ready or 0)
    return desired, int(status.get("availableReplicas") or 0)


def _why(status: Obj) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Available" and cond.get("status") != "True":
            return f" (Available=False: {cond.get('reason', '?')})"
    return ""
