"""A verification run's API cost: read-only, and independent of the number of pods.

The suite runs (`pytest suites/`, a subprocess, `--wait 0`) against an in-process sim at two
sizes: the stock stack, and the same stack with 600 extra meshed pods in bookinfo (more than
one page of the suite's paginated lists). The sim's API server counts every request by verb.

What is compared, and why it is stable: with `--wait 0` every check makes one attempt and no
watch, and the sim injects no transient errors, so the requests are a pure function of the
stack file and the code. A paginated list answers in more pages as pods grow (limit=500,
then `continue`); each later page is counted by the sim as "continue" as well as "list", so
"requests with each list counted once" (every verb, minus the continue pages) must be the
same at both sizes. A probe reading per pod (a get per pod, a list per workload's pods, a
log per container) would make the counts differ, and this test fail.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from stackcheck.checks.catalog import build_checks
from stackcheck.checks.model import declared
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.stack import SimulatedStack
from stackcheck.stackfile import load_stack
from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
EXTRA_PODS = 600  # bookinfo then needs two pages at the suite's page size (500)
WRITES = ("create", "update", "patch", "delete")
RUN_TIMEOUT = 120

pytestmark = pytest.mark.sim


def suite_requests(tmp_path: Path, extra_pods: int) -> Counter[str]:
    """The sim's request counts, by verb, for one run of the suite against it."""
    stack = load_stack(ROOT / "stack.yml")
    manifests = [ROOT / m for c in stack.components for m in c.manifests]
    sim = SimulatedStack(SimSpec(extra_pods=extra_pods), tmp_path / "sim", manifests)
    try:
        handle = sim.start()
        before = Counter(sim.api.counts)
        command = suite_command(
            "--target",
            "kubeconfig",
            "--kubeconfig",
            str(handle.kubeconfig),
            "--productpage-url",
            handle.service_urls["productpage"],
            "--grafana-url",
            handle.service_urls["grafana"],
            "--wait",
            "0",
            "--html-report",
            "false",
            "--report-dir",
            str(tmp_path / "reports"),
            "-q",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return Counter(sim.api.counts) - before
    finally:
        sim.stop()


def once_per_list(counts: Counter[str]) -> Counter[str]:
    """The counts with each paginated list counted once (its later pages dropped)."""
    result = Counter(counts)
    result["list"] -= result.pop("continue", 0)
    return +result


def test_requests_are_read_only_and_independent_of_pod_count(tmp_path: Path) -> None:
    stock = suite_requests(tmp_path / "stock", 0)
    large = suite_requests(tmp_path / "large", EXTRA_PODS)

    for counts in (stock, large):
        assert not {verb: counts[verb] for verb in WRITES if counts[verb]}, counts
        assert counts["watch"] == 0, counts  # one attempt each: nothing to wait for
    assert stock["continue"] == 0, stock
    assert large["continue"] >= 1, f"bookinfo's pods were not paginated: {large}"
    assert once_per_list(large) == once_per_list(stock), (
        f"the API requests depend on the number of pods: stock {dict(stock)}, "
        f"+{EXTRA_PODS} pods {dict(large)}"
    )
    # one API request per distinct read the checks declare (the Runner shares equal reads):
    # 33 on the stock stack.yml; nodes are read once more, to locate the NodePort endpoints
    reads = Counter(r.kind for r in declared(build_checks(load_stack(ROOT / "stack.yml"))))
    expected = Counter(
        list=reads["objects"] + reads["pods"] + reads["namespaces"] + 1,
        proxy=reads["prometheus_targets"]
        + reads["prometheus_query"]
        + reads["prometheus_api"]
        + reads["alertmanager_alerts"],
        discovery=reads["version"],
    )
    assert once_per_list(stock) == expected, stock
