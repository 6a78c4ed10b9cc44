"""Alerting health, judged from the JSON Prometheus and Alertmanager answer.

Answer shapes (the documented HTTP APIs of the versions kube-prometheus-stack 65.8.1 runs):
- Prometheus `GET /api/v1/alerts`: `{"status": "success", "data": {"alerts": [{"labels",
  "annotations", "state": "pending"|"firing", "activeAt", "value"}]}}`
  (prometheus/prometheus docs/querying/api.md, "Alerts").
- Prometheus `GET /api/v1/rules`: `{"data": {"groups": [{"name", "file", "rules": [{"name",
  "health": "ok"|"err"|"unknown", "lastError", "type", ...}]}]}}` (same page, "Rules").
- Prometheus `GET /api/v1/query`: `{"data": {"resultType": "vector", "result": [{"metric",
  "value": [<unix time>, "<value>"]}]}}`.
- Alertmanager `GET /api/v2/alerts`: a JSON list of `{"labels", "annotations", "startsAt",
  "endsAt", "receivers": [{"name"}], "status": {"state": "active"|"suppressed"|
  "unprocessed", "silencedBy", "inhibitedBy"}}` (prometheus/alertmanager api/v2/openapi.yaml).
Rule facts (prometheus-community/helm-charts, tag kube-prometheus-stack-65.8.1,
charts/kube-prometheus-stack/templates/prometheus/rules-1.14/): Watchdog is `vector(1)` with
severity `none` (general.rules.yaml); PrometheusBadConfig and AlertmanagerFailedReload read
`*_config_last_reload_successful` (critical); PrometheusOperatorRejectedResources reads
`prometheus_operator_managed_resources{state="rejected"}` (warning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackcheck.checks.finding import Finding, passed, worst

Obj = dict[str, Any]

WATCHDOG = "Watchdog"
SEVERITY_ORDER = ("none", "info", "warning", "critical")
UNKNOWN_SEVERITY_RANK = SEVERITY_ORDER.index("warning")  # unlabelled: taken as a warning
RELOAD_QUERIES = {
    "Prometheus": "prometheus_config_last_reload_successful",
    "Alertmanager": "alertmanager_config_last_reload_successful",
}
REJECTED_QUERY = ('sum by (namespace, controller, resource) '
                  '(prometheus_operator_managed_resources{state="rejected"})')


@dataclass(frozen=True)
class AllowedAlert:
    """An alert that may fire (by name), with the reason the stack file gives."""

    alert: str
    reason: str


def _alerts(prometheus_alerts: Obj) -> list[Obj]:
    return list(((prometheus_alerts.get("data") or {}).get("alerts")) or [])


def _name(alert: Obj) -> str:
    return str((alert.get("labels") or {}).get("alertname", "(unnamed)"))


def severity_rank(severity: str | None) -> int:
    if severity in SEVERITY_ORDER:
        return SEVERITY_ORDER.index(str(severity))
    return UNKNOWN_SEVERITY_RANK


def judge_watchdog(prometheus_alerts: Obj, alertmanager_alerts: list[Obj]) -> Finding:
    """Watchdog fires in Prometheus (rules evaluate) and Alertmanager holds it
    (notifications flow from Prometheus to Alertmanager)."""
    firing = [a for a in _alerts(prometheus_alerts)
              if _name(a) == WATCHDOG and a.get("state") == "firing"]
    if not firing:
        states = sorted({str(a.get("state")) for a in _alerts(prometheus_alerts)
                         if _name(a) == WATCHDOG}) or ["absent"]
        return Finding("failed", (f"alert {WATCHDOG} is not firing in Prometheus (state: "
                                  f"{', '.join(states)}): rules are not evaluated",),
                       f"{WATCHDOG} is not firing")
    received = [a for a in alertmanager_alerts if _name(a) == WATCHDOG]
    if not received:
        names = sorted({_name(a) for a in alertmanager_alerts})
        return Finding("failed", (f"alert {WATCHDOG} fires in Prometheus but Alertmanager "
                                  f"holds no {WATCHDOG} (it holds {len(alertmanager_alerts)} "
                                  f"alert(s){': ' + ', '.join(names) if names else ''}): "
                                  "Prometheus does not deliver to Alertmanager",),
                       f"{WATCHDOG} does not reach Alertmanager")
    receivers = sorted({str(r.get("name")) for a in received for r in a.get("receivers") or []})
    return passed(f"{WATCHDOG} fires and reached Alertmanager (receivers: "
                  f"{', '.join(receivers) or 'none'})")


def judge_firing(prometheus_alerts: Obj, severity: str = "critical",
                 allowed: tuple[AllowedAlert, ...] = ()) -> Finding:
    """No alert at or above `severity` fires, except those allowed by name."""
    threshold = severity_rank(severity)
    allowed_by_name = {a.alert: a.reason for a in allowed}
    failed: list[str] = []
    excused: list[str] = []
    for alert in _alerts(prometheus_alerts):
        labels = alert.get("labels") or {}
        if alert.get("state") != "firing" or severity_rank(labels.get("severity")) < threshold:
            continue
        name = _name(alert)
        where = ", ".join(f"{k}={labels[k]}" for k in ("namespace", "job", "pod")
                          if labels.get(k))
        text = f"alert {name} (severity {labels.get('severity', 'unset')}" + \
               (f", {where}" if where else "") + f") firing since {alert.get('activeAt', '?')}"
        if name in allowed_by_name:
            excused.append(f"{text}: allowed ({allowed_by_name[name]})")
        else:
            failed.append(text)
    if failed:
        return Finding("failed", (*failed, *excused),
                       f"{len(failed)} alert(s) at or above {severity} firing")
    return Finding("passed", tuple(excused),
                   f"no alert at or above {severity} firing"
                   + (f" ({len(excused)} allowed)" if excused else ""))


def vector(answer: Obj) -> list[tuple[dict[str, str], float]]:
    """The samples of an instant-query answer as (labels, value)."""
    out = []
    for sample in ((answer.get("data") or {}).get("result")) or []:
        value = sample.get("value") or [0, "NaN"]
        out.append((dict(sample.get("metric") or {}), float(value[1])))
    return out


def _series(labels: dict[str, str]) -> str:
    keys = ("job", "namespace", "pod", "instance")
    return ", ".join(f"{k}={labels[k]}" for k in keys if labels.get(k)) or "(no labels)"


def judge_config_reload(answers: dict[str, Obj]) -> Finding:
    """Each `*_config_last_reload_successful` series is 1: the running config is the one
    loaded last. `answers`: component name (RELOAD_QUERIES' keys) -> query answer."""
    failed: list[str] = []
    warned: list[str] = []
    for component, query in RELOAD_QUERIES.items():
        samples = vector(answers.get(component) or {})
        if not samples:
            warned.append(f"no {query} series: is {component} scraped?")
        failed += [f"{component} {_series(labels)}: {query} = {value:g}, its last config "
                   "reload failed" for labels, value in samples if value != 1]
    return worst(failed, warned, "Prometheus and Alertmanager loaded their configs",
                 "config reload problem")


def judge_rule_groups(rules: Obj) -> Finding:
    """Every rule of every group evaluates without error."""
    groups = ((rules.get("data") or {}).get("groups")) or []
    failed = [
        f"rule {rule.get('name', '?')} of group {group.get('name', '?')} "
        f"({group.get('file', '?')}): health {rule.get('health')}, "
        f"lastError: {rule.get('lastError') or '(none)'}"
        for group in groups for rule in group.get("rules") or []
        if rule.get("health") == "err"
    ]
    if not groups:
        return Finding("failed", ("Prometheus has no rule group loaded",), "no rule group")
    count = sum(len(g.get("rules") or []) for g in groups)
    return worst(failed, [], f"{len(groups)} rule groups, {count} rules, all healthy",
                 f"{len(failed)} rule(s) failing")


def judge_rejected_resources(answer: Obj) -> Finding:
    """prometheus-operator rejected no resource (a rejected PodMonitor or PrometheusRule is
    silently not applied)."""
    samples = vector(answer)
    if not samples:
        return Finding("warning", ("no prometheus_operator_managed_resources series: is the "
                                   "operator scraped?",), "the operator's counts are missing")
    failed = [f"prometheus-operator rejected {value:g} {labels.get('resource', 'resource')}(s)"
              f" ({_series(labels)})" for labels, value in samples if value > 0]
    return worst(failed, [], "the operator rejected no resource", "rejected resources")
