"""The sim's shapes of issue 11 held to tests/data/facts/workload-status.yml: a failed
CronJob run, old OOM restarts, a stuck rollout, a workload scaled away from git, and a pod
the kubelet evicted, left beside its replacement."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from stackcheck.sim.spec import SimSpec
from stackcheck.sim.store import ObjectStore
from tests.sim.test_controller import condition, pod_of, pods, sim, status_of

ROOT = Path(__file__).resolve().parents[2]
FACTS: dict[str, Any] = yaml.safe_load(
    (ROOT / "tests/data/facts/workload-status.yml").read_text(encoding="utf-8")
)["facts"]
Obj = dict[str, Any]


def fact(name: str) -> Any:
    return FACTS[name]["value"]


def heartbeat_pods(store: Any) -> list[Obj]:
    return [
        p for p in pods(store, "linkerd") if p["metadata"]["name"].startswith("linkerd-heartbeat-")
    ]


def test_every_fact_names_its_source() -> None:
    for name, item in FACTS.items():
        assert {"repository", "path", "tag"} <= set(item["source"]), name


def test_a_failed_heartbeat_run_leaves_failed_pods_and_a_failed_job() -> None:
    store = sim(ObjectStore, SimSpec(failed_cronjobs={"linkerd-heartbeat"}))
    failed = heartbeat_pods(store)
    limit = fact("job-backoff-limit")
    assert len(failed) == limit["default"] + 1
    for pod in failed:
        assert pod["status"]["phase"] == fact("job-pod-failed")["phase"]
        term = status_of(pod, "heartbeat")["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (
            fact("job-pod-failed")["exit_code"],
            fact("job-pod-failed")["reason"],
        )
        assert status_of(pod, "heartbeat")["restartCount"] == 0
    starts = sorted(p["status"]["startTime"] for p in failed)
    assert len(set(starts)) == len(starts)  # each try its own pod, later than the last
    (job,) = store.list_objects("batch/v1", "Job", "linkerd")
    failed_condition = condition(job, "Failed")
    expected = fact("job-failed-condition")
    assert (
        failed_condition["status"],
        failed_condition["reason"],
        failed_condition["message"],
    ) == ("True", expected["reason"], expected["message"])
    assert job["status"]["failed"] == len(failed) and "completionTime" not in job["status"]
    cronjob = store.get_object("batch/v1", "CronJob", "linkerd", "linkerd-heartbeat")
    status = cronjob["status"]
    assert set(fact("cronjob-status")) <= set(status)
    assert status["lastSuccessfulTime"] < status["lastScheduleTime"]  # the newest failed


def test_old_restarts_are_oom_kills_days_ago_and_running_since() -> None:
    store = sim(ObjectStore, SimSpec(old_restarts={"reviews-v1": 6}))
    status = status_of(pod_of(store, "bookinfo", "reviews-v1"), "reviews")
    last = status["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == (
        fact("oom-killed")["reason"],
        fact("oom-killed")["exit_code"],
    )
    assert status["restartCount"] == 6 and "running" in status["state"]
    assert status["state"]["running"]["startedAt"] > last["finishedAt"]


def test_a_stuck_rollout_says_progress_deadline_exceeded() -> None:
    store = sim(ObjectStore, SimSpec(stuck_rollouts={"details-v1"}))
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "details-v1")
    progressing = condition(deploy, "Progressing")
    expected = fact("progress-deadline-exceeded")
    assert (progressing["status"], progressing["reason"]) == (
        expected["status"],
        expected["reason"],
    )
    assert re.fullmatch(expected["message"], progressing["message"])
    assert condition(deploy, "Available")["status"] == "True"  # the old pods still serve
    assert deploy["status"].get("updatedReplicas", 0) < deploy["spec"]["replicas"]


def test_scaling_away_from_git_bumps_the_generation() -> None:
    store = sim(ObjectStore, SimSpec(scaled_replicas={"ratings-v1": 0}))
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "ratings-v1")
    assert deploy["spec"]["replicas"] == 0
    assert deploy["metadata"]["generation"] == 2
    assert deploy["status"]["observedGeneration"] == 2
    assert not [
        p for p in pods(store, "bookinfo") if p["metadata"]["name"].startswith("ratings-v1-")
    ]


def reviews_v1(store: Any) -> list[Obj]:
    return [p for p in pods(store, "bookinfo") if p["metadata"]["name"].startswith("reviews-v1-")]


def test_an_evicted_pod_stays_failed_beside_its_replacement() -> None:
    store = sim(ObjectStore, SimSpec(evicted_pods={"reviews-v1": 1}))
    by_phase = {p["status"]["phase"]: p for p in reviews_v1(store)}
    assert sorted(by_phase) == ["Failed", "Running"]  # the replacement runs beside it
    status = by_phase["Failed"]["status"]
    evicted = fact("pod-evicted")
    assert (status["phase"], status["reason"]) == (evicted["phase"], evicted["reason"])
    assert re.match(fact("eviction-message"), status["message"])
    target = condition(by_phase["Failed"], "DisruptionTarget")
    assert {k: target[k] for k in fact("disruption-target")} == fact("disruption-target")
    assert all("terminated" in s["state"] for s in status["containerStatuses"])
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "reviews-v1")
    inactive = fact("active-pods")["inactive_phases"]
    active = [p for p in reviews_v1(store) if p["status"]["phase"] not in inactive]
    assert deploy["status"]["replicas"] == len(active) == deploy["spec"]["replicas"]


def test_evictions_nothing_replaced_leave_no_replica() -> None:
    store = sim(
        ObjectStore, SimSpec(evicted_pods={"reviews-v1": 1}, unreplaced_evictions={"reviews-v1"})
    )
    assert [p["status"]["phase"] for p in reviews_v1(store)] == [fact("pod-evicted")["phase"]]
    deploy = store.get_object("apps/v1", "Deployment", "bookinfo", "reviews-v1")
    assert deploy["status"].get("availableReplicas", 0) == 0
