"""pods.healthy[<ns>]: every pod of a namespace is Running and Ready. A pod's health from
the pod object alone: what is wrong with it, in one line (also read by component.healthy)."""

from __future__ import annotations

from collections.abc import Iterable

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Result

MAX_DESCRIBED_PODS = 5  # pods whose describe, events and logs a failure attaches

PROXY = "linkerd-proxy"
PROXY_VERSION = "linkerd.io/proxy-version"  # the injector's annotation on a meshed pod
TEMPLATE_HASH = "pod-template-hash"  # the label a Deployment's ReplicaSet puts on its pods


def pod_ref(pod: Obj) -> str:
    meta = pod.get("metadata", {})
    return f"pod {meta.get('namespace', '?')}/{meta.get('name', '?')}"


def owner_kind(pod: Obj) -> str | None:
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind"))
    return None


def workload_of(pod: Obj) -> tuple[str, str] | None:
    """(kind, name) of the workload that owns a pod, seen through its ReplicaSet or Job."""
    meta = pod.get("metadata", {})
    for ref in meta.get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        template_hash = (meta.get("labels") or {}).get(TEMPLATE_HASH)
        if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
            return "Deployment", name[: -len(template_hash) - 1]
        return kind, name
    return None


def long_running_containers(pod: Obj) -> list[Obj]:
    """App containers plus native sidecars (init containers that keep running)."""
    spec = pod.get("spec", {})
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return list(spec.get("containers") or []) + sidecars


def container_status(pod: Obj, name: str) -> Obj | None:
    """The pod's own status entry of a container (read it, do not change it)."""
    status = pod.get("status", {})
    for key in ("containerStatuses", "initContainerStatuses"):
        for item in status.get(key) or []:
            if item.get("name") == name:
                found: Obj = item
                return found
    return None


def restarts(pod: Obj) -> int:
    status = pod.get("status", {})
    items = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    return sum(int(s.get("restartCount") or 0) for s in items)


def pod_problem(pod: Obj, max_restarts: int) -> str | None:
    """Why a pod is unhealthy, or None. Pods of Jobs that Succeeded are healthy."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    phase = status.get("phase", "Unknown")
    if meta.get("deletionTimestamp"):
        return f"{pod_ref(pod)}: Terminating"
    if phase == "Succeeded":
        if owner_kind(pod) == "Job":
            return None
        return f"{pod_ref(pod)}: Succeeded (Completed) but it is not a Job's pod"
    if phase == "Failed":
        why = status.get("reason") or _container_trouble(pod) or "its containers exited"
        return f"{pod_ref(pod)}: Failed ({why})"
    if phase == "Pending":
        return f"{pod_ref(pod)}: Pending ({_pending_reason(pod)})"
    if phase != "Running":
        return f"{pod_ref(pod)}: phase {phase}"
    trouble = _container_trouble(pod)
    if trouble:
        return f"{pod_ref(pod)}: Running but not Ready: {trouble}"
    ready = _condition(pod, "Ready")
    if ready is not None and ready.get("status") != "True":
        why = ready.get("reason") or "Ready condition is False"
        return f"{pod_ref(pod)}: Running but not Ready ({why})"
    count = restarts(pod)
    if count > max_restarts:
        return f"{pod_ref(pod)}: restarted {count} times (more than {max_restarts})"
    return None


def _condition(pod: Obj, kind: str) -> Obj | None:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            found: Obj = cond
            return found
    return None


def _pending_reason(pod: Obj) -> str:
    scheduled = _condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return f"{scheduled.get('reason', 'not scheduled')}: {scheduled.get('message', '')}".strip()
    return _init_trouble(pod) or _container_trouble(pod) or "waiting to start"


def _init_trouble(pod: Obj) -> str | None:
    """The first init container (one that runs to completion) that is failing: while it
    fails, every other container only waits with reason PodInitializing."""
    for container in pod.get("spec", {}).get("initContainers") or []:
        if container.get("restartPolicy") == "Always":
            continue  # a native sidecar: judged with the long-running containers
        name = container.get("name", "?")
        status = container_status(pod, name) or {}
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting and (int(status.get("restartCount") or 0)
                        or waiting.get("reason") not in ("PodInitializing", None)):
            return "init " + _waiting(name, waiting, status)
        term = state.get("terminated") or {}
        if term and term.get("exitCode") not in (0, None):
            return (f"init container {name} terminated ({term.get('reason', '?')}, "
                    f"exit code {term.get('exitCode')})")
    return None


def _container_trouble(pod: Obj) -> str | None:
    """The first container (native sidecars included) that is not running and ready."""
    for container in long_running_containers(pod):
        name = container.get("name", "?")
        status = container_status(pod, name)
        if status is None:
            return f"container {name} has no status yet"
        state = status.get("state") or {}
        if "waiting" in state:
            return _waiting(name, state["waiting"], status)
        if "terminated" in state:
            term = state["terminated"]
            return (f"container {name} terminated ({term.get('reason', '?')}, "
                    f"exit code {term.get('exitCode', '?')})")
        if not status.get("ready"):
            return f"container {name} is running but not ready (readiness probe failing)"
    return None


def _waiting(name: str, waiting: Obj, status: Obj) -> str:
    reason = waiting.get("reason", "Waiting")
    text = f"container {name} is {reason}"
    count = int(status.get("restartCount") or 0)
    if count:
        text += f" ({count} restarts"
        last = (status.get("lastState") or {}).get("terminated")
        if last:
            text += f"; last exit: {last.get('reason', '?')}, code {last.get('exitCode', '?')}"
        text += ")"
    message = waiting.get("message")
    if message and reason != "CrashLoopBackOff":
        text += f": {message}"
    return text


def pods_check(namespace: str, max_restarts: int) -> Check:
    ns = namespace
    return Check(
        f"pods.healthy[{ns}]", "pods.healthy", "Pods",
        f"every pod in namespace {ns} is Running and Ready (at most {max_restarts} restarts)",
        f"kubectl -n {ns} describe pod <pod>; kubectl -n {ns} logs <pod> -c <container> "
        "--previous; CrashLoopBackOff: read the last logs; Pending: read the FailedScheduling "
        "event; ImagePullBackOff: check the image name and tag",
        (model.pods(ns),),
        lambda readings: pods_healthy(readings[model.pods(ns)], ns, max_restarts),
    )


def pods_healthy(pods: list[Obj], namespace: str, max_restarts: int) -> Result:
    if not pods:
        return Result(f"no pods in {namespace}", failures=(f"namespace {namespace} has no pods",))
    bad = [(pod, why) for pod in pods if (why := pod_problem(pod, max_restarts))]
    return Result(f"{len(pods) - len(bad)}/{len(pods)} pods healthy in {namespace}",
                  failures=tuple(why for _, why in bad),
                  describe_pods=described(pod for pod, _ in bad))


def described(pods: Iterable[Obj]) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the first few pods: those a failure describes."""
    refs: list[tuple[str, str]] = []
    for pod in pods:
        if len(refs) == MAX_DESCRIBED_PODS:
            break
        meta = pod.get("metadata", {})
        refs.append((str(meta.get("namespace", "?")), str(meta.get("name", "?"))))
    return tuple(refs)
