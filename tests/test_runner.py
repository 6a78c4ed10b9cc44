"""run_check: retry a check's probe until it holds or the deadline passes, on a fake clock,
with fake probes; the failure text carries the claim, the problems and the hint."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from typing import Any

import pytest

from stackcheck.checks import Check, Evidence, Verdict, build_checks
from stackcheck.kube import ApiFailure
from stackcheck.polling import Deadline
from stackcheck.runner import Outcome, run_check
from tests.kubefakes import FakeKube, fake_probes, from_yaml, load, namespace, real_stack

CHECKS = {c.id: c for c in build_checks(real_stack())}
CRASHLOOP = ("pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r: Running but not Ready: container "
             "destination is CrashLoopBackOff (7 restarts; last exit: Error, code 1)")
Step = Verdict | ApiFailure


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds


class FakeProbes:
    """Stands in for Probes: counts the cache drops between attempts."""

    def __init__(self) -> None:
        self.forgotten = 0

    def forget(self) -> None:
        self.forgotten += 1

    def pause(self, check: Check, seconds: float) -> None:
        raise AssertionError("run_check was given its own pause")


def scripted(*steps: Step) -> Callable[[Any], Verdict]:
    """A probe that answers each step in turn (raising ApiFailures), then the last forever."""
    remaining = list(steps)

    def probe(_probes: Any) -> Verdict:
        step = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(step, ApiFailure):
            raise step
        return step

    return probe


def run(check_id: str, *steps: Step, wait: float = 30.0) -> tuple[Outcome, FakeProbes]:
    clock, probes = FakeClock(), FakeProbes()
    check = replace(CHECKS[check_id], probe=scripted(*steps))
    outcome = run_check(check, probes, Deadline.after(wait, clock),  # type: ignore[arg-type]
                        pause=clock.pause, interval=5.0)
    return outcome, probes


HEALTHY = Verdict(True, "4/4 pods healthy in linkerd")
CRASHING = Verdict(False, "3/4 pods healthy in linkerd", (CRASHLOOP,))


def test_a_holding_check_passes_on_the_first_attempt() -> None:
    outcome, probes = run("pods.healthy[linkerd]", HEALTHY)
    assert outcome.ok and outcome.attempts == 1
    assert probes.forgotten == 0


def test_retries_until_it_holds_with_fresh_reads() -> None:
    outcome, probes = run("pods.healthy[linkerd]", CRASHING, CRASHING, HEALTHY)
    assert outcome.ok and outcome.attempts == 3
    assert probes.forgotten == 2  # every retry sees the cluster as it is now


def test_failure_message_has_claim_problems_and_hint() -> None:
    outcome, _ = run("pods.healthy[linkerd]", CRASHING, wait=12.0)
    assert not outcome.ok
    assert outcome.attempts == 4
    lines = outcome.message().splitlines()
    assert lines[0].startswith("pods.healthy[linkerd]: every pod in namespace linkerd is "
                               "Running and Ready (at most 3 restarts): FAILED after ")
    assert lines[0].endswith("(4 attempt(s))")
    assert lines[1] == f"  - {CRASHLOOP}"
    assert lines[2].startswith("hint: kubectl -n linkerd describe pod <pod>;")
    assert "CrashLoopBackOff: read the last logs" in lines[2]


def test_failure_without_problems_shows_the_summary() -> None:
    outcome, _ = run("mesh.injection[bookinfo]", Verdict(False, "no answer yet"), wait=0)
    assert outcome.message().splitlines()[1] == "  - no answer yet"


@pytest.mark.parametrize("status", ["401 Unauthorized", "403 Forbidden"])
def test_final_verdict_stops_retrying(status: str) -> None:
    denied = Verdict(False, problems=(f"GET /api/v1/namespaces: {status}",), final=True)
    outcome, probes = run("api.reachable", denied, HEALTHY, wait=300.0)
    assert not outcome.ok and outcome.attempts == 1 and probes.forgotten == 0
    assert f"  - GET /api/v1/namespaces: {status}" in outcome.message()


@pytest.mark.parametrize("status", [None, 429, 503])
def test_transient_api_failure_is_retried(status: int | None) -> None:
    flaky = ApiFailure("GET /api/v1/namespaces/linkerd/pods: 503 Service Unavailable", status)
    outcome, _ = run("pods.healthy[linkerd]", flaky, flaky, HEALTHY)
    assert outcome.ok and outcome.attempts == 3


@pytest.mark.parametrize("status", [401, 403, 404])
def test_non_transient_api_failure_is_final(status: int) -> None:
    denied = ApiFailure(f'pods is forbidden: User "system:serviceaccount:verify:reader" '
                        f'cannot list resource "pods" ({status})', status)
    outcome, _ = run("pods.healthy[linkerd]", denied, HEALTHY, wait=300.0)
    assert not outcome.ok and outcome.attempts == 1
    assert outcome.verdict.problems == (denied.reason,)
    assert "cannot list resource" in outcome.message()


def test_api_failures_until_the_deadline_report_the_last_reason() -> None:
    outcome, _ = run("pods.healthy[linkerd]", ApiFailure("connection refused"), wait=10.0)
    assert not outcome.ok and outcome.attempts == 3
    assert "  - connection refused" in outcome.message()


def test_diagnosis_runs_only_once_the_check_has_failed() -> None:
    calls: list[str] = []

    def diagnose() -> tuple[Evidence, ...]:
        calls.append("diagnosed")
        return (Evidence("pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r", "Events: ..."),)

    own = Evidence("summary", "3/4")
    failing = replace(CRASHING, evidence=(own,), diagnose=diagnose)
    outcome, _ = run("pods.healthy[linkerd]", failing, wait=10.0)
    assert calls == ["diagnosed"]
    assert [e.name for e in outcome.evidence] == [
        "summary", "pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r"]

    healthy = replace(HEALTHY, diagnose=diagnose)
    assert run("pods.healthy[linkerd]", failing, healthy)[0].ok
    assert calls == ["diagnosed"]  # not called again for a check that ends up holding


# --- api.reachable: the probe turns API failures into final or retryable verdicts ----------
STACK_NAMESPACES = ("monitoring", "linkerd", "linkerd-viz", "bookinfo")


class FailingKube(FakeKube):
    def __init__(self, failure: ApiFailure) -> None:
        super().__init__()
        self.failure = failure

    def version(self) -> dict[str, Any]:
        raise self.failure


def api_verdict(kube: FakeKube) -> Verdict:
    with closing(fake_probes(kube=kube)) as probes:
        return probes.api_reachable()


def test_api_reachable_passes_with_every_namespace() -> None:
    verdict = api_verdict(FakeKube(*(namespace(n) for n in STACK_NAMESPACES)))
    assert verdict.ok, verdict.reason
    assert verdict.summary == "https://127.0.0.1:6443 answers, Kubernetes v1.31.2"


def test_api_reachable_names_the_missing_namespaces() -> None:
    verdict = api_verdict(FakeKube(namespace("monitoring"), namespace("linkerd")))
    assert not verdict.ok and not verdict.final
    assert verdict.problems == ("namespace linkerd-viz does not exist",
                                "namespace bookinfo does not exist")


@pytest.mark.parametrize(("status", "final"), [(401, True), (403, True), (503, False),
                                               (None, False)])
def test_api_failures_are_final_unless_transient(status: int | None, final: bool) -> None:
    failure = ApiFailure(f"GET https://127.0.0.1:6443/version: {status}", status)
    verdict = api_verdict(FailingKube(failure))
    assert not verdict.ok and verdict.final is final
    assert verdict.problems == (failure.reason,)


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
    kube = FakeKube(load("crashloop-pod"), load("completed-job-pod"), from_yaml(BACKOFF_EVENT),
                    logs={"linkerd/linkerd-destination-7d9c8b6f5d-5jw8r/destination":
                          'time="2024-11-20T08:13:52Z" level=fatal msg="Failed to initialize '
                          'identity: no trust anchors"'})
    clock = FakeClock()
    with closing(fake_probes(kube=kube)) as probes:
        outcome = run_check(CHECKS["pods.healthy[linkerd]"], probes, Deadline.after(0, clock),
                            pause=clock.pause)
    assert not outcome.ok and outcome.attempts == 1
    assert f"  - {CRASHLOOP}" in outcome.message().splitlines()
    assert outcome.verdict.summary == "1/2 pods healthy in linkerd"
    evidence = {e.name: e.text for e in outcome.evidence}
    described = evidence["pod linkerd/linkerd-destination-7d9c8b6f5d-5jw8r"]
    assert "BackOff (x64): Back-off restarting failed container destination" in described
    assert "no trust anchors" in described
