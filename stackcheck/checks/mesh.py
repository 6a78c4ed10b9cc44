"""mesh.injection[<ns>] and mesh.proxies[<ns>]: the namespace asks Linkerd to inject its
pods, and every pod got a ready proxy."""

from __future__ import annotations

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Result
from stackcheck.checks.pods import (
    PROXY,
    PROXY_VERSION,
    container_status,
    described,
    finished,
    long_running_containers,
    pod_ref,
    workload_of,
)

INJECT = "linkerd.io/inject"
DOCS = "https://linkerd.io/2/tasks/troubleshooting/"


def injection_check(namespace: str) -> Check:
    ns = namespace
    return Check(
        f"mesh.injection[{ns}]",
        "mesh.injection",
        "Mesh",
        f"namespace {ns} asks Linkerd to inject its pods",
        f"kubectl annotate namespace {ns} linkerd.io/inject=enabled, then restart its "
        f"workloads (kubectl -n {ns} rollout restart deploy); see {DOCS}",
        (model.namespaces(),),
        lambda readings: injection(readings[model.namespaces()].get(ns), ns),
    )


def proxies_check(namespace: str) -> Check:
    ns = namespace
    return Check(
        f"mesh.proxies[{ns}]",
        "mesh.proxies",
        "Mesh",
        f"every pod in namespace {ns} runs a ready linkerd-proxy",
        "pods created before injection was enabled, or while linkerd-proxy-injector was "
        f"down, have no proxy: kubectl -n {ns} rollout restart deploy; linkerd check --proxy "
        f"-n {ns}; see {DOCS}",
        (model.pods(ns),),
        lambda readings: proxies(readings[model.pods(ns)], ns),
    )


def injection(namespace: Obj | None, name: str) -> Result:
    problem = injection_problem(namespace, name)
    return Result(f"namespace {name} annotated", failures=(problem,) if problem else ())


def proxies(pods: list[Obj], namespace: str) -> Result:
    if not pods:
        return Result(f"no pods in {namespace}", failures=(f"namespace {namespace} has no pods",))
    bad = [(pod, why) for pod in pods if (why := proxy_problem(pod))]
    return Result(
        f"{len(pods) - len(bad)}/{len(pods)} pods meshed in {namespace}",
        failures=tuple(why for _, why in bad),
        describe_pods=described(pod for pod, _ in bad),
    )


def injection_problem(namespace: Obj | None, name: str) -> str | None:
    if namespace is None:
        return f"namespace {name} does not exist"
    value = (namespace.get("metadata", {}).get("annotations") or {}).get(INJECT)
    if value == "enabled":
        return None
    seen = "it is missing" if value is None else f"it is {value!r}"
    return f"namespace {name} lacks the annotation {INJECT}: enabled ({seen})"


def proxy_problem(pod: Obj) -> str | None:
    """Why a pod is not (properly) meshed, or None. Finished pods (a Job's, an evicted one)
    are exempt: they run no proxy, and pods.healthy judges why they ended."""
    if finished(pod):
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
