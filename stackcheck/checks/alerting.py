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

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Readings, Result
from stackcheck.stackfile import AlertingExpectations, AllowedAlert

WATCHDOG = "Watchdog"
SEVERITY_ORDER = ("none", "info", "warning", "critical")
UNKNOWN_SEVERITY_RANK = SEVERITY_ORDER.index("warning")  # unlabelled: taken as a warning
RELOAD_QUERIES = {
    "Prometheus": "prometheus_config_last_reload_successful",
    "Alertmanager": "alertmanager_config_last_reload_successful",
}
REJECTED_QUERY = (
    "sum by (namespace, controller, resource) "
    '(prometheus_operator_managed_resources{state="rejected"})'
)


def _alerts(prometheus_alerts: Obj) -> list[Obj]:
    return list(((prometheus_alerts.get("data") or {}).get("alerts")) or [])


def _name(alert: Obj) -> str:
    return str((alert.get("labels") or {}).get("alertname", "(unnamed)"))


def severity_rank(severity: str | None) -> int:
    if severity in SEVERITY_ORDER:
        return SEVERITY_ORDER.index(str(severity))
    return UNKNOWN_SEVERITY_RANK


def judge_watchdog(prometheus_alerts: Obj, alertmanager_alerts: list[Obj]) -> Result:
    """Watchdog fires in Prometheus (rules evaluate) and Alertmanager holds it
    (notifications flow from Prometheus to Alertmanager)."""
    firing = [
        a for a in _alerts(prometheus_alerts) if _name(a) == WATCHDOG and a.get("state") == "firing"
    ]
    if not firing:
        states = sorted(
            {str(a.get("state")) for a in _alerts(prometheus_alerts) if _name(a) == WATCHDOG}
        ) or ["absent"]
        return Result(
            f"{WATCHDOG} is not firing",
            failures=(
                f"alert {WATCHDOG} is not firing in Prometheus (state: {', '.join(states)}): "
                "rules are not evaluated",
            ),
        )
    received = [a for a in alertmanager_alerts if _name(a) == WATCHDOG]
    if not received:
        names = sorted({_name(a) for a in alertmanager_alerts})
        return Result(
            f"{WATCHDOG} does not reach Alertmanager",
            failures=(
                f"alert {WATCHDOG} fires in Prometheus but Alertmanager holds no {WATCHDOG} (it "
                f"holds {len(alertmanager_alerts)} alert(s)"
                f"{': ' + ', '.join(names) if names else ''}): Prometheus does not deliver to "
                "Alertmanager",
            ),
        )
    receivers = sorted({str(r.get("name")) for a in received for r in a.get("receivers") or []})
    return Result(
        f"{WATCHDOG} fires and reached Alertmanager (receivers: {', '.join(receivers) or 'none'})"
    )


def judge_firing(
    prometheus_alerts: Obj, severity: str = "critical", allowed: tuple[AllowedAlert, ...] = ()
) -> Result:
    """No alert at or above `severity` fires, except those allowed by name (named, with
    their reason, in the summary)."""
    threshold = severity_rank(severity)
    allowed_by_name = {a.alert: a.reason for a in allowed}
    failed: list[str] = []
    excused: list[str] = []
    for alert in _alerts(prometheus_alerts):
        labels = alert.get("labels") or {}
        if alert.get("state") != "firing" or severity_rank(labels.get("severity")) < threshold:
            continue
        name = _name(alert)
        where = ", ".join(f"{k}={labels[k]}" for k in ("namespace", "job", "pod") if labels.get(k))
        text = (
            f"alert {name} (severity {labels.get('severity', 'unset')}"
            + (f", {where}" if where else "")
            + f") firing since {alert.get('activeAt', '?')}"
        )
        if name in allowed_by_name:
            excused.append(f"{text}: allowed ({allowed_by_name[name]})")
        else:
            failed.append(text)
    if failed:
        return Result(
            f"{len(failed)} alert(s) at or above {severity} firing"
            + (f"; {'; '.join(excused)}" if excused else ""),
            failures=tuple(failed),
        )
    return Result(
        f"no alert at or above {severity} firing"
        + (f" but those allowed: {'; '.join(excused)}" if excused else "")
    )


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


def judge_config_reload(answers: dict[str, Obj]) -> Result:
    """Each `*_config_last_reload_successful` series is 1: the running config is the one
    loaded last. `answers`: component name (RELOAD_QUERIES' keys) -> query answer."""
    failed: list[str] = []
    warned: list[str] = []
    for component, query in RELOAD_QUERIES.items():
        samples = vector(answers.get(component) or {})
        if not samples:  # a scrape job we do not know may be missing: unsure, not red
            warned.append(f"no {query} series: is {component} scraped?")
        failed += [
            f"{component} {_series(labels)}: {query} = {value:g}, its last config reload failed"
            for labels, value in samples
            if value != 1
        ]
    return Result(
        "Prometheus and Alertmanager loaded their configs"
        if not failed
        else "a config reload failed",
        tuple(failed),
        tuple(warned),
    )


def judge_rule_groups(rules: Obj) -> Result:
    """Every rule of every group evaluates without error."""
    groups = ((rules.get("data") or {}).get("groups")) or []
    failed = [
        f"rule {rule.get('name', '?')} of group {group.get('name', '?')} "
        f"({group.get('file', '?')}): health {rule.get('health')}, "
        f"lastError: {rule.get('lastError') or '(none)'}"
        for group in groups
        for rule in group.get("rules") or []
        if rule.get("health") == "err"
    ]
    if not groups:
        return model.failed("Prometheus has no rule group loaded")
    count = sum(len(g.get("rules") or []) for g in groups)
    return Result(f"{len(groups)} rule groups, {count} rules, {len(failed)} failing", tuple(failed))


def judge_rejected_resources(answer: Obj) -> Result:
    """prometheus-operator rejected no resource (a rejected PodMonitor or PrometheusRule is
    silently not applied)."""
    samples = vector(answer)
    if not samples:
        return Result(
            "the operator's counts are missing",
            warnings=("no prometheus_operator_managed_resources series: is the operator scraped?",),
        )
    failed = [
        f"prometheus-operator rejected {value:g} {labels.get('resource', 'resource')}(s)"
        f" ({_series(labels)})"
        for labels, value in samples
        if value > 0
    ]
    return Result(
        "the operator rejected no resource" if not failed else "the operator rejected resources",
        tuple(failed),
    )


# ----------------------------------------------------------------------------------------
# the checks
# ----------------------------------------------------------------------------------------

FEATURE = "Alerting"
ALERTS = model.prometheus_api("/api/v1/alerts")
RULES = model.prometheus_api("/api/v1/rules")
RECEIVED = model.alertmanager_alerts()
RELOADS = {component: model.prometheus_query(query) for component, query in RELOAD_QUERIES.items()}
REJECTED = model.prometheus_query(REJECTED_QUERY)


def alerting_checks(expected: AlertingExpectations) -> list[Check]:
    return [
        watchdog_check(),
        firing_check(expected),
        config_reload_check(),
        rule_groups_check(),
        rejected_resources_check(),
    ]


def watchdog_check() -> Check:
    return Check(
        "alerting.watchdog",
        "alerting.watchdog",
        FEATURE,
        f"{WATCHDOG} fires in Prometheus and has reached Alertmanager (rules evaluate, "
        "notifications flow)",
        "check Prometheus' alertmanagers (/api/v1/alertmanagers) and the Alertmanager pod; "
        f"{WATCHDOG} is always firing by design",
        (ALERTS, RECEIVED),
        lambda readings: judge_watchdog(readings[ALERTS], readings[RECEIVED]),
    )


def firing_check(expected: AlertingExpectations) -> Check:
    return Check(
        "alerting.firing",
        "alerting.firing",
        FEATURE,
        f"no alert at or above severity {expected.severity} is firing (but those the stack "
        "file allows)",
        "fix what the alert names, or allow it in stack.yml alerting.allowed with a reason "
        "(kubeadm: KubeSchedulerDown, KubeControllerManagerDown, KubeProxyDown, etcd alerts "
        "when those serve metrics on 127.0.0.1)",
        (ALERTS,),
        lambda readings: judge_firing(readings[ALERTS], expected.severity, expected.allowed),
    )


def config_reload_check() -> Check:
    reads = tuple(RELOADS.values())

    def evaluate(readings: Readings) -> Result:
        return judge_config_reload({name: readings[read] for name, read in RELOADS.items()})

    return Check(
        "alerting.config-reload",
        "alerting.config-reload",
        FEATURE,
        "Prometheus and Alertmanager loaded their last config "
        "(*_config_last_reload_successful = 1)",
        "the config-reloader container's logs say which rule or receiver was refused",
        reads,
        evaluate,
    )


def rule_groups_check() -> Check:
    return Check(
        "alerting.rule-groups",
        "alerting.rule-groups",
        FEATURE,
        "every rule of every rule group evaluates without error (/api/v1/rules)",
        "fix the PrometheusRule named by the group's file; lastError says why",
        (RULES,),
        lambda readings: judge_rule_groups(readings[RULES]),
    )


def rejected_resources_check() -> Check:
    return Check(
        "alerting.rejected-resources",
        "alerting.rejected-resources",
        FEATURE,
        "prometheus-operator rejected no resource (PodMonitor, ServiceMonitor, PrometheusRule)",
        "kubectl -n monitoring logs deploy/prometheus-kube-prometheus-operator says which one "
        "and why",
        (REJECTED,),
        lambda readings: judge_rejected_resources(readings[REJECTED]),
    )
