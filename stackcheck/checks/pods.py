"""pods.healthy[<ns>]: every pod of a namespace is Running and Ready. A pod's health from
the pod object alone: what is wrong with it, in one line (also read by component.healthy).
Pods of Jobs are runs: a failed run warns (fails when the stack file requires the Job); a
failed pod whose Deployment, StatefulSet or DaemonSet runs another in its place (the kubelet
evicted it, or ended it for a node shutdown) warns, as one left behind;
restarts count only within the restart window, older ones warn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Result

MAX_DESCRIBED_PODS = 5  # pods whose describe, events and logs a failure attaches

T = TypeVar("T")
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


class PodList(list[Obj]):
    """A namespace's pods as one read returns them (reading.py), with what checks derive
    from all of them (see `derived`)."""

    def __init__(self, pods: Iterable[Obj] = ()) -> None:
        super().__init__(pods)
        self.derived: dict[Callable[[list[Obj]], Any], Any] = {}


def derived(pods: list[Obj], derive: Callable[[list[Obj]], T]) -> T:
    """derive(pods), once per read of a PodList (a plain list, a test's, each time). Kept for
    speed at scale: checks of one namespace each walked all its pods for the same thing (the
    owners for every component, the proxies for identity's two checks), ~10-14 ms apiece at
    10,000 pods (bench/ row (b)). Readers of the read race at worst into deriving twice."""
    if not isinstance(pods, PodList):
        return derive(pods)
    if derive not in pods.derived:
        pods.derived[derive] = derive(pods)
    value: T = pods.derived[derive]
    return value


def owners(pods: list[Obj]) -> list[tuple[str, str] | None]:
    """workload_of of each pod, in order."""
    return derived(pods, _owners)


def _owners(pods: list[Obj]) -> list[tuple[str, str] | None]:
    return [workload_of(pod) for pod in pods]


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


def pod_problem(pod: Obj, max_restarts: int | None) -> str | None:
    """Why a pod is unhealthy, or None. Pods of Jobs that Succeeded are healthy. Restarts
    count over the pod's life unless `max_restarts` is None (see restart_verdict)."""
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
    if max_restarts is not None and (count := restarts(pod)) > max_restarts:
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
        if waiting and (
            int(status.get("restartCount") or 0)
            or waiting.get("reason") not in ("PodInitializing", None)
        ):
            return "init " + _waiting(name, waiting, status)
        term = state.get("terminated") or {}
        if term and term.get("exitCode") not in (0, None):
            return (
                f"init container {name} terminated ({term.get('reason', '?')}, "
                f"exit code {term.get('exitCode')})"
            )
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
            return (
                f"container {name} terminated ({term.get('reason', '?')}, "
                f"exit code {term.get('exitCode', '?')})"
            )
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


@dataclass(frozen=True)
class PodPolicy:
    """How pods are judged beyond their own state: restarts count against `max_restarts`
    only when the last one ended within `restart_window` (older ones warn); a failed run of
    a Job/CronJob warns unless it is `required` ((kind, name) pairs). `now` is the clock the
    restart ages are read against."""

    max_restarts: int = 3
    restart_window: timedelta | None = None  # None: restarts count over a pod's life
    required: frozenset[tuple[str, str]] = frozenset()
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False)


@dataclass(frozen=True)
class Verdicts:
    """Pods judged: failures (with the pods to describe) and warnings."""

    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    bad: tuple[Obj, ...] = ()


# what to do about a CronJob whose runs fail, by its name
RUN_HINTS = {
    "linkerd-heartbeat": "it exits 1 without egress to versioncheck.linkerd.io; where the "
    "cluster has no egress set disableHeartBeat: true in the "
    "control-plane values (linkerd/linkerd2#7588)",
}


def parse_window(text: str | None) -> timedelta | None:
    """ "90s", "30m", "1h", "2d" -> a timedelta (the stack file's schema holds the form)."""
    if not text:
        return None
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    return timedelta(**{units[text[-1]]: int(text[:-1])})


def judge_pods(pods: list[Obj], cronjobs: dict[str, Obj], policy: PodPolicy) -> Verdicts:
    """Long-running pods by their state and recent restarts; pods of Jobs as runs of their
    Job (CronJob): one verdict per failed run; a failed pod that its controller has replaced
    with a running one (evicted, or ended by a node shutdown) as a pod left behind: a
    warning."""
    failures: list[str] = []
    warnings: list[str] = []
    bad: list[Obj] = []
    runs: dict[str, list[Obj]] = {}  # failed Job -> its Failed pods
    running: Counter[tuple[str, str] | None] | None = None  # workload -> its Running pods
    now = policy.now()
    for pod in pods:
        # first the phase: the owner only matters for failed pods, which are few
        if _phase(pod) == "Failed" and not pod.get("metadata", {}).get("deletionTimestamp"):
            owner = workload_of(pod)
            if owner is not None and owner[0] == "Job":
                runs.setdefault(owner[1], []).append(pod)
                continue
            if owner is not None and owner[0] in REPLACING:
                running = _running_pods(pods) if running is None else running
                if running.get(owner):
                    warnings.append(left_behind(pod, owner, running[owner]))
                    continue
        why = pod_problem(pod, None if policy.restart_window else policy.max_restarts)
        if why is None and policy.restart_window is not None:
            why, old = restart_verdict(pod, policy, now)
            if old:
                warnings.append(old)
        if why:
            failures.append(why)
            bad.append(pod)
    for job, failed_pods in runs.items():
        text, required = failed_run(job, failed_pods, cronjobs, policy, now)
        if required:
            failures.append(text)
            bad.extend(failed_pods[:1])
        else:
            warnings.append(text)
    return Verdicts(tuple(failures), tuple(warnings), tuple(bad))


# controllers that keep their pods running and run a new one in place of a pod that failed:
# the kubelet fails a pod it evicts (node-pressure eviction) or ends for a node shutdown, and
# such a pod stays until it is deleted or the pod garbage collector's threshold (12,500
# terminated pods by default) is reached (tests/data/facts/workload-status.yml pod-evicted)
REPLACING = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})


def _running_pods(pods: list[Obj]) -> Counter[tuple[str, str] | None]:
    """How many Running pods each workload has (the owners derived once per read)."""
    return Counter(
        owner for pod, owner in zip(pods, owners(pods), strict=True) if _phase(pod) == "Running"
    )


def finished(pod: Obj) -> bool:
    """Succeeded or Failed: it runs no container any more (a Job's pod, an evicted one)."""
    return _phase(pod) in ("Succeeded", "Failed")


def left_behind(pod: Obj, owner: tuple[str, str], running: int) -> str:
    """A failed pod whose workload runs others: why it ended, and how to clear it."""
    meta, status = pod.get("metadata", {}), pod.get("status") or {}
    why = str(status.get("reason") or "its containers exited")
    message = str(status.get("message") or "").strip()
    if message:
        why += ": " + message.split(". ", 1)[0].rstrip(".") + "."
    kind, name = owner
    others = f"{running} running pod{'' if running == 1 else 's'}"
    return (
        f"{pod_ref(pod)}: Failed ({why}), left behind: {kind} {name} has {others} in its "
        f"place; remove it: kubectl -n {meta.get('namespace', '?')} delete pod "
        f"{meta.get('name', '?')}"
    )


def restart_verdict(pod: Obj, policy: PodPolicy, now: datetime) -> tuple[str | None, str]:
    """(failure, warning) for a pod's restarts: restarts whose last ended within the window
    count against max_restarts; older ones are a warning with their count and age."""
    assert policy.restart_window is not None
    recent, old, oldest_age = 0, 0, timedelta(0)
    for status in _all_statuses(pod):
        count = int(status.get("restartCount") or 0)
        if not count:
            continue
        ended = _parse_time(
            ((status.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        )
        if ended is None or now - ended <= policy.restart_window:
            recent += count  # no time recorded: counted, as without a window
        else:
            old += count
            oldest_age = max(oldest_age, now - ended)
    failure = None
    if recent > policy.max_restarts:
        failure = (
            f"{pod_ref(pod)}: restarted {recent} times within "
            f"{_age(policy.restart_window)} (more than {policy.max_restarts})"
        )
    warning = ""
    if old > policy.max_restarts:
        warning = (
            f"{pod_ref(pod)}: restarted {old} times, the last {_age(oldest_age)} ago "
            f"(outside the {_age(policy.restart_window)} restart window; running "
            "cleanly since)"
        )
    return failure, warning


def failed_run(
    job: str, pods: list[Obj], cronjobs: dict[str, Obj], policy: PodPolicy, now: datetime
) -> tuple[str, bool]:
    """One line about a failed run of a Job (of a CronJob when one owns it), and whether
    the stack file requires it to succeed."""
    cronjob = cronjob_of(job, cronjobs)
    namespace = str(pods[0].get("metadata", {}).get("namespace", "?"))
    why = _exit(pods[0])
    tries = f"{len(pods)} failed pod{'' if len(pods) == 1 else 's'}"
    if cronjob is None:
        return (
            f"Job {namespace}/{job}: run failed ({tries}; {why})",
            ("Job", job) in policy.required,
        )
    name = str(cronjob["metadata"]["name"])
    last = (cronjob.get("status") or {}).get("lastSuccessfulTime")
    ended = _parse_time(last)
    success = (
        f"last successful run {last} ({_age(now - ended)} ago)"
        if ended
        else "no successful run recorded"
    )
    text = f"CronJob {namespace}/{name}: run {job} failed ({tries}; {why}); {success}"
    if name in RUN_HINTS:
        text += f"; hint: {RUN_HINTS[name]}"
    return text, ("CronJob", name) in policy.required or ("Job", job) in policy.required


def cronjob_of(job: str, cronjobs: dict[str, Obj]) -> Obj | None:
    """The CronJob that made a Job: its Jobs are named `<cronjob>-<scheduled minute>`."""
    head, _, tail = job.rpartition("-")
    return cronjobs.get(head) if tail.isdigit() else None


def _exit(pod: Obj) -> str:
    for status in _all_statuses(pod):
        term = (status.get("state") or {}).get("terminated")
        if term and term.get("exitCode") not in (0, None):
            return (
                f"container {status.get('name', '?')} exited {term.get('exitCode')} "
                f"({term.get('reason', '?')})"
            )
    return str((pod.get("status") or {}).get("reason") or "its containers exited")


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Unknown")


def _all_statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    return list(status.get("containerStatuses") or []) + list(
        status.get("initContainerStatuses") or []
    )


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _age(delta: timedelta) -> str:
    """The two largest units, as kubectl prints ages: 2d23h, 5h10m, 1h, 45s."""
    seconds = max(0, int(delta.total_seconds()))
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    for index, (unit, size) in enumerate(units):
        if seconds >= size or unit == "s":
            text = f"{seconds // size}{unit}"
            if index + 1 < len(units) and unit != "s":
                rest_unit, rest_size = units[index + 1]
                if rest := seconds % size // rest_size:
                    text += f"{rest}{rest_unit}"
            return text
    return "0s"


def pods_check(namespace: str, policy: PodPolicy) -> Check:
    ns = namespace
    pods_read, cronjobs_read = model.pods(ns), model.objects("CronJob", ns)
    window = f" within {_age(policy.restart_window)}" if policy.restart_window else ""
    return Check(
        f"pods.healthy[{ns}]",
        "pods.healthy",
        "Pods",
        f"every pod in namespace {ns} is Running and Ready (at most {policy.max_restarts} "
        f"restarts{window}); Job pods are judged as runs of their Job",
        f"kubectl -n {ns} describe pod <pod>; kubectl -n {ns} logs <pod> -c <container> "
        "--previous; CrashLoopBackOff: read the last logs; Pending: read the FailedScheduling "
        "event; ImagePullBackOff: check the image name and tag; a meshed pod's readiness "
        "probe answered 404: a Server of yours has HTTPRoutes on that port and none covers "
        "the probe path (Linkerd then serves those routes alone, no probe route)",
        (pods_read, cronjobs_read),
        lambda readings: pods_healthy(readings[pods_read], ns, policy, readings[cronjobs_read]),
    )


def pods_healthy(
    pods: list[Obj], namespace: str, policy: PodPolicy, cronjobs: dict[str, Obj] | None = None
) -> Result:
    if not pods:
        return Result(f"no pods in {namespace}", failures=(f"namespace {namespace} has no pods",))
    verdicts = judge_pods(pods, cronjobs or {}, policy)
    return Result(
        f"{len(pods) - len(verdicts.bad)}/{len(pods)} pods healthy in {namespace}",
        failures=verdicts.failures,
        warnings=verdicts.warnings,
        describe_pods=described(verdicts.bad),
    )


def described(pods: Iterable[Obj]) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the first few pods: those a failure describes."""
    refs: list[tuple[str, str]] = []
    for pod in pods:
        if len(refs) == MAX_DESCRIBED_PODS:
            break
        meta = pod.get("metadata", {})
        refs.append((str(meta.get("namespace", "?")), str(meta.get("name", "?"))))
    return tuple(refs)
