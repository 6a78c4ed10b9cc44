"""component.healthy[<component>]: each workload of a component exists with its replicas
available (Deployment/StatefulSet/DaemonSet/CronJob/Job objects), and its pods are healthy."""

from __future__ import annotations

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Readings, Result
from stackcheck.checks.pods import described, pod_problem, workload_of
from stackcheck.stackfile import Component, Workload


def component_check(component: Component, max_restarts: int) -> Check:
    name, ns = component.name, component.namespace
    reads = tuple(dict.fromkeys(model.objects(w.kind, ns) for w in component.workloads))
    return Check(
        f"component.healthy[{name}]", "component.healthy", "Workloads",
        f"every workload of {name} exists in namespace {ns} with its replicas available",
        f"kubectl -n {ns} get deploy,sts,ds,cronjob; a missing workload means the install "
        "step of this component failed or was skipped (see scripts/deploy-observability-stack.sh)",
        (*reads, model.pods(ns)),
        lambda readings: component_healthy(component, readings, max_restarts),
    )


def component_healthy(component: Component, readings: Readings, max_restarts: int) -> Result:
    ns = component.namespace
    failures = [why for w in component.workloads if (why := workload_problem(
        w, ns, readings[model.objects(w.kind, ns)].get(w.name)))]
    owned = {(w.kind, w.name) for w in component.workloads}
    bad = [(pod, why) for pod in readings[model.pods(ns)]
           if owns(owned, workload_of(pod)) and (why := pod_problem(pod, max_restarts))]
    count = len(component.workloads)
    return Result(f"{count} workload{'' if count == 1 else 's'} of {component.name} available",
                  failures=(*failures, *(why for _, why in bad)),
                  describe_pods=described(pod for pod, _ in bad))


def owns(owned: set[tuple[str, str]], owner: tuple[str, str] | None) -> bool:
    """A workload's pods; a Job's count for its CronJob (Jobs are `<cronjob>-<schedule>`)."""
    if owner is None:
        return False
    if owner in owned:
        return True
    return owner[0] == "Job" and any(kind == "CronJob" and owner[1].startswith(name + "-")
                                     for kind, name in owned)


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
