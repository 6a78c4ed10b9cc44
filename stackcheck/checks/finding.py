"""What a pure evaluation returns: a status, the reasons (each naming the object and the
value measured) and a one-line summary. A stand-in until the check model of issue 17 lands:
its result type takes these three fields as they are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["passed", "warning", "failed", "skipped"]
_RANK: dict[Status, int] = {"passed": 0, "skipped": 0, "warning": 1, "failed": 2}


@dataclass(frozen=True)
class Finding:
    status: Status
    reasons: tuple[str, ...]
    summary: str


def passed(summary: str, *reasons: str) -> Finding:
    return Finding("passed", reasons, summary)


def skipped(why: str) -> Finding:
    return Finding("skipped", (why,), why)


def worst(failed: list[str], warned: list[str], ok_summary: str, bad_summary: str) -> Finding:
    """`failed` reasons make it a failure, else `warned` ones a warning, else it passes."""
    if failed:
        return Finding("failed", (*failed, *warned), bad_summary)
    if warned:
        return Finding("warning", tuple(warned), bad_summary)
    return Finding("passed", (), ok_summary)


def combine(findings: list[Finding], summary: str) -> Finding:
    """The worst status of several findings, with all their reasons."""
    if not findings:
        return Finding("passed", (), summary)
    status = max((f.status for f in findings), key=lambda s: _RANK[s])
    reasons = tuple(r for f in findings for r in f.reasons)
    return Finding(status, reasons, summary)
