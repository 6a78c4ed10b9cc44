"""Linkerd injection: the namespace asks for it and every pod got a ready proxy."""

from __future__ import annotations

from typing import Any

from stackcheck.checks.pods import (
    PROXY,
    PROXY_VERSION,
    container_status,
    long_running_containers,
    pod_ref,
    workload_of,
)

Obj = dict[str, Any]

INJECT = "linkerd.io/inject"


def injection_problem(namespace: Obj | None, name: str) -> str | None:
    if namespace is None:
        return f"namespace {name} does not exist"
    value = (namespace.get("metadata", {}).get("annotations") or {}).get(INJECT)
    if value == "enabled":
        return None
    seen = "it is missing" if value is None else f"it is {value!r}"
    return f"namespace {name} lacks the annotation {INJECT}: enabled ({seen})"


def proxy_problem(pod: Obj) -> str | None:
    """Why a pod is not (properly) meshed, or None. Completed Job pods are exempt."""
    if pod.get("status", {}).get("phase") == "Succeeded":
        return None
    names = {c.get("name") for c in long_running_containers(pod)}
    if PROXY not in names:
        return f"{pod_ref(pod)} has no {PROXY} container{_restart_hint(pod)}"
    annotations = pod.get("metadata", {}).get("annotations") or {}
    if PROXY_VERSION not in annotations:
        return f"{pod_ref(pod)} has a {PROXY} container but no {PROXY_VERSION} annotation"
    status = container_status(pod, PROXY)
    if status is None or not status.get("ready"):
        state = ", ".join((status or {}).get("state", {}).keys()) or "no status"
        return f"{pod_ref(pod)}: {PROXY} is not ready ({state})"
    return None


def _restart_hint(pod: Obj) -> str:
    """Pods created before injection was on, or while the injector was down, need a restart."""
    owner = workload_of(pod)
    if owner is None:
        return ": delete it so it is recreated with the proxy"
    kind, name = owner
    namespace = pod.get("metadata", {}).get("namespace", "?")
    return f": restart its workload (kubectl -n {namespace} rollout restart {kind.lower()}/{name})"
