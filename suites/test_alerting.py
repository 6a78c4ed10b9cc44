"""Alerting works: Watchdog reaches Alertmanager, nothing critical fires, configs reloaded,
rules healthy, nothing rejected by the operator."""

import pytest

pytestmark = pytest.mark.alerting


@pytest.mark.stack_checks(
    "alerting.watchdog",
    "alerting.firing",
    "alerting.config-reload",
    "alerting.rule-groups",
    "alerting.rejected-resources",
)
def test_alerting_healthy(verify, check):
    verify(check)
