"""Issue 14's evaluations, end to end against the sim: the healthy sim passes every one, and
each fault of PENDING_CHECKS_CATALOG fails (or warns on) exactly the check ids it names.

Everything is read as the suite will read it: with the read-only verifier's kubeconfig, the
project's Kube client, objects from the API server, Prometheus and Alertmanager through the
API server's service proxy. This is the proof the coordinator wires into the fault matrix
once the checks are records of the new check model.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackcheck.checks import alerting, golden, identity
from stackcheck.checks.finding import Finding
from stackcheck.kube import Kube, KubeTarget, load_configuration
from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until
from stackcheck.sim.faults import (
    BOOKINFO_DEPLOYMENTS,
    PENDING_BY_NAME,
    PENDING_CHECKS_CATALOG,
    PENDING_WARNINGS,
    Fault,
)
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.stack import SimHandle, SimulatedStack
from stackcheck.stackfile import Stack, load_stack

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "monitoring/prometheus-kube-prometheus-prometheus"
ALERTMANAGER = "monitoring/prometheus-kube-prometheus-alertmanager"
SCRAPE_SECONDS = 2.0  # the sim's scrape and evaluation interval (sim/prometheus.py)
SETTLE_SECONDS = 40.0  # Watchdog reaching Alertmanager, two scrapes in the window, rules run
# checks a fault also breaks, and rightly: the issuer lives and dies with its anchor
# and without requests there is no rate, latency or TLS share to judge: those are skipped
COLLATERAL = {"anchor-expiring": {"identity.issuer": "warning"},
              "anchor-expired": {"identity.issuer": "failed"},
              "no-traffic": {f"golden.{signal}[{deployment}]": "skipped"
                             for signal in ("success-rate", "latency", "mtls")
                             for deployment in BOOKINFO_DEPLOYMENTS}}
Obj = dict[str, Any]


@dataclass
class Sim:
    stack: SimulatedStack
    handle: SimHandle
    kube: Kube


@pytest.fixture(scope="module")
def stack_file() -> Stack:
    return load_stack(ROOT / "stack.yml")


def _start(spec: SimSpec, workdir: Path, stack_file: Stack) -> Sim:
    manifests = [ROOT / m for c in stack_file.components for m in c.manifests]
    sim = SimulatedStack(spec, workdir, manifests)
    handle = sim.start()
    kube = Kube(load_configuration(KubeTarget(handle.kubeconfig, None, 5.0)), 5.0)
    return Sim(sim, handle, kube)


@pytest.fixture
def started(tmp_path: Path, stack_file: Stack) -> Iterator[list[Sim]]:
    sims: list[Sim] = []
    yield sims
    for sim in sims:
        sim.kube.close()
        sim.stack.stop()


def deployments(stack_file: Stack) -> list[str]:
    return [w.name for c in stack_file.components if c.name in stack_file.slo.components
            for w in c.workloads if w.kind == "Deployment"]


def evaluate(kube: Kube, stack_file: Stack) -> dict[str, Finding]:
    """Read what the checks read and judge it: check id -> finding."""
    now = dt.datetime.now(dt.UTC)
    roots = kube.get("/api/v1/namespaces/linkerd/configmaps/linkerd-identity-trust-roots")
    config = kube.get("/api/v1/namespaces/linkerd/configmaps/linkerd-config")
    pods = kube.list_all("/api/v1/pods")
    expect = stack_file.identity
    found = {
        "identity.trust-anchor": identity.judge_trust_anchor(roots, now,
                                                             expect.trust_anchor_min_days),
        "identity.proxies-trust": identity.judge_proxies_trust(roots, pods),
        "identity.proxy-versions": identity.judge_proxy_versions(config, pods),
        "identity.issuer": identity.judge_issuer(config, roots, now, expect.issuer_min_days),
    }

    def query(promql: str) -> Obj:
        return kube.service_proxy(PROMETHEUS, 9090, "/api/v1/query", [("query", promql)])

    alerts = kube.service_proxy(PROMETHEUS, 9090, "/api/v1/alerts")
    received = kube.service_proxy_list(ALERTMANAGER, 9093, "/api/v2/alerts")
    allowed = tuple(alerting.AllowedAlert(a.alert, a.reason) for a in stack_file.alerting.allowed)
    found |= {
        "alerting.watchdog": alerting.judge_watchdog(alerts, received),
        "alerting.firing": alerting.judge_firing(alerts, stack_file.alerting.severity, allowed),
        "alerting.config-reload": alerting.judge_config_reload(
            {name: query(promql) for name, promql in alerting.RELOAD_QUERIES.items()}),
        "alerting.rule-groups": alerting.judge_rule_groups(
            kube.service_proxy(PROMETHEUS, 9090, "/api/v1/rules")),
        "alerting.rejected-resources": alerting.judge_rejected_resources(
            query(alerting.REJECTED_QUERY)),
    }
    expected = stack_file.slo
    slo = golden.Slo(expected.success_rate, expected.p95_ms, expected.window,
                     expected.plaintext_allowed)
    window = golden.window(slo.window, SCRAPE_SECONDS)
    measured = golden.measure(deployments(stack_file),
                              query(golden.requests_query("bookinfo", window)),
                              query(golden.latency_query("bookinfo", window)), window)
    for signals in measured:
        for name, judge in golden.JUDGES.items():
            found[f"golden.{name}[{signals.deployment}]"] = judge(signals, slo)
    return found


def wanted(fault: Fault | None) -> dict[str, str]:
    """Check id -> the status the fault must leave (others: passed)."""
    if fault is None:
        return {}
    status = "warning" if fault.name in PENDING_WARNINGS else "failed"
    return {**{check: status for check in fault.fails}, **COLLATERAL.get(fault.name, {})}


def settled(sim: Sim, stack_file: Stack, fault: Fault | None) -> dict[str, Finding]:
    """Poll until every finding has the status the fault calls for (the sim needs a few
    scrapes and evaluations); on the deadline, the last findings, for the assertions."""
    expected = wanted(fault)
    last: dict[str, Finding] = {}

    def attempt() -> Attempt[dict[str, Finding]]:
        nonlocal last
        last = evaluate(sim.kube, stack_file)
        wrong = [f"{check}: {found.status} {found.reasons}" for check, found in last.items()
                 if found.status != expected.get(check, "passed")]
        return Attempt(not wrong, "; ".join(wrong[:3]), last)

    with contextlib.suppress(WaitExpired):  # the assertions show what stayed wrong
        poll_until(attempt, Deadline.after(SETTLE_SECONDS), "findings settle", 1.0)
    return last


def test_the_healthy_sim_passes_every_evaluation(started: list[Sim], tmp_path: Path,
                                                 stack_file: Stack) -> None:
    sim = _start(SimSpec(), tmp_path / "sim", stack_file)
    started.append(sim)
    findings = settled(sim, stack_file, None)
    wrong = {check: (f.status, f.reasons) for check, f in findings.items()
             if f.status != "passed"}
    assert not wrong
    assert len([c for c in findings if c.startswith("golden.")]) == 4 * 6


@pytest.mark.parametrize("fault", PENDING_CHECKS_CATALOG, ids=lambda f: f.name)
def test_each_fault_fails_its_checks_and_only_those(fault: Fault, started: list[Sim],
                                                    tmp_path: Path, stack_file: Stack) -> None:
    spec = SimSpec()
    PENDING_BY_NAME[fault.name].edit(spec)
    sim = _start(spec, tmp_path / "sim", stack_file)
    started.append(sim)
    findings = settled(sim, stack_file, fault)
    expected = wanted(fault)
    statuses = {check: f.status for check, f in findings.items()}
    assert {c: s for c, s in statuses.items() if s != "passed"} == expected
    for check in fault.fails:
        assert any(fault.must_mention in reason for reason in findings[check].reasons), \
            (check, findings[check].reasons)
