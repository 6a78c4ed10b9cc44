"""pods.healthy: pod_problem() on pod objects shaped like the kubelet writes them, and the
Probes.pods_healthy() verdict over a namespace (through a fake Kube serving the same YAML)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stackcheck.checks.model import Result, Status
from stackcheck.checks.pods import (
    PodPolicy,
    container_status,
    judge_pods,
    long_running_containers,
    parse_window,
    pod_problem,
    restarts,
    workload_of,
)
from tests.kubefakes import GOLDEN, Obj, evaluate, load, status_of

MAX_RESTARTS = 3


# --- healthy shapes ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["classic-sidecar-pod", "native-sidecar-pod", "completed-job-pod", "unmeshed-pod"]
)
def test_healthy_pods_have_no_problem(name: str) -> None:
    assert pod_problem(load(name), MAX_RESTARTS) is None


def test_native_sidecar_counts_as_a_long_running_container() -> None:
    pod = load("native-sidecar-pod")
    names = [c["name"] for c in long_running_containers(pod)]
    assert names == ["ratings", "linkerd-proxy"]  # linkerd-init runs to completion: not listed


def test_native_sidecar_status_is_read_from_init_container_statuses() -> None:
    status = container_status(load("native-sidecar-pod"), "linkerd-proxy")
    assert status is not None
    assert status["ready"] is True and "running" in status["state"]


# --- failing shapes ------------------------------------------------------------------------
def test_crashloop_names_pod_container_restarts_and_last_exit() -> None:
    problem = pod_problem(load("crashloop-pod"), MAX_RESTARTS)
    assert problem == (
        "pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r: Running but not Ready: container "
        "destination is CrashLoopBackOff (7 restarts; last exit: Error, code 1)"
    )


def test_running_but_not_ready_names_the_unready_container() -> None:
    problem = pod_problem(load("not-ready-running-pod"), MAX_RESTARTS)
    assert problem == (
        "pod bookinfo/productpage-v1-d5789fdfb-2vxlm: Running but not Ready: container "
        "productpage is running but not ready (readiness probe failing)"
    )


def test_pending_unschedulable_carries_the_scheduler_message() -> None:
    problem = pod_problem(load("pending-unschedulable-pod"), MAX_RESTARTS)
    assert problem is not None
    assert problem.startswith(
        "pod monitoring/prometheus-grafana-6c5d9f7b84-wq7tn: Pending "
        "(Unschedulable: 0/1 nodes are available"
    )
    assert "untolerated taint {node-role.kubernetes.io/control-plane: }" in problem


def test_image_pull_backoff_names_container_and_image() -> None:
    problem = pod_problem(load("imagepullbackoff-pod"), MAX_RESTARTS)
    assert problem == (
        "pod bookinfo/reviews-v3-7886dd86b9-h2xkp: Pending (container reviews is "
        'ImagePullBackOff: Back-off pulling image "docker.io/istio/examples-bookinfo-reviews-v3'
        ':1.20.9")'
    )


def test_proxy_not_ready_fails_pod_health_too() -> None:
    problem = pod_problem(load("proxy-not-ready-pod"), MAX_RESTARTS)
    assert problem is not None
    assert "pod bookinfo/traffic-generator-6f8d9c5b7-r5tsg" in problem
    assert "container linkerd-proxy is running but not ready" in problem


def test_crashlooping_native_sidecar_is_seen() -> None:
    pod = load("native-sidecar-pod")
    proxy = status_of(pod, "linkerd-proxy")
    proxy.update(
        ready=False,
        started=False,
        restartCount=4,
        lastState={"terminated": {"exitCode": 101, "reason": "Error"}},
        state={
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 1m20s restarting failed container",
            }
        },
    )
    problem = pod_problem(pod, MAX_RESTARTS)
    assert problem == (
        "pod bookinfo/ratings-v1-5d8b4c7c79-9tqjx: Running but not Ready: container "
        "linkerd-proxy is CrashLoopBackOff (4 restarts; last exit: Error, code 101)"
    )


def test_native_sidecar_without_status_is_not_healthy() -> None:
    pod = load("native-sidecar-pod")
    pod["status"]["initContainerStatuses"] = pod["status"]["initContainerStatuses"][:1]
    problem = pod_problem(pod, MAX_RESTARTS)
    assert problem is not None
    assert "container linkerd-proxy has no status yet" in problem


def test_succeeded_pod_not_owned_by_a_job_is_a_problem() -> None:
    pod = load("completed-job-pod")
    pod["metadata"]["ownerReferences"] = []
    problem = pod_problem(pod, MAX_RESTARTS)
    assert problem == (
        "pod linkerd/linkerd-heartbeat-28868839-q8w4z: Succeeded (Completed) "
        "but it is not a Job's pod"
    )


def test_evicted_pod_reports_the_eviction() -> None:
    pod = load("classic-sidecar-pod")
    pod["status"] = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory.",
    }
    assert pod_problem(pod, MAX_RESTARTS) == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: Failed (Evicted)"
    )


def test_terminating_pod_is_a_problem() -> None:
    pod = load("classic-sidecar-pod")
    pod["metadata"]["deletionTimestamp"] = "2024-11-20T09:00:00Z"
    assert pod_problem(pod, MAX_RESTARTS) == "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: Terminating"


def test_ready_condition_false_with_ready_containers_gives_its_reason() -> None:
    pod = load("classic-sidecar-pod")
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    ready.update(
        status="False",
        reason="ReadinessGatesNotReady",
        message='corresponding condition of pod readiness gate "target-health" does not exist.',
    )
    assert pod_problem(pod, MAX_RESTARTS) == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: Running but not Ready (ReadinessGatesNotReady)"
    )


def test_unknown_phase_is_reported() -> None:
    pod = load("classic-sidecar-pod")
    pod["status"]["phase"] = "Unknown"
    assert pod_problem(pod, MAX_RESTARTS) == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: phase Unknown"
    )


# --- restarts ------------------------------------------------------------------------------
def test_restarts_up_to_the_limit_are_tolerated() -> None:
    pod = load("classic-sidecar-pod")
    status_of(pod, "reviews")["restartCount"] = MAX_RESTARTS
    assert pod_problem(pod, MAX_RESTARTS) is None


def test_restarts_beyond_the_limit_fail_even_when_ready() -> None:
    pod = load("classic-sidecar-pod")
    status_of(pod, "reviews")["restartCount"] = 5
    assert pod_problem(pod, MAX_RESTARTS) == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: restarted 5 times (more than 3)"
    )


def test_native_sidecar_restarts_count() -> None:
    pod = load("native-sidecar-pod")
    status_of(pod, "linkerd-proxy")["restartCount"] = 4
    assert restarts(pod) == 4
    assert pod_problem(pod, MAX_RESTARTS) == (
        "pod bookinfo/ratings-v1-5d8b4c7c79-9tqjx: restarted 4 times (more than 3)"
    )


# --- owners --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("classic-sidecar-pod", ("Deployment", "reviews-v2")),
        ("completed-job-pod", ("Job", "linkerd-heartbeat-28868839")),
    ],
)
def test_workload_of_sees_through_replicasets(name: str, owner: tuple[str, str]) -> None:
    assert workload_of(load(name)) == owner


# --- the probe over a namespace ------------------------------------------------------------
def pods_verdict(namespace: str, *pods: Obj) -> Result:
    return evaluate(f"pods.healthy[{namespace}]", *pods)


def test_probe_passes_when_every_pod_is_healthy() -> None:
    verdict = pods_verdict("bookinfo", load("classic-sidecar-pod"), load("native-sidecar-pod"))
    assert verdict.status is Status.PASSED, verdict.reason
    assert verdict.summary == "2/2 pods healthy in bookinfo"


def test_probe_passes_with_a_completed_job_pod() -> None:
    verdict = pods_verdict("linkerd", load("completed-job-pod"))
    assert verdict.status is Status.PASSED, verdict.reason


def test_probe_fails_naming_every_bad_pod() -> None:
    verdict = pods_verdict(
        "bookinfo",
        load("classic-sidecar-pod"),
        load("not-ready-running-pod"),
        load("imagepullbackoff-pod"),
        load("crashloop-pod"),
    )
    assert verdict.status is Status.FAILED
    assert verdict.summary == "1/3 pods healthy in bookinfo"
    assert len(verdict.failures) == 2
    assert "productpage-v1-d5789fdfb-2vxlm" in verdict.failures[0]
    assert "ImagePullBackOff" in verdict.failures[1]
    assert [name for _, name in verdict.describe_pods] == [  # described once it has failed
        "productpage-v1-d5789fdfb-2vxlm",
        verdict.failures[1].split("/")[1].split(":")[0],
    ]


def test_probe_fails_on_an_empty_namespace() -> None:
    verdict = pods_verdict("bookinfo", load("crashloop-pod"))
    assert verdict.status is Status.FAILED
    assert verdict.failures == ("namespace bookinfo has no pods",)


def test_failing_init_container_is_named_not_the_waiting_app() -> None:
    problem = pod_problem(load("init-crashloop-pod"), MAX_RESTARTS)
    assert problem == (
        "pod bookinfo/details-v1-65599dcf88-p9c4f: Pending (init container linkerd-init is "
        "CrashLoopBackOff (5 restarts; last exit: Error, code 1))"
    )


def test_init_container_that_exited_non_zero_is_named() -> None:
    pod = load("init-crashloop-pod")
    status_of(pod, "linkerd-init").update(
        restartCount=0, lastState={}, state={"terminated": {"exitCode": 2, "reason": "Error"}}
    )
    problem = pod_problem(pod, MAX_RESTARTS)
    assert problem == (
        "pod bookinfo/details-v1-65599dcf88-p9c4f: Pending (init container "
        "linkerd-init terminated (Error, exit code 2))"
    )


@pytest.mark.parametrize(
    ("golden", "problem"),
    [
        ("injected-bookinfo-pod", None),
        ("native-sidecar-pod", None),
        ("completed-job-pod", None),
        (
            "crashloop-pod",
            "pod bookinfo/details-v1-65599dcf88-x7k2p: Running but not Ready: container "
            "details is CrashLoopBackOff (7 restarts; last exit: Error, code 1)",
        ),
    ],
)
def test_golden_shapes_are_judged_alike(golden: str, problem: str | None) -> None:
    assert pod_problem(load(golden, GOLDEN), MAX_RESTARTS) == problem


# --- issue 11: Job runs, the restart window ------------------------------------------------
NOW = datetime(2024, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = PodPolicy(MAX_RESTARTS, timedelta(hours=1), now=lambda: NOW)
HEARTBEAT = {
    "linkerd-heartbeat": {
        "metadata": {"name": "linkerd-heartbeat", "namespace": "linkerd"},
        "status": {
            "lastScheduleTime": "2024-11-23T11:19:00Z",
            "lastSuccessfulTime": "2024-11-22T11:19:07Z",
        },
    }
}


def failed_run(suffix: str = "q8w4z") -> Obj:
    """A heartbeat try that exited 1 (no egress): phase Failed, container terminated Error."""
    pod = load("completed-job-pod")
    pod["metadata"]["name"] = f"linkerd-heartbeat-28868839-{suffix}"
    pod["status"]["phase"] = "Failed"
    status_of(pod, "heartbeat")["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    return pod


def restarted(count: int, finished: str, **state: Any) -> Obj:
    pod = load("classic-sidecar-pod")
    status = status_of(pod, "reviews")
    status["restartCount"] = count
    status["lastState"] = {
        "terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": finished}
    }
    if state:
        status["state"] = state
    return pod


def test_a_failed_cronjob_run_warns_naming_the_cronjob_last_success_and_hint() -> None:
    verdicts = judge_pods([failed_run("a1b2c"), failed_run("d3f4g")], HEARTBEAT, WINDOW)
    assert verdicts.failures == ()
    assert verdicts.warnings == (
        "CronJob linkerd/linkerd-heartbeat: run linkerd-heartbeat-28868839 failed (2 failed "
        "pods; container heartbeat exited 1 (Error)); last successful run "
        "2024-11-22T11:19:07Z (1d ago); hint: it exits 1 without egress to "
        "versioncheck.linkerd.io; where the cluster has no egress set disableHeartBeat: true "
        "in the control-plane values (linkerd/linkerd2#7588)",
    )


def test_a_failed_run_of_a_required_cronjob_fails() -> None:
    policy = replace(WINDOW, required=frozenset({("CronJob", "linkerd-heartbeat")}))
    verdicts = judge_pods([failed_run()], HEARTBEAT, policy)
    assert verdicts.warnings == ()
    assert verdicts.failures[0].startswith("CronJob linkerd/linkerd-heartbeat: run ")
    assert [p["metadata"]["name"] for p in verdicts.bad] == ["linkerd-heartbeat-28868839-q8w4z"]


def test_a_failed_run_without_its_cronjob_says_no_success_is_known() -> None:
    (warning,) = judge_pods([failed_run()], {}, WINDOW).warnings
    assert warning.startswith("Job linkerd/linkerd-heartbeat-28868839: run failed (1 failed pod")


def test_restarts_outside_the_window_warn_with_count_and_age() -> None:
    verdicts = judge_pods([restarted(6, "2024-11-20T12:10:00Z")], {}, WINDOW)
    assert verdicts.failures == ()
    assert verdicts.warnings == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: restarted 6 times, the last 2d23h ago "
        "(outside the 1h restart window; running cleanly since)",
    )


def test_restarts_inside_the_window_count_against_the_limit() -> None:
    verdicts = judge_pods([restarted(6, "2024-11-23T11:40:00Z")], {}, WINDOW)
    assert verdicts.failures == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: restarted 6 times within 1h (more than 3)",
    )


def test_a_crash_loop_now_fails_however_old_its_restarts() -> None:
    pod = restarted(
        6,
        "2024-11-20T12:10:00Z",
        waiting={"reason": "CrashLoopBackOff", "message": "back-off 5m0s"},
    )
    verdicts = judge_pods([pod], {}, WINDOW)
    assert len(verdicts.failures) == 1 and "CrashLoopBackOff" in verdicts.failures[0]


def test_without_a_window_restarts_count_over_the_pod_s_life() -> None:
    verdicts = judge_pods(
        [restarted(6, "2024-11-20T12:10:00Z")], {}, PodPolicy(MAX_RESTARTS, None, now=lambda: NOW)
    )
    assert verdicts.failures == (
        "pod bookinfo/reviews-v2-b7dcd98fb-k4mzq: restarted 6 times (more than 3)",
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800), (None, None)]
)
def test_restart_window_forms(text: str | None, seconds: int | None) -> None:
    window = parse_window(text)
    assert (window.total_seconds() if window else None) == seconds


# --- pods the kubelet ended, left behind beside their replacements ---------------------------
EVICTION = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi. "
# the kubelet's words for a pod it ends before a node shuts down (pkg/kubelet/nodeshutdown)
SHUTDOWN = "Pod was terminated in response to imminent node shutdown."


def ended(reason: str, message: str, name: str = "reviews-v2-b7dcd98fb-x7p2d") -> Obj:
    """A reviews-v2 pod the kubelet failed: its containers killed (137)."""
    pod = load("classic-sidecar-pod")
    pod["metadata"]["name"] = name
    pod["status"].update(phase="Failed", reason=reason, message=message)
    for status in pod["status"]["containerStatuses"]:
        status.update(ready=False, state={"terminated": {"exitCode": 137, "reason": "Error"}})
    return pod


def test_an_evicted_pod_beside_its_running_replacement_warns_how_to_clear_it() -> None:
    verdicts = judge_pods([load("classic-sidecar-pod"), ended("Evicted", EVICTION)], {}, WINDOW)
    assert verdicts.failures == () and verdicts.bad == ()
    assert verdicts.warnings == (
        "pod bookinfo/reviews-v2-b7dcd98fb-x7p2d: Failed (Evicted: The node was low on "
        "resource: memory.), left behind: Deployment reviews-v2 has 1 running pod in its "
        "place; remove it: kubectl -n bookinfo delete pod reviews-v2-b7dcd98fb-x7p2d",
    )


def test_a_pod_ended_by_a_node_shutdown_warns_with_the_kubelet_s_message() -> None:
    verdicts = judge_pods([load("classic-sidecar-pod"), ended("Terminated", SHUTDOWN)], {}, WINDOW)
    assert verdicts.failures == ()
    assert f"Failed (Terminated: {SHUTDOWN})" in verdicts.warnings[0]


def test_an_evicted_pod_of_an_older_replicaset_counts_the_new_one_s_pods() -> None:
    old = ended("Evicted", EVICTION, "reviews-v2-5c7f8d9b6-q1w2e")
    old["metadata"]["labels"]["pod-template-hash"] = "5c7f8d9b6"
    old["metadata"]["ownerReferences"][0]["name"] = "reviews-v2-5c7f8d9b6"
    verdicts = judge_pods([old, load("classic-sidecar-pod")], {}, WINDOW)
    assert verdicts.failures == ()
    assert "Deployment reviews-v2 has 1 running pod" in verdicts.warnings[0]


def test_an_evicted_pod_with_nothing_running_in_its_place_fails() -> None:
    pending = load("classic-sidecar-pod")
    pending["status"] = {"phase": "Pending"}
    evicted = ended("Evicted", EVICTION)
    verdicts = judge_pods([evicted, pending], {}, WINDOW)
    assert verdicts.warnings == ()
    assert verdicts.failures[0] == "pod bookinfo/reviews-v2-b7dcd98fb-x7p2d: Failed (Evicted)"
    assert verdicts.bad[0] is evicted


def test_a_failed_pod_without_a_controller_fails() -> None:
    bare = ended("Evicted", EVICTION)
    bare["metadata"]["ownerReferences"] = []
    verdicts = judge_pods([load("classic-sidecar-pod"), bare], {}, WINDOW)
    assert verdicts.warnings == () and len(verdicts.failures) == 1
