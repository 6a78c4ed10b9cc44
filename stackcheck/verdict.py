"""One word for the whole run, from the results of its checks.

HEALTHY: every check passed. DEGRADED: warnings, no failure. UNHEALTHY: a check failed.
INCOMPLETE: the run says nothing reliable about the stack: it was interrupted, the cluster
could not be read (the fatal check failed, so the checks behind it were skipped), or no
check ran at all. INCOMPLETE wins over UNHEALTHY: a run cut short is not a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"
    INCOMPLETE = "INCOMPLETE"


MEANING = {
    Verdict.HEALTHY: "every check passed",
    Verdict.DEGRADED: "warnings only: the stack works, someone should look",
    Verdict.UNHEALTHY: "a check failed",
    Verdict.INCOMPLETE: "the run was interrupted or the cluster could not be read: "
    "not a verdict on the stack",
}


def verdict(
    statuses: Iterable[tuple[str, str]], fatal_ids: Iterable[str], interrupted: bool
) -> Verdict:
    """From (check id, passed|warning|failed|skipped) pairs; `fatal_ids`: the checks whose
    failure means the cluster could not be read (api.reachable)."""
    found = dict(statuses)
    fatal = set(fatal_ids)
    if interrupted or not found or any(found.get(i) == "failed" for i in fatal):
        return Verdict.INCOMPLETE
    results = set(found.values())
    if "failed" in results:
        return Verdict.UNHEALTHY
    if "skipped" in results:
        return Verdict.INCOMPLETE
    return Verdict.DEGRADED if "warning" in results else Verdict.HEALTHY


def line(word: Verdict) -> str:
    return f"VERDICT: {word.value} ({MEANING[word]})"
