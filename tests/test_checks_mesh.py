"""mesh.injection / mesh.proxies: injection_problem() on Namespace objects, proxy_problem()
on classic and native-sidecar pods, and the Probes verdicts over a namespace."""

from __future__ import annotations

import pytest

from stackcheck.checks.mesh import injection_problem, proxy_problem
from stackcheck.checks.model import Result, Status
from tests.kubefakes import Obj, evaluate, from_yaml, load, status_of

BOOKINFO_NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata:
  annotations:
    linkerd.io/inject: enabled
  creationTimestamp: "2024-11-20T07:59:02Z"
  labels:
    kubernetes.io/metadata.name: bookinfo
  name: bookinfo
  resourceVersion: "16890"
  uid: 0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d
spec:
  finalizers:
    - kubernetes
status:
  phase: Active
"""


def bookinfo_namespace(inject: str | None = "enabled") -> Obj:
    namespace = from_yaml(BOOKINFO_NAMESPACE)
    if inject is None:
        del namespace["metadata"]["annotations"]
    else:
        namespace["metadata"]["annotations"]["linkerd.io/inject"] = inject
    return namespace


# --- mesh.injection ------------------------------------------------------------------------
def test_annotated_namespace_passes() -> None:
    assert injection_problem(bookinfo_namespace(), "bookinfo") is None


@pytest.mark.parametrize(
    ("inject", "seen"), [(None, "it is missing"), ("disabled", "it is 'disabled'")]
)
def test_namespace_without_injection_is_named(inject: str | None, seen: str) -> None:
    problem = injection_problem(bookinfo_namespace(inject), "bookinfo")
    assert problem == f"namespace bookinfo lacks the annotation linkerd.io/inject: enabled ({seen})"


def test_missing_namespace_is_named() -> None:
    assert injection_problem(None, "bookinfo") == "namespace bookinfo does not exist"


def injection_verdict(*objects: Obj) -> Result:
    return evaluate("mesh.injection[bookinfo]", *objects)


def test_injection_probe_reads_the_namespace() -> None:
    assert injection_verdict(bookinfo_namespace()).status is Status.PASSED
    failed = injection_verdict(bookinfo_namespace("disabled"))
    assert failed.status is Status.FAILED
    assert failed.failures == (
        "namespace bookinfo lacks the annotation linkerd.io/inject: enabled (it is 'disabled')",
    )


# --- mesh.proxies: one pod -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["classic-sidecar-pod", "native-sidecar-pod", "completed-job-pod"])
def test_meshed_or_completed_pods_pass(name: str) -> None:
    assert proxy_problem(load(name)) is None


def test_pod_without_proxy_names_its_deployment_to_restart() -> None:
    assert proxy_problem(load("unmeshed-pod")) == (
        "pod bookinfo/details-v1-65599dcf88-bn6dt has no linkerd-proxy container: restart its "
        "workload (kubectl -n bookinfo rollout restart deployment/details-v1)"
    )


def test_bare_pod_without_proxy_must_be_deleted() -> None:
    pod = load("unmeshed-pod")
    del pod["metadata"]["ownerReferences"]
    assert proxy_problem(pod) == (
        "pod bookinfo/details-v1-65599dcf88-bn6dt has no linkerd-proxy container: delete it so "
        "it is recreated with the proxy"
    )


def test_an_evicted_pod_s_stopped_proxy_is_not_judged_here() -> None:
    pod = load("classic-sidecar-pod")  # pods.healthy judges why it ended
    pod["status"].update(phase="Failed", reason="Evicted")
    status_of(pod, "linkerd-proxy").update(ready=False, state={"terminated": {"exitCode": 137}})
    assert proxy_problem(pod) is None


def test_proxy_that_is_not_ready_is_named() -> None:
    assert proxy_problem(load("proxy-not-ready-pod")) == (
        "pod bookinfo/traffic-generator-6f8d9c5b7-r5tsg: linkerd-proxy is not ready (running)"
    )


def test_native_sidecar_proxy_that_is_not_ready_is_named() -> None:
    pod = load("native-sidecar-pod")
    status_of(pod, "linkerd-proxy").update(
        ready=False,
        started=False,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
    )
    assert proxy_problem(pod) == (
        "pod bookinfo/ratings-v1-5d8b4c7c79-9tqjx: linkerd-proxy is not ready (waiting)"
    )


def test_native_sidecar_without_status_is_not_ready() -> None:
    pod = load("native-sidecar-pod")
    pod["status"]["initContainerStatuses"] = pod["status"]["initContainerStatuses"][:1]
    assert proxy_problem(pod) == (
        "pod bookinfo/ratings-v1-5d8b4c7c79-9tqjx: linkerd-proxy is not ready (no status)"
    )


def test_proxy_as_a_plain_init_container_does_not_count() -> None:
    """Without restartPolicy: Always an init container runs to completion: no sidecar."""
    pod = load("native-sidecar-pod")
    del pod["spec"]["initContainers"][1]["restartPolicy"]
    problem = proxy_problem(pod)
    assert problem is not None
    assert problem.startswith("pod bookinfo/ratings-v1-5d8b4c7c79-9tqjx has no linkerd-proxy")


def test_proxy_without_version_annotation_is_named() -> None:
    pod = load("classic-sidecar-pod")
    del pod["metadata"]["annotations"]["linkerd.io/proxy-version"]
    assert proxy_problem(pod) == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq has a linkerd-proxy container but no "
        "linkerd.io/proxy-version annotation"
    )


# --- mesh.proxies: the probe over a namespace ----------------------------------------------
def proxies_verdict(*pods: Obj) -> Result:
    return evaluate("mesh.proxies[bookinfo]", *pods)


def test_proxies_probe_passes_with_classic_and_native_sidecars() -> None:
    verdict = proxies_verdict(load("classic-sidecar-pod"), load("native-sidecar-pod"))
    assert verdict.status is Status.PASSED, verdict.reason
    assert verdict.summary == "2/2 pods meshed in bookinfo"


def test_proxies_probe_names_each_unmeshed_pod() -> None:
    verdict = proxies_verdict(
        load("classic-sidecar-pod"), load("unmeshed-pod"), load("proxy-not-ready-pod")
    )
    assert verdict.status is Status.FAILED
    assert verdict.summary == "1/3 pods meshed in bookinfo"
    assert [p.split(" has ")[0].split(":")[0] for p in verdict.failures] == [
        "pod bookinfo/details-v1-65599dcf88-bn6dt",
        "pod bookinfo/traffic-generator-6f8d9c5b7-r5tsg",
    ]


def test_proxies_probe_fails_on_an_empty_namespace() -> None:
    verdict = proxies_verdict(load("crashloop-pod"))  # lives in namespace linkerd
    assert verdict.failures == ("namespace bookinfo has no pods",)
