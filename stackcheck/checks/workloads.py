"""component.healthy[<component>]: each workload of a component exists, is scaled as git
says, has rolled out (kstatus "Current": observedGeneration >= generation and updated =
available = desired) and its pods are healthy (judged as pods.healthy judges them)."""

from __future__ import annotations

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Readings, Result
from stackcheck.checks.pods import PodPolicy, described, judge_pods, owners
from stackcheck.stackfile import Component, Workload


def component_check(component: Component, policy: PodPolicy) -> Check:
    name, ns = component.name, component.namespace
    reads = tuple(
        dict.fromkeys(
            [
                *(model.objects(w.kind, ns) for w in component.workloads),
                model.objects("CronJob", ns),
            ]
        )
    )
    return Check(
        f"component.healthy[{name}]",
        "component.healthy",
        "Workloads",
        f"every workload of {name} exists in namespace {ns}, scaled as git says, rolled out "
        "with its replicas available",
        f"kubectl -n {ns} get deploy,sts,ds,cronjob; a missing workload means the install "
        "step of this component failed or was skipped (see scripts/deploy-observability-stack.sh); "
        f"a rollout stuck: kubectl -n {ns} rollout status deploy/<name>; scaled away from "
        "git: re-apply the manifest or values",
        (*reads, model.pods(ns)),
        lambda readings: component_healthy(component, readings, policy),
    )


def component_healthy(component: Component, readings: Readings, policy: PodPolicy) -> Result:
    ns = component.namespace
    failures = [
        why
        for w in component.workloads
        if (why := workload_problem(w, ns, readings[model.objects(w.kind, ns)].get(w.name)))
    ]
    owned = {(w.kind, w.name) for w in component.workloads}
    in_namespace = readings[model.pods(ns)]
    pods = [
        pod
        for pod, owner in zip(in_namespace, owners(in_namespace), strict=True)
        if owns(owned, owner)
    ]
    verdicts = judge_pods(pods, readings[model.objects("CronJob", ns)], policy)
    count = len(component.workloads)
    return Result(
        f"{count} workload{'' if count == 1 else 's'} of {component.name} available",
        failures=(*failures, *verdicts.failures),
        warnings=verdicts.warnings,
        describe_pods=described(verdicts.bad),
    )


def owns(owned: set[tuple[str, str]], owner: tuple[str, str] | None) -> bool:
    """A workload's pods; a Job's count for its CronJob (Jobs are `<cronjob>-<schedule>`)."""
    if owner is None:
        return False
    if owner in owned:
        return True
    return owner[0] == "Job" and any(
        kind == "CronJob" and owner[1].startswith(name + "-") for kind, name in owned
    )


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
    git = expected.git_replicas if expected.git_replicas is not None else expected.replicas
    if git is not None and expected.kind != "DaemonSet" and desired != git:
        return (
            f"{ref} is scaled to {desired} replicas, git says {git} "
            f"({expected.git_source or 'stack.yml'})"
        )
    if desired == 0 and expected.kind == "DaemonSet":
        return f"{ref} schedules no pods (no node matches its nodeSelector/tolerations)"
    if available < desired:
        return f"{ref}: {available}/{desired} replicas available{_why(status)}"
    return rollout_problem(ref, expected.kind, obj, desired)


def rollout_problem(ref: str, kind: str, obj: Obj, desired: int) -> str | None:
    """kstatus's "Current": the controller saw the latest spec and every replica is updated
    and available; else what is in progress, naming Progressing=False (a stuck rollout)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    stalled = _stalled(status)
    if observed < generation:
        return f"{ref}: generation {generation} not yet observed (at {observed}){stalled}"
    updated = _updated(kind, status, desired)
    if updated < desired:
        return f"{ref}: rollout incomplete, {updated}/{desired} replicas updated{stalled}"
    if kind == "Deployment" and int(status.get("replicas") or 0) > desired:
        return (
            f"{ref}: rollout incomplete, {status.get('replicas')} replicas for "
            f"{desired} desired (old ones still running){stalled}"
        )
    return f"{ref}: rollout stalled{stalled}" if stalled else None


def _updated(kind: str, status: Obj, desired: int) -> int:
    if kind == "DaemonSet":
        return int(status.get("updatedNumberScheduled") or 0)
    if kind == "StatefulSet" and status.get("updateRevision") is None:
        return desired  # no revision reported (OnDelete, or an old controller): not judged
    return int(status.get("updatedReplicas") or 0)


def _stalled(status: Obj) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("status") == "False":
            message = f": {cond['message']}" if cond.get("message") else ""
            return f" (Progressing=False, {cond.get('reason', '?')}{message})"
    return ""


def _replicas(kind: str, spec: Obj, status: Obj) -> tuple[int, int]:
    if kind == "DaemonSet":
        return int(status.get("desiredNumberScheduled") or 0), int(
            status.get("numberAvailable") or 0
        )
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if kind == "StatefulSet":
        ready = status.get("availableReplicas", status.get("readyReplicas"))
        return desired, int(ready or 0)
    return desired, int(status.get("availableReplicas") or 0)


def _why(status: Obj) -> str:
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Available" and cond.get("status") != "True":
            return f" (Available=False: {cond.get('reason', '?')})"
    return _stalled(status)
