"""Every check the stack file asks for, in report order."""

from __future__ import annotations

from stackcheck.checks import identity
from stackcheck.checks.alerting import alerting_checks
from stackcheck.checks.cluster import api_check
from stackcheck.checks.drift import drift_checks
from stackcheck.checks.golden import golden_checks
from stackcheck.checks.http import endpoint_check
from stackcheck.checks.mesh import injection_check, proxies_check
from stackcheck.checks.model import Check
from stackcheck.checks.pods import PodPolicy, parse_window, pods_check
from stackcheck.checks.prom import query_check, scrape_job_check
from stackcheck.checks.workloads import component_check
from stackcheck.stackfile import Stack


def build_checks(stack: Stack) -> list[Check]:
    policy = pod_policy(stack)
    checks = [api_check(stack.namespaces)]
    checks += [pods_check(ns, policy) for ns in stack.namespaces]
    checks += [component_check(c, policy) for c in stack.components if c.workloads]
    checks += [injection_check(ns) for ns in stack.meshed_namespaces]
    checks += [proxies_check(ns) for ns in stack.meshed_namespaces]
    checks += [endpoint_check(e) for e in stack.endpoints]
    checks += [scrape_job_check(j) for j in stack.scrape_jobs]
    checks += [query_check(q) for q in stack.queries]
    checks += identity_checks(stack)
    checks += alerting_checks(stack.alerting)
    checks += golden_checks(stack)
    checks += drift_checks(stack)
    return checks


def identity_checks(stack: Stack) -> list[Check]:
    expected = stack.identity
    return [
        identity.trust_anchor_check(expected.trust_anchor_min_days),
        identity.issuer_check(expected.issuer_min_days),
        *(identity.proxies_trust_check(ns) for ns in stack.meshed_namespaces),
        *(identity.proxy_versions_check(ns) for ns in stack.meshed_namespaces),
    ]


def pod_policy(stack: Stack) -> PodPolicy:
    """How pods are judged: restarts, their window, the Jobs/CronJobs that must succeed."""
    required = frozenset(
        (w.kind, w.name) for c in stack.components for w in c.workloads if w.required
    )
    return PodPolicy(stack.max_restarts, parse_window(stack.restart_window), required)
