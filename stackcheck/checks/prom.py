"""prometheus.scrape-job[<job>] and prometheus.query[<name>]: Prometheus's answers
(`/api/v1/targets`, `/api/v1/query`) against the stack file's expectations."""

from __future__ import annotations

import json
from typing import Any

from stackcheck.checks import model
from stackcheck.checks.model import Check, Evidence, Obj, Result
from stackcheck.stackfile import Query, ScrapeJob

MAX_LISTED = 20  # targets or series an attachment lists; the rest are counted
SCRAPE_HINT = (
    "the PodMonitors in manifests/observability/linkerd-podmonitors.yml must carry "
    "the label release: prometheus (or the *SelectorNilUsesHelmValues values be "
    "false); a down target's lastError says why"
)


def scrape_job_check(expected: ScrapeJob) -> Check:
    return Check(
        f"prometheus.scrape-job[{expected.job}]",
        "prometheus.scrape-job",
        "Prometheus",
        f"Prometheus scrapes job {expected.job} with at least {expected.min_targets} target(s) up",
        expected.hint or SCRAPE_HINT,
        (model.prometheus_targets(),),
        lambda readings: scrape_job(expected, readings[model.prometheus_targets()]),
    )


def query_check(expected: Query) -> Check:
    read = model.prometheus_query(expected.promql)
    return Check(
        f"prometheus.query[{expected.name}]",
        "prometheus.query",
        "Prometheus",
        f"Prometheus has data for {expected.name}",
        expected.hint or "check that traffic flows and proxies are scraped",
        (read,),
        lambda readings: query(expected, readings[read]),
    )


def scrape_job(expected: ScrapeJob, targets_answer: Obj) -> Result:
    try:
        failures = scrape_job_problems(expected, targets_answer)
    except ValueError as exc:
        return model.failed(str(exc))
    mine = job_targets(targets_answer, expected.job)
    down = [t for t in mine if t.get("health") != "up"]
    summary = {
        "job": expected.job,
        "targets": len(mine),
        "up": len(mine) - len(down),
        "down": down[:MAX_LISTED],
        "down_not_listed": max(0, len(down) - MAX_LISTED),
    }
    return Result(
        f"{len(mine)} target(s) for job {expected.job}",
        tuple(failures),
        evidence=(_json(f"targets of job {expected.job} that are not up", summary),),
    )


def query(expected: Query, answer: Obj) -> Result:
    try:
        failures = query_problems(expected, answer)
    except ValueError as exc:
        return model.failed(str(exc))
    series = (answer.get("data") or {}).get("result") or []
    summary = {"query": expected.promql, "series": len(series), "first": series[:MAX_LISTED]}
    return Result(
        expected.promql, tuple(failures), evidence=(_json(f"query {expected.name}", summary),)
    )


def _json(name: str, value: Any) -> Evidence:
    return Evidence(name, json.dumps(value, indent=2), "application/json")


def _data(answer: Obj, what: str) -> Any:
    if answer.get("status") != "success":
        raise ValueError(
            f"{what}: Prometheus answered {answer.get('status')!r}: "
            f"{answer.get('error', 'no error text')}"
        )
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
        jobs = sorted(
            {
                (t.get("labels") or {}).get("job", "?")
                for t in (_data(targets_answer, "targets") or {}).get("activeTargets") or []
            }
        )
        return [
            f"no active target has job={expected.job!r} (jobs seen: {', '.join(jobs) or 'none'})"
        ]
    problems = [
        f"{t.get('health')} target of job {expected.job}: {target_name(t)}: "
        f"{t.get('lastError') or '-'}"
        for t in targets
        if t.get("health") != "up"
    ]
    up = len(targets) - len(problems)
    if up < expected.min_targets:
        pools = ", ".join(sorted({str(t.get("scrapePool")) for t in targets}))
        problems.insert(
            0,
            f"job={expected.job!r} has {up} target(s) up, expected at least "
            f"{expected.min_targets} (scrape pool {pools})",
        )
    return problems


def query_problems(expected: Query, query_answer: Obj) -> list[str]:
    data = _data(query_answer, f"query {expected.promql!r}") or {}
    result = data.get("result") or []
    if len(result) >= expected.min_series:
        return []
    return [
        f"{expected.promql!r} returned {len(result)} series, expected at least "
        f"{expected.min_series}"
    ]
