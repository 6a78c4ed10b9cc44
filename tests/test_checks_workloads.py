"""component.healthy: workload_problem() on Deployment/StatefulSet/DaemonSet/CronJob/Job
objects with the status their controllers write, and component_healthy() over a
component's workloads and pods."""

from __future__ import annotations

from contextlib import closing

import pytest

from stackcheck.checks import model
from stackcheck.checks.model import Result, Status
from stackcheck.checks.pods import PodList, owners, workload_of
from stackcheck.checks.workloads import workload_problem
from stackcheck.stackfile import Workload
from tests.kubefakes import (
    GOLDEN,
    FakeKube,
    Obj,
    evaluate,
    fake_runner,
    from_yaml,
    load,
    status_of,
)

HEARTBEAT_CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata:
  name: linkerd-heartbeat
  namespace: linkerd
spec:
  concurrencyPolicy: Replace
  schedule: "19 11 * * *"
  suspend: false
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - image: cr.l5d.io/linkerd/controller:stable-2.14.10
              name: heartbeat
          restartPolicy: Never
status:
  lastScheduleTime: "2024-11-20T11:19:00Z"
  lastSuccessfulTime: "2024-11-20T11:19:06Z"
"""

FAILED_JOB = """
apiVersion: batch/v1
kind: Job
metadata:
  name: prometheus-kube-prometheus-admission-create
  namespace: monitoring
spec:
  backoffLimit: 6
  completions: 1
  parallelism: 1
status:
  conditions:
    - lastProbeTime: "2024-11-20T08:09:12Z"
      lastTransitionTime: "2024-11-20T08:09:12Z"
      message: Job has reached the specified backoff limit
      reason: BackoffLimitExceeded
      status: "True"
      type: Failed
  failed: 7
  startTime: "2024-11-20T08:02:31Z"
"""


def available_deployment(name: str, namespace: str) -> Obj:
    """The golden Deployment (1 replica, available), renamed."""
    deployment = load("deployment-status", GOLDEN)
    deployment["metadata"].update(name=name, namespace=namespace)
    return deployment


# --- Deployment ----------------------------------------------------------------------------
def test_available_deployment_passes() -> None:
    workload = Workload("Deployment", "productpage-v1")
    assert workload_problem(workload, "bookinfo", load("deployment-status", GOLDEN)) is None


def test_unavailable_deployment_names_counts_and_condition_reason() -> None:
    problem = workload_problem(
        Workload("Deployment", "linkerd-destination"), "linkerd", load("deployment-unavailable")
    )
    assert problem == (
        "Deployment linkerd/linkerd-destination: 0/1 replicas available "
        "(Available=False: MinimumReplicasUnavailable)"
    )


def test_missing_workload_is_named() -> None:
    problem = workload_problem(Workload("Deployment", "linkerd-identity"), "linkerd", None)
    assert problem == "Deployment linkerd/linkerd-identity does not exist"


def test_replica_count_differs_from_the_stack_file() -> None:
    problem = workload_problem(
        Workload("Deployment", "productpage-v1", replicas=2),
        "bookinfo",
        load("deployment-status", GOLDEN),
    )
    assert problem == (
        "Deployment bookinfo/productpage-v1 is scaled to 1 replicas, git says 2 (stack.yml)"
    )


def test_deployment_scaled_to_zero_is_not_given_a_default_replica() -> None:
    deployment = load("deployment-unavailable")
    deployment["spec"]["replicas"] = 0
    deployment["status"] = {"observedGeneration": 2}
    assert (
        workload_problem(Workload("Deployment", "linkerd-destination"), "linkerd", deployment)
        is None
    )


# --- StatefulSet, DaemonSet ----------------------------------------------------------------
def test_available_statefulset_passes() -> None:
    workload = Workload("StatefulSet", "prometheus-prometheus-kube-prometheus-prometheus")
    assert workload_problem(workload, "monitoring", load("statefulset-available")) is None


def test_statefulset_without_ready_replicas_fails() -> None:
    statefulset = load("statefulset-available")
    statefulset["status"].update(availableReplicas=0, readyReplicas=0)
    problem = workload_problem(
        Workload("StatefulSet", "prometheus-prometheus-kube-prometheus-prometheus"),
        "monitoring",
        statefulset,
    )
    assert problem == (
        "StatefulSet monitoring/prometheus-prometheus-kube-prometheus-prometheus: "
        "0/1 replicas available"
    )


def test_daemonset_that_schedules_nothing_fails() -> None:
    problem = workload_problem(
        Workload("DaemonSet", "prometheus-prometheus-node-exporter"),
        "monitoring",
        load("daemonset-none-scheduled"),
    )
    assert problem == (
        "DaemonSet monitoring/prometheus-prometheus-node-exporter schedules no "
        "pods (no node matches its nodeSelector/tolerations)"
    )


@pytest.mark.parametrize(
    ("available", "problem"),
    [
        (1, None),
        (None, "DaemonSet monitoring/prometheus-prometheus-node-exporter: 0/1 replicas available"),
    ],
)
def test_daemonset_counts_available_pods(available: int | None, problem: str | None) -> None:
    daemonset = load("daemonset-none-scheduled")
    daemonset["status"].update(
        currentNumberScheduled=1,
        desiredNumberScheduled=1,
        updatedNumberScheduled=1,
        numberReady=available or 0,
    )
    if available is not None:
        daemonset["status"]["numberAvailable"] = available
    assert (
        workload_problem(
            Workload("DaemonSet", "prometheus-prometheus-node-exporter"), "monitoring", daemonset
        )
        == problem
    )


# --- CronJob, Job --------------------------------------------------------------------------
def test_cronjob_passes_unless_suspended() -> None:
    cronjob = from_yaml(HEARTBEAT_CRONJOB)
    workload = Workload("CronJob", "linkerd-heartbeat")
    assert workload_problem(workload, "linkerd", cronjob) is None
    cronjob["spec"]["suspend"] = True
    assert workload_problem(workload, "linkerd", cronjob) == (
        "CronJob linkerd/linkerd-heartbeat is suspended"
    )


def test_failed_job_reports_its_completions() -> None:
    problem = workload_problem(
        Workload("Job", "prometheus-kube-prometheus-admission-create"),
        "monitoring",
        from_yaml(FAILED_JOB),
    )
    assert problem == (
        "Job monitoring/prometheus-kube-prometheus-admission-create: 0/1 completions"
    )


# --- the probe over a component ------------------------------------------------------------
def control_plane(*extra: Obj, destination: Obj | None = None) -> list[Obj]:
    """linkerd-control-plane's workloads as stack.yml lists them, plus `extra` objects."""
    objects = [
        available_deployment(n, "linkerd") for n in ("linkerd-identity", "linkerd-proxy-injector")
    ]
    objects.append(destination or available_deployment("linkerd-destination", "linkerd"))
    return [*objects, from_yaml(HEARTBEAT_CRONJOB), *extra]


def component_verdict(*objects: Obj) -> Result:
    return evaluate("component.healthy[linkerd-control-plane]", *objects)


def test_component_passes_with_a_completed_heartbeat_pod() -> None:
    verdict = component_verdict(*control_plane(load("completed-job-pod")))
    assert verdict.status is Status.PASSED, verdict.reason


def test_component_fails_naming_the_workload_and_its_crashlooping_pod() -> None:
    verdict = component_verdict(
        *control_plane(load("crashloop-pod"), destination=load("deployment-unavailable"))
    )
    assert verdict.status is Status.FAILED
    assert verdict.failures == (
        "Deployment linkerd/linkerd-destination: 0/1 replicas available "
        "(Available=False: MinimumReplicasUnavailable)",
        "pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r: Running but not Ready: container "
        "destination is CrashLoopBackOff (7 restarts; last exit: Error, code 1)",
    )


def test_component_warns_about_a_failed_heartbeat_run() -> None:
    """linkerd2#7588: without egress the heartbeat exits 1; the mesh is fine."""
    pod = load("completed-job-pod")
    pod["status"]["phase"] = "Failed"
    status_of(pod, "heartbeat")["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    verdict = component_verdict(*control_plane(pod))
    assert verdict.status is Status.WARNING, verdict.reason
    (warning,) = verdict.warnings
    assert warning.startswith(
        "CronJob linkerd/linkerd-heartbeat: run linkerd-heartbeat-28868839 "
        "failed (1 failed pod; container heartbeat exited 1 (Error)); "
    )
    assert "disableHeartBeat: true" in warning


def test_a_pod_read_derives_the_owners_once_for_every_check() -> None:
    pods = [load("crashloop-pod"), load("completed-job-pod")]
    kube = FakeKube(*pods)
    with closing(fake_runner(kube=kube)) as runner:
        read = runner.read(model.pods("linkerd"))
        assert isinstance(read, PodList)
        assert owners(read) == [workload_of(pod) for pod in pods]
        assert owners(read) is owners(read)  # derived once, shared
    assert owners(pods) == owners(read)  # a plain list (a test's): the same owners


def test_component_fails_when_a_workload_is_missing() -> None:
    objects = [o for o in control_plane() if o["metadata"]["name"] != "linkerd-identity"]
    verdict = component_verdict(*objects)
    assert verdict.failures == ("Deployment linkerd/linkerd-identity does not exist",)


# --- issue 11: rollouts and git --------------------------------------------------------------
def test_a_stuck_rollout_names_progress_deadline_exceeded() -> None:
    deployment = load("deployment-status", GOLDEN)
    deployment["status"].pop("updatedReplicas", None)  # omitted when 0
    deployment["status"]["conditions"] = [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "productpage-v1-7f4d9cbb86" has timed out progressing.',
        },
    ]
    problem = workload_problem(Workload("Deployment", "productpage-v1"), "bookinfo", deployment)
    assert problem == (
        "Deployment bookinfo/productpage-v1: rollout incomplete, 0/1 replicas updated "
        '(Progressing=False, ProgressDeadlineExceeded: ReplicaSet "productpage-v1-7f4d9cbb86" '
        "has timed out progressing.)"
    )


def test_a_generation_not_yet_observed_is_in_progress() -> None:
    deployment = load("deployment-status", GOLDEN)
    deployment["metadata"]["generation"] = 3
    deployment["status"]["observedGeneration"] = 2
    problem = workload_problem(Workload("Deployment", "productpage-v1"), "bookinfo", deployment)
    assert problem == "Deployment bookinfo/productpage-v1: generation 3 not yet observed (at 2)"


def test_old_replicas_still_running_is_an_incomplete_rollout() -> None:
    deployment = load("deployment-status", GOLDEN)
    deployment["status"]["replicas"] = 2  # surge: the old pod not yet gone
    problem = workload_problem(Workload("Deployment", "productpage-v1"), "bookinfo", deployment)
    assert problem is not None and "2 replicas for 1 desired" in problem


def test_a_manifest_workload_scaled_to_zero_fails_naming_both_numbers() -> None:
    ratings = load("deployment-status", GOLDEN)
    ratings["metadata"].update(name="ratings-v1", generation=2)
    ratings["spec"]["replicas"] = 0
    ratings["status"] = {"observedGeneration": 2}
    others = [
        available_deployment(n, "bookinfo")
        for n in ("productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3")
    ]
    verdict = evaluate("component.healthy[bookinfo]", ratings, *others)
    assert verdict.failures == (
        "Deployment bookinfo/ratings-v1 is scaled to 0 replicas, git says 1 "
        "(manifests/applications/bookinfo-with-linkerd.yml)",
    )


def test_a_chart_workload_scaled_away_from_the_stack_file_fails() -> None:
    identity = available_deployment("linkerd-identity", "linkerd")
    identity["spec"]["replicas"] = 3
    identity["status"].update(replicas=3, updatedReplicas=3, readyReplicas=3, availableReplicas=3)
    objects = [o for o in control_plane() if o["metadata"]["name"] != "linkerd-identity"]
    verdict = component_verdict(*objects, identity)
    assert verdict.failures == (
        "Deployment linkerd/linkerd-identity is scaled to 3 replicas, git says 1 (stack.yml)",
    )
