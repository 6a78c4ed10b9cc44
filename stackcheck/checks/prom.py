"""Prometheus answers (`/api/v1/targets`, `/api/v1/query`) against expectations."""

from __future__ import annotations

from typing import Any

from stackcheck.stackfile import Query, ScrapeJob

Obj = dict[str, Any]


def _data(answer: Obj, what: str) -> Any:
    if answer.get("status") != "success":
        raise ValueError(f"{what}: Prometheus answered {answer.get('status')!r}: "
                         f"{answer.get('error', 'no error text')}")
    return answer.get("data")


def job_targets(targets_answer: Obj, job: str) -> list[Obj]:
    data = _data(targets_answer, "targets") or {}
    return [t for t in data.get("activeTargets") or [] if (t.get("labels") or {}).get("job") == job]


def target_name(target: Obj) -> str:
    labels = target.get("labels") or {}
    pod = labels.get("pod")
    where = f"{labels.get('namespace')}/{pod}" if pod else labels.get("instance", "?")
    return f"{where} ({target.get('scrapeUrl', '?')})"


def scrape_job_problems(expected: ScrapeJob, targets_answer: Obj) -> list[str]:
    """Empty when the job has at least `min_targets` targets, all of them up."""
    targets = job_targets(targets_answer, expected.job)
    if not targets:
        jobs = sorted({(t.get("labels") or {}).get("job", "?")
                       for t in (_data(targets_answer, "targets") or {}).get("activeTargets")
                       or []})
        return [f"no active target has job={expected.job!r} (jobs seen: "
                f"{', '.join(jobs) or 'none'})"]
    problems = [f"target {target_name(t)} is {t.get('health')}: {t.get('lastError') or '-'}"
                for t in targets if t.get("health") != "up"]
    up = len(targets) - len(problems)
    if up < expected.min_targets:
        pools = ", ".join(sorted({str(t.get("scrapePool")) for t in targets}))
        problems.insert(0, f"job={expected.job!r} has {up} target(s) up, expected at least "
                           f"{expected.min_targets} (scrape pool {pools})")
    return problems


def query_problems(expected: Query, query_answer: Obj) -> list[str]:
    data = _data(query_answer, f"query {expected.promql!r}") or {}
    result = data.get("result") or []
    if len(result) >= expected.min_series:
        return []
    return [f"{expected.promql!r} returned {len(result)} series, expected at least "
            f"{expected.min_series}"]
