"""Run one check: retry its probe until it holds or the run's deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from stackcheck.checks import Check, Evidence, Verdict
from stackcheck.kube import ApiFailure
from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until
from stackcheck.probes import Probes

RETRY_INTERVAL = 1.0


@dataclass(frozen=True)
class Outcome:
    check: Check
    verdict: Verdict
    attempts: int
    seconds: float
    evidence: tuple[Evidence, ...] = ()

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def message(self) -> str:
        """The failure text: claim, what was wrong (objects named), when, and the hint."""
        lines = [f"{self.check.id}: {self.check.claim}: FAILED after {self.seconds:.1f}s "
                 f"({self.attempts} attempt(s))"]
        lines += [f"  - {p}" for p in self.verdict.problems] or [f"  - {self.verdict.summary}"]
        lines.append(f"hint: {self.check.hint}")
        return "\n".join(lines)


class _Final(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def run_check(check: Check, probes: Probes, deadline: Deadline,
              pause: Callable[[float], None] | None = None,
              interval: float = RETRY_INTERVAL) -> Outcome:
    """`pause` defaults to the probes' own (a watch where the API allows it)."""
    if pause is None:
        pause = lambda seconds: probes.pause(check, seconds)  # noqa: E731
    started = time.monotonic()
    attempts = 0

    def attempt() -> Attempt[Verdict]:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            probes.forget()
        verdict = _probe(check, probes)
        if verdict.final and not verdict.ok:
            raise _Final(verdict)
        return Attempt(verdict.ok, verdict.reason, verdict)

    try:
        verdict = poll_until(attempt, deadline, check.id, interval, pause).value
    except WaitExpired as expired:
        verdict = expired.last.value  # type: ignore[assignment]
    except _Final as final:
        verdict = final.verdict
    assert verdict is not None
    evidence = verdict.evidence
    if not verdict.ok and verdict.diagnose is not None:
        evidence += verdict.diagnose()
    return Outcome(check, verdict, attempts, time.monotonic() - started, evidence)


def _probe(check: Check, probes: Probes) -> Verdict:
    """A probe's verdict; an API failure it did not handle is a failed attempt, not a crash."""
    try:
        return check.probe(probes)
    except ApiFailure as exc:
        return Verdict(False, problems=(exc.reason,), final=not exc.transient)
