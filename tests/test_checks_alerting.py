"""Alerting evaluations on answers shaped as Prometheus 2.x and Alertmanager 0.2x return them.

Shapes: prometheus/prometheus docs/querying/api.md ("Alerts", "Rules", instant queries) and
prometheus/alertmanager api/v2/openapi.yaml (`gettableAlerts`); the values below were taken
from a sim run against the real binaries (Prometheus 2.42, Alertmanager 0.25).
"""

from __future__ import annotations

from typing import Any

from stackcheck.checks import alerting
from stackcheck.checks.model import Status
from stackcheck.stackfile import AllowedAlert

Obj = dict[str, Any]


def prom_alert(name: str, severity: str, state: str = "firing", **labels: str) -> Obj:
    return {
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {"summary": "..."},
        "state": state,
        "activeAt": "2026-11-29T13:07:18.344569561Z",
        "value": "1e+00",
    }


def prom_alerts(*alerts: Obj) -> Obj:
    return {"status": "success", "data": {"alerts": list(alerts)}}


def am_alert(name: str) -> Obj:
    return {
        "annotations": {"summary": "..."},
        "endsAt": "2026-11-29T13:11:20.344Z",
        "fingerprint": "e5d2a7c0f5d6b4e1",
        "receivers": [{"name": "null"}],
        "startsAt": "2026-11-29T13:07:18.344Z",
        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
        "updatedAt": "2026-11-29T13:07:20.350Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=vector%281%29",
        "labels": {"alertname": name, "severity": "none"},
    }


def instant(*samples: tuple[Obj, str]) -> Obj:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": metric, "value": [1764421638.123, value]} for metric, value in samples
            ],
        },
    }


WATCHDOG = prom_alert("Watchdog", "none")


def test_watchdog_firing_and_received_passes() -> None:
    finding = alerting.judge_watchdog(prom_alerts(WATCHDOG), [am_alert("Watchdog")])
    assert finding.status is Status.PASSED
    assert "receivers: null" in finding.summary


def test_watchdog_not_reaching_alertmanager_fails() -> None:
    finding = alerting.judge_watchdog(prom_alerts(WATCHDOG), [am_alert("TargetDown")])
    assert finding.status is Status.FAILED
    assert "Alertmanager holds no Watchdog (it holds 1 alert(s): TargetDown)" in finding.reasons[0]


def test_watchdog_pending_or_absent_fails() -> None:
    pending = alerting.judge_watchdog(prom_alerts(prom_alert("Watchdog", "none", "pending")), [])
    assert pending.status is Status.FAILED and "state: pending" in pending.reasons[0]
    absent = alerting.judge_watchdog(prom_alerts(), [am_alert("Watchdog")])
    assert absent.status is Status.FAILED and "state: absent" in absent.reasons[0]


def test_a_critical_alert_firing_fails_naming_it() -> None:
    answer = prom_alerts(
        WATCHDOG,
        prom_alert("KubeSchedulerDown", "critical"),
        prom_alert("TargetDown", "warning", job="kubelet"),
        prom_alert("KubeAPIDown", "critical", "pending"),
    )
    finding = alerting.judge_firing(answer)
    assert finding.status is Status.FAILED
    assert finding.reasons == (
        "alert KubeSchedulerDown (severity critical) firing since 2026-11-29T13:07:18.344569561Z",
    )
    assert alerting.judge_firing(answer, "warning").summary.startswith("2 alert(s)")


def test_an_allowed_alert_passes_with_its_reason() -> None:
    answer = prom_alerts(prom_alert("KubeSchedulerDown", "critical", namespace="kube-system"))
    allowed = (AllowedAlert("KubeSchedulerDown", "kubeadm binds it to 127.0.0.1"),)
    finding = alerting.judge_firing(answer, "critical", allowed)
    assert finding.status is Status.PASSED
    assert finding.summary == (
        "no alert at or above critical firing but those allowed: "
        "alert KubeSchedulerDown (severity critical, "
        "namespace=kube-system) firing since "
        "2026-11-29T13:07:18.344569561Z: allowed (kubeadm binds it to "
        "127.0.0.1)"
    )


def test_an_alert_without_severity_counts_as_a_warning() -> None:
    answer = prom_alerts({"labels": {"alertname": "Custom"}, "state": "firing"})
    assert alerting.judge_firing(answer, "critical").status is Status.PASSED
    assert alerting.judge_firing(answer, "warning").status is Status.FAILED


PROM_SERIES = {
    "__name__": "prometheus_config_last_reload_successful",
    "job": "prometheus-kube-prometheus-prometheus",
    "namespace": "monitoring",
    "pod": "prometheus-prometheus-kube-prometheus-prometheus-0",
}
AM_SERIES = {
    "__name__": "alertmanager_config_last_reload_successful",
    "job": "prometheus-kube-prometheus-alertmanager",
    "namespace": "monitoring",
}


def test_config_reloads_pass_at_one_and_fail_at_zero() -> None:
    ok = {"Prometheus": instant((PROM_SERIES, "1")), "Alertmanager": instant((AM_SERIES, "1"))}
    assert alerting.judge_config_reload(ok).status is Status.PASSED
    bad = {**ok, "Prometheus": instant((PROM_SERIES, "0"))}
    finding = alerting.judge_config_reload(bad)
    assert finding.status is Status.FAILED
    assert "prometheus_config_last_reload_successful = 0" in finding.reasons[0]
    assert "pod=prometheus-prometheus-kube-prometheus-prometheus-0" in finding.reasons[0]


def test_a_missing_reload_series_warns() -> None:
    finding = alerting.judge_config_reload(
        {"Prometheus": instant((PROM_SERIES, "1")), "Alertmanager": instant()}
    )
    assert finding.status is Status.WARNING
    assert "no alertmanager_config_last_reload_successful series" in finding.reasons[0]


def _rules(*rules: Obj) -> Obj:
    return {
        "status": "success",
        "data": {
            "groups": [
                {
                    "name": "general.rules",
                    "file": "/etc/prometheus/rules/general.yaml",
                    "rules": list(rules),
                    "interval": 30,
                    "limit": 0,
                    "evaluationTime": 0.000312,
                    "lastEvaluation": "2026-11-29T13:07:18.3Z",
                }
            ]
        },
    }


def test_rule_groups_fail_on_a_rule_in_error() -> None:
    ok = {
        "name": "Watchdog",
        "query": "vector(1)",
        "health": "ok",
        "lastError": "",
        "type": "alerting",
        "state": "firing",
    }
    broken = {
        "name": "job:up:broken",
        "query": "up",
        "health": "err",
        "lastError": "vector contains metrics with the same labelset after applying rule labels",
        "type": "recording",
    }
    assert alerting.judge_rule_groups(_rules(ok)).status is Status.PASSED
    finding = alerting.judge_rule_groups(_rules(ok, broken))
    assert finding.status is Status.FAILED
    assert finding.reasons[0].startswith("rule job:up:broken of group general.rules")
    assert "same labelset" in finding.reasons[0]


def test_not_yet_evaluated_rules_are_not_errors() -> None:
    fresh = {"name": "Watchdog", "health": "unknown", "lastError": "", "type": "alerting"}
    assert alerting.judge_rule_groups(_rules(fresh)).status is Status.PASSED


def test_no_rule_group_fails() -> None:
    assert (
        alerting.judge_rule_groups({"status": "success", "data": {"groups": []}}).status
        is Status.FAILED
    )


def test_rejected_resources() -> None:
    labels = {"controller": "prometheus", "namespace": "monitoring", "resource": "podmonitor"}
    assert alerting.judge_rejected_resources(instant((labels, "0"))).status is Status.PASSED
    finding = alerting.judge_rejected_resources(instant((labels, "2")))
    assert finding.status is Status.FAILED
    assert finding.reasons[0].startswith("prometheus-operator rejected 2 podmonitor(s)")
    assert alerting.judge_rejected_resources(instant()).status is Status.WARNING
