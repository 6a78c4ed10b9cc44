"""The runner: retry a check until it holds or the deadline passes, on a fake clock, over a
scripted reader; the failure text carries the claim, the reasons and the hint; warnings end
the retrying; reads are fresh each attempt and shared between the checks of one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from typing import Any

import pytest

from stackcheck import runner as runner_module
from stackcheck.checks import model
from stackcheck.checks.catalog import build_checks
from stackcheck.checks.model import Check, Read, ReadFailure, Result, Status
from stackcheck.kube import ApiFailure
from stackcheck.polling import Deadline
from stackcheck.runner import Outcome, Runner, watched
from tests.kubefakes import FakeKube, evaluate, fake_runner, from_yaml, load, namespace, real_stack
from tests.waiting import poll

CHECKS = {c.id: c for c in build_checks(real_stack())}
CRASHLOOP = (
    "pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r: Running but not Ready: container "
    "destination is CrashLoopBackOff (7 restarts; last exit: Error, code 1)"
)
Step = list[dict[str, Any]] | ReadFailure


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


class ScriptedReader:
    """Answers each `pods` read with the next step (raising ReadFailures), then the last
    forever; counts the reads."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.reads: list[Read] = []

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        self.reads.append(model.pods(namespace))
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, ReadFailure):
            raise step
        return step

    def objects(self, kind: str, namespace: str) -> dict[str, Any]:
        return {}  # no CronJobs: pods.healthy reads them to judge Job pods as runs

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        raise ReadFailure("not scripted")

    def needs_api(self, read: Read) -> bool:
        return True

    def read_through(self, cached: Any) -> None:
        pass

    def wait_for_change(self, collections: Sequence[tuple[str, str]], seconds: float) -> None:
        raise AssertionError("the runner was given its own pause")

    def close(self) -> None:
        pass


def pods_only(check: Check) -> Check:
    """The check reading only its pods (its CronJobs read as none): one read per attempt,
    so the scripted steps are consumed in order, not by a concurrent prefetch."""
    pods_read, *others = check.reads
    return replace(
        check,
        reads=(pods_read,),
        evaluate=lambda readings: check.evaluate({**readings, **{read: {} for read in others}}),
    )


def run(check_id: str, *steps: Step, wait: float = 30.0) -> tuple[Outcome, ScriptedReader]:
    clock, reader = FakeClock(), ScriptedReader(*steps)
    runner = Runner(reader, [])  # type: ignore[arg-type]
    outcome = runner.run(
        pods_only(CHECKS[check_id]), Deadline.after(wait, clock), pause=clock.pause, interval=5.0
    )
    return outcome, reader


HEALTHY = [load("completed-job-pod")]  # namespace linkerd: a Job's pod that Succeeded
CRASHING = [load("crashloop-pod")]


def test_a_holding_check_passes_on_the_first_attempt() -> None:
    outcome, reader = run("pods.healthy[linkerd]", HEALTHY)
    assert outcome.status is Status.PASSED and outcome.attempts == 1
    assert outcome.evidence == ()  # evidence is attached on failure only
    assert len(reader.reads) == 1


def test_retries_until_it_holds_with_fresh_reads() -> None:
    outcome, reader = run("pods.healthy[linkerd]", CRASHING, CRASHING, HEALTHY)
    assert outcome.status is Status.PASSED and outcome.attempts == 3
    assert len(reader.reads) == 3  # every retry sees the cluster as it is now


def test_failure_message_has_claim_reasons_and_hint() -> None:
    outcome, _ = run("pods.healthy[linkerd]", CRASHING, wait=12.0)
    assert outcome.status is Status.FAILED
    assert outcome.attempts == 4
    lines = outcome.message().splitlines()
    assert lines[0].startswith(
        "pods.healthy[linkerd]: every pod in namespace linkerd is "
        "Running and Ready (at most 3 restarts within 1h); Job pods are "
        "judged as runs of their Job: FAILED after "
    )
    assert lines[0].endswith("(4 attempt(s)): 0/1 pods healthy in linkerd")
    assert lines[1] == f"  - {CRASHLOOP}"
    assert lines[2].startswith("hint: kubectl -n linkerd describe pod <pod>;")
    assert "CrashLoopBackOff: read the last logs" in lines[2]


def warns(readings: Any) -> Result:
    return Result("1 pod with old restarts", warnings=("pod x restarted 6 times 3 days ago",))


def test_a_warning_ends_the_retrying_and_shows_in_the_message() -> None:
    check = replace(CHECKS["pods.healthy[linkerd]"], evaluate=warns)
    clock, reader = FakeClock(), ScriptedReader(HEALTHY)
    outcome = Runner(reader, []).run(  # type: ignore[arg-type]
        check, Deadline.after(30, clock), pause=clock.pause
    )
    assert outcome.status is Status.WARNING and outcome.attempts == 1
    assert outcome.message().splitlines()[1] == ("  - warning: pod x restarted 6 times 3 days ago")


def test_only_acceptance_evidence_is_attached_on_pass() -> None:
    def passes_with_a_table(readings: Any) -> Result:
        return Result(
            "fine",
            evidence=(
                model.Evidence("table", "| a |", on_pass=True),
                model.Evidence("why it failed", "-"),
            ),
        )

    check = replace(CHECKS["pods.healthy[linkerd]"], evaluate=passes_with_a_table)
    clock, reader = FakeClock(), ScriptedReader(HEALTHY)
    outcome = Runner(reader, []).run(  # type: ignore[arg-type]
        check, Deadline.after(30, clock), pause=clock.pause
    )
    assert outcome.status is Status.PASSED
    assert [item.name for item in outcome.evidence] == ["table"]


def test_a_warning_and_a_failure_are_a_failure() -> None:
    assert Result("x", failures=("a",), warnings=("b",)).status is Status.FAILED


@pytest.mark.parametrize("transient", [True, False])
def test_read_failures_are_retried_unless_they_cannot_change(transient: bool) -> None:
    failure = ReadFailure("GET /api/v1/namespaces/linkerd/pods: HTTP 403 Forbidden", transient)
    outcome, _ = run("pods.healthy[linkerd]", failure, failure, HEALTHY, wait=300.0)
    assert outcome.attempts == (3 if transient else 1)
    if not transient:
        assert outcome.result.failures == (failure.reason,)
        assert f"  - {failure.reason}" in outcome.message()


def test_read_failures_until_the_deadline_report_the_last_reason() -> None:
    outcome, _ = run("pods.healthy[linkerd]", ReadFailure("connection refused"), wait=10.0)
    assert outcome.status is Status.FAILED and outcome.attempts == 3
    assert "  - connection refused" in outcome.message()


def test_watches_follow_the_declared_reads() -> None:
    assert watched(CHECKS["pods.healthy[bookinfo]"]) == [
        ("Pod", "bookinfo"),
        ("CronJob", "bookinfo"),
    ]
    assert watched(CHECKS["component.healthy[linkerd-control-plane]"]) == [
        ("Deployment", "linkerd"),
        ("CronJob", "linkerd"),
        ("Pod", "linkerd"),
    ]
    assert watched(CHECKS["endpoint[productpage]"]) == []


class CountingKube(FakeKube):
    def __init__(self, *objects: Any) -> None:
        super().__init__(*objects)
        self.lists: list[tuple[str, str]] = []

    def list_kind(self, kind: str, namespace: str, *args: Any, **kwargs: Any) -> list[Any]:
        self.lists.append((kind, namespace))
        return super().list_kind(kind, namespace, *args, **kwargs)


def test_checks_of_one_attempt_share_their_reads() -> None:
    kube = CountingKube(load("crashloop-pod"))
    with closing(fake_runner(kube=kube)) as runner:
        runner.evaluate(CHECKS["pods.healthy[linkerd]"])
        runner.evaluate(CHECKS["component.healthy[linkerd-control-plane]"])
        assert kube.lists.count(("Pod", "linkerd")) == 1
        runner.forget()
        runner.evaluate(CHECKS["pods.healthy[linkerd]"])
        assert kube.lists.count(("Pod", "linkerd")) == 2


class GatedKube(CountingKube):
    """Answers the gate's reads (/version, the namespaces) only once the test opens the
    gate; counts the reads."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.versions = 0

    def version(self) -> dict[str, Any]:
        self.versions += 1
        assert self.gate.wait(10), "the test never opened the gate"
        return super().version()

    def list_all(self, path: str, **selectors: str | None) -> list[Any]:
        assert self.gate.wait(10), "the test never opened the gate"
        return super().list_all(path, **selectors)


def test_warm_up_reads_the_gate_first_then_the_chosen_checks_only() -> None:
    kube = GatedKube()
    chosen = [CHECKS["api.reachable"], CHECKS["pods.healthy[linkerd]"]]
    with closing(fake_runner(kube=kube)) as runner:
        runner.warm_up(chosen)
        assert poll(lambda: kube.versions == 1), "the gate's read did not start on its own"
        assert kube.lists == []  # nothing else before the API answers
        kube.gate.set()
        assert poll(lambda: ("Pod", "linkerd") in kube.lists)
        runner.evaluate(CHECKS["pods.healthy[linkerd]"])  # served by the warm-up
        assert kube.lists.count(("Pod", "linkerd")) == 1
        assert ("Pod", "bookinfo") not in kube.lists  # a check not chosen is not read


# --- api.reachable: API failures end it or are retried --------------------------------------
STACK_NAMESPACES = ("monitoring", "linkerd", "linkerd-viz", "bookinfo")


class FailingKube(FakeKube):
    def __init__(self, failure: ApiFailure) -> None:
        super().__init__()
        self.failure = failure

    def version(self) -> dict[str, Any]:
        raise self.failure


def test_api_reachable_passes_with_every_namespace() -> None:
    result = evaluate("api.reachable", kube=FakeKube(*(namespace(n) for n in STACK_NAMESPACES)))
    assert result.status is Status.PASSED, result.reason
    assert result.summary == "the API server answers, Kubernetes v1.28.15"


def test_api_reachable_names_the_missing_namespaces() -> None:
    result = evaluate("api.reachable", kube=FakeKube(namespace("monitoring"), namespace("linkerd")))
    assert result.status is Status.FAILED and result.retry
    assert result.failures == (
        "namespace linkerd-viz does not exist",
        "namespace bookinfo does not exist",
    )


@pytest.mark.parametrize(
    ("status", "retry"), [(401, False), (403, False), (503, True), (None, True)]
)
def test_api_failures_end_the_check_unless_transient(status: int | None, retry: bool) -> None:
    failure = ApiFailure(f"GET https://127.0.0.1:6443/version: {status}", status)
    result = evaluate("api.reachable", kube=FailingKube(failure))
    assert result.status is Status.FAILED and result.retry is retry
    assert result.failures == (failure.reason,)


# --- end to end: the real probe over kubelet-shaped pods, then the failure text ------------
BACKOFF_EVENT = """
apiVersion: v1
kind: Event
metadata:
  name: linkerd-destination-7d9c8b6f5d-5jw8r.180a1b2c3d4e5f60
  namespace: linkerd
involvedObject:
  apiVersion: v1
  fieldPath: spec.containers{destination}
  kind: Pod
  name: linkerd-destination-7d9c8b6f5d-5jw8r
  namespace: linkerd
count: 64
firstTimestamp: "2024-11-20T07:58:52Z"
lastTimestamp: "2024-11-20T08:13:53Z"
message: >-
  Back-off restarting failed container destination in pod
  linkerd-destination-7d9c8b6f5d-5jw8r_linkerd(c1b0a9f8-e7d6-4c5b-a4f3-e2d1c0b9a8f7)
reason: BackOff
source:
  component: kubelet
  host: kind-control-plane
type: Warning
"""


def test_crashlooping_control_plane_fails_with_the_pod_and_its_evidence() -> None:
    kube = FakeKube(
        load("crashloop-pod"),
        load("completed-job-pod"),
        from_yaml(BACKOFF_EVENT),
        logs={
            "linkerd/linkerd-destination-7d9c8b6f5d-5jw8r/destination": (
                'time="2024-11-20T08:13:52Z" level=fatal '
                'msg="Failed to initialize identity: no trust anchors"'
            )
        },
    )
    clock = FakeClock()
    with closing(fake_runner(kube=kube)) as runner:
        outcome = runner.run(
            CHECKS["pods.healthy[linkerd]"], Deadline.after(0, clock), pause=clock.pause
        )
    assert outcome.status is Status.FAILED and outcome.attempts == 1
    assert f"  - {CRASHLOOP}" in outcome.message().splitlines()
    assert outcome.result.summary == "1/2 pods healthy in linkerd"
    evidence = {e.name: e.text for e in outcome.evidence}
    described = evidence["pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r"]
    assert "BackOff (x64): Back-off restarting failed container destination" in described
    assert "no trust anchors" in described


class HeldReader(ScriptedReader):
    """Answers the gate's reads at once and holds every pod list until released, counting
    the lists in flight."""

    def __init__(self) -> None:
        super().__init__([])
        self.release = threading.Event()
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def version(self) -> dict[str, Any]:
        return {"gitVersion": "v1.29.0"}

    def namespaces(self) -> set[str]:
        return set()

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            assert self.release.wait(10), "the test never released the lists"
            return []
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.mark.parametrize(
    ("first_answer_limit", "width"),
    [(3600.0, runner_module.NEAR_READS), (0.0, runner_module.FAR_READS)],
    ids=["near", "far"],
)
def test_reads_in_flight_narrow_when_the_first_answer_came_quickly(
    monkeypatch: pytest.MonkeyPatch, first_answer_limit: float, width: int
) -> None:
    monkeypatch.setattr(runner_module, "FAR_FIRST_ANSWER_SECONDS", first_answer_limit)
    reader = HeldReader()
    lists = [
        replace(CHECKS["pods.healthy[linkerd]"], reads=(model.pods(f"team-{n}"),))
        for n in range(2 * runner_module.FAR_READS)
    ]
    runner = Runner(reader, [])  # type: ignore[arg-type]
    try:
        runner.warm_up([CHECKS["api.reachable"], *lists])
        assert poll(lambda: reader.in_flight == width), f"{reader.in_flight} lists in flight"
        assert not poll(lambda: reader.most > width, seconds=0.2), f"{reader.most} at once"
    finally:
        reader.release.set()
        runner.close()
