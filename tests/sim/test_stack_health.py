"""Issue 14's checks on the healthy sim, read as the suite reads them (the read-only
verifier's kubeconfig, StackReader, the Runner): what the fault matrix does not prove.

The matrix (tests/test_fault_matrix.py) shows each fault failing or warning on its check and
the healthy sim passing; it cannot tell a check that passed because it judged the stack from
one that passed with nothing to judge. Here: every identity, alerting and golden check passes
on a fresh sim with something measured (the issuer judged, not "not checked"; Watchdog
delivered; every Deployment with requests, p95 and a full mTLS share in the table).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.checks.catalog import build_checks
from stackcheck.checks.golden import TABLE
from stackcheck.checks.model import Status
from stackcheck.kube import Kube, KubeTarget, load_configuration
from stackcheck.polling import Deadline
from stackcheck.reading import StackReader
from stackcheck.runner import Outcome, Runner
from stackcheck.settings import Settings
from stackcheck.sim.faults import BOOKINFO_DEPLOYMENTS
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.stack import SimulatedStack
from stackcheck.stackfile import load_stack

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
SETTLE_SECONDS = 40.0  # a bound, not an expectation: the sim starts settled
DOMAINS = ("identity.", "alerting.", "golden.")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    stack = load_stack(ROOT / "stack.yml")
    manifests = [ROOT / m for c in stack.components for m in c.manifests]
    sim = SimulatedStack(SimSpec(), tmp_path_factory.mktemp("sim"), manifests)
    try:
        handle = sim.start()
        kube = Kube(load_configuration(KubeTarget(handle.kubeconfig, None, 5.0)), 5.0)
        checks = [c for c in build_checks(stack) if c.id.startswith(DOMAINS)]
        runner = Runner(StackReader(stack, Settings(), kube), checks)
        try:
            yield {c.id: runner.run(c, Deadline.after(SETTLE_SECONDS)) for c in checks}
        finally:
            runner.close()
    finally:
        sim.stop()


def test_every_check_passes_having_judged_something(outcomes: dict[str, Outcome]) -> None:
    wrong = {cid: o.result.reasons for cid, o in outcomes.items() if o.status is not Status.PASSED}
    assert not wrong
    assert "not checked" not in outcomes["identity.issuer"].result.summary
    assert outcomes["identity.issuer"].result.summary.startswith(
        "issuer identity.linkerd.cluster.local"
    )
    assert "reached Alertmanager" in outcomes["alerting.watchdog"].result.summary
    assert outcomes["alerting.rule-groups"].result.summary.endswith(", 0 failing")


def test_the_golden_table_measures_every_deployment(outcomes: dict[str, Outcome]) -> None:
    golden = [o for cid, o in outcomes.items() if cid.startswith("golden.")]
    assert sorted(o.check.id for o in golden) == sorted(
        f"golden.signals[{d}]" for d in BOOKINFO_DEPLOYMENTS
    )
    name = TABLE.format(namespace="bookinfo")
    (table,) = [e for e in golden[-1].evidence if e.name == name]  # attached on pass
    rows = {
        line.split(" | ")[0].strip("| "): line.strip("|").split(" | ")
        for line in table.text.splitlines()
        if line.startswith("| ") and "ms" in line
    }
    assert sorted(rows) == sorted(BOOKINFO_DEPLOYMENTS)
    for deployment, (_, rps, success, p95, mtls, verdict) in rows.items():
        assert float(rps) > 0, (deployment, rps)
        assert (success, mtls, verdict.strip()) == ("100.0%", "100%", "passed"), deployment
        assert p95.endswith(" ms"), (deployment, p95)
