"""stackcheck's benchmark against the simulated stack (not part of the test run).

    .venv/bin/python bench/run.py [--repeat N] [--scales 1000,10000]

One run prints a Markdown table of:
  (a) the suite's wall time on the stock stack versus pytest's own startup on an empty test,
      and versus its floor: as many empty tests writing Allure results and JUnit, importing
      the libraries the checks need,
  (b) wall time and API requests at the stock size, 1,000 and 10,000 pods,
  (c) readiness latency: from the last pod turning Ready to the check's and the suite's pass,
  (d) the suite versus bench/kubectl_curl.sh (the same checks with kubectl get + jq + curl),
  (e) the suite with the API server 100 ms away (SimSpec.api_delay_seconds) over the same
      run at no latency, in round trips: what requests that wait on each other cost.

The sims run in this process (their startup is reported on its own and not counted): the
stock one throughout, each larger one in turn. Measurements are timed in rounds, one run of
each per round, so that the machine's drift moves them alike: at the stock size the empty
test, the suite (with and without its result cache) and the script; then for each larger
sim, the suite against it and against the stock sim. The suite runs as users run it,
`pytest suites/`, in a subprocess pointed at the sim with `--target kubeconfig`. Both the
suite and the shell script talk to one TLS listener of the sim's API server (kubectl sends
tokens over TLS only), whose per-verb request counters give (b)'s request counts. Extra pods
come from SimSpec.extra_pods: a meshed Deployment `load-generator` in bookinfo (the suite's
`--target sim` reads the same knob from the hidden STACKCHECK_SIM_EXTRA_PODS).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackcheck.settings import CACHE_FOLDER  # noqa: E402
from stackcheck.sim.alertmanager import AlertmanagerServer  # noqa: E402
from stackcheck.sim.apiserver import ApiServer  # noqa: E402
from stackcheck.sim.controller import reconcile  # noqa: E402
from stackcheck.sim.spec import PodFault, SimSpec  # noqa: E402
from stackcheck.sim.stack import (  # noqa: E402
    ALERTMANAGER,
    GRAFANA,
    PRODUCTPAGE,
    PROMETHEUS,
    VERIFIER,
    SimulatedStack,
)
from stackcheck.stackfile import load_stack  # noqa: E402

PYTHON = sys.executable
SCRIPT = ROOT / "bench" / "kubectl_curl.sh"
READY_WORKLOAD = "reviews-v2"  # (c): the workload whose pods turn Ready last
READY_CHECK = "pods.healthy[bookinfo]"
LATENCY = 0.1  # (e): seconds the API server adds to every answer


@dataclass
class BenchSim:
    sim: SimulatedStack
    api: ApiServer  # the TLS listener every client of the bench uses
    kubeconfig: Path
    urls: dict[str, str]
    startup: float
    pods: int

    def counts(self) -> Counter[str]:
        return Counter(self.api.counts)

    def stop(self) -> None:
        self.api.stop()
        self.sim.stop()
        _collect_untimed()


def _collect_untimed() -> None:
    """The sims run in this process: their objects (2.7 million at 10,000 pods) are kept out
    of the cyclic collector's way, which took ~3 s a full pass and so stalled the sims' API
    servers in the middle of timed runs (a 3.4 s readiness latency once). After a sim stops,
    what it left is collected here, untimed, and the rest is frozen again."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def start_sim(workdir: Path, extra_pods: int = 0, spec: SimSpec | None = None) -> BenchSim:
    spec = spec or SimSpec()
    spec.extra_pods = extra_pods
    stack = load_stack(ROOT / "stack.yml")
    manifests = [ROOT / m for c in stack.components for m in c.manifests]
    sim = SimulatedStack(spec, workdir, manifests)
    started = time.monotonic()
    try:
        handle = sim.start()
        api = ApiServer(sim.store, sim.spec, sim.token)
        url = api.start(tls=True)
    except BaseException:
        sim.stop()
        raise
    api.register_token(sim.verifier_token, *VERIFIER)
    api.register_service_proxy(*PRODUCTPAGE, handle.service_urls["productpage"])
    api.register_service_proxy(*GRAFANA, handle.service_urls["grafana"])
    if handle.prometheus_url:
        api.register_service_proxy(*PROMETHEUS, handle.prometheus_url)
    alertmanager = next(c for c in sim._running if isinstance(c, AlertmanagerServer))
    api.register_service_proxy(*ALERTMANAGER, alertmanager.url)  # the alerting checks read it
    startup = time.monotonic() - started
    kubeconfig = workdir / "kubeconfig-tls"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sim",
                "clusters": [
                    {"name": "sim", "cluster": {"server": url, "insecure-skip-tls-verify": True}}
                ],
                "users": [{"name": "verifier", "user": {"token": sim.verifier_token}}],
                "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "verifier"}}],
            }
        ),
        encoding="utf-8",
    )
    kubeconfig.chmod(0o600)
    pods = len(sim.store.list_objects("v1", "Pod"))
    _collect_untimed()
    return BenchSim(sim, api, kubeconfig, dict(handle.service_urls), startup, pods)


def clean_env() -> dict[str, str]:
    """The environment without STACKCHECK_* settings that would change the runs, and without
    PYTHONDONTWRITEBYTECODE: Python caches compiled modules (__pycache__) as it does on a
    user's machine. Inherited from a sandbox that sets it, it made every timed suite run
    compile the project's own modules and pytest rewrite its conftests again (~50 ms), while
    the empty-test baseline imports only precompiled site-packages."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STACKCHECK_") and k != "PYTHONDONTWRITEBYTECODE"
    }


def suite_command(
    sim: BenchSim, report_dir: Path, wait: float, select: tuple[str, ...] = ()
) -> list[str]:
    return [
        PYTHON,
        "-m",
        "pytest",
        "suites/",
        "--target",
        "kubeconfig",
        "--kubeconfig",
        str(sim.kubeconfig),
        "--productpage-url",
        sim.urls["productpage"],
        "--grafana-url",
        sim.urls["grafana"],
        "--wait",
        f"{wait:g}",
        "--html-report",
        "false",
        "--report-dir",
        str(report_dir),
        "-q",
        *select,
    ]


@dataclass
class Run:
    seconds: float
    code: int
    output: str
    counts: Counter[str]


def run_suite(sim: BenchSim, tmp: Path, wait: float = 0, cold: bool = False) -> Run:
    """One suite run; `cold`: without the result cache of earlier runs (stackcheck/cache.py),
    as the first run after a manifest or stack file change."""
    if cold:
        shutil.rmtree(ROOT / CACHE_FOLDER, ignore_errors=True)
    report_dir = Path(tempfile.mkdtemp(prefix="report-", dir=tmp))
    before = sim.counts()
    started = time.monotonic()
    done = subprocess.run(
        suite_command(sim, report_dir, wait),
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - started
    return Run(seconds, done.returncode, done.stdout + done.stderr, sim.counts() - before)


def run_away(sim: BenchSim, tmp: Path, latency: float) -> Run:
    """A suite run with the sim's API server answering `latency` seconds late (its spec is
    read on every request: one sim serves both sides of the comparison)."""
    sim.sim.spec.api_delay_seconds = latency
    try:
        return run_suite(sim, tmp)
    finally:
        sim.sim.spec.api_delay_seconds = 0.0


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return time.monotonic() - started, done.returncode, done.stdout + done.stderr


def require(ok: bool, what: str, output: str) -> None:
    if not ok:
        print(f"bench: {what}\n{output[-4000:]}", file=sys.stderr)
        raise SystemExit(1)


# --- the measurements -------------------------------------------------------------------------
@dataclass
class Series:
    """One measured command and its timed runs. The series are timed in rounds, one run of
    each per round, so that a machine that slows down or speeds up meanwhile (a VM's
    neighbours) moves all of them alike and their ratios hold."""

    what: str
    run: Callable[[], Run]
    runs: list[Run]

    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    def counts(self) -> Counter[str]:
        seen = {frozenset(r.counts.items()) for r in self.runs}
        require(
            len(seen) == 1,
            f"{self.what}: request counts differ between runs: {[r.counts for r in self.runs]}",
            "",
        )
        return self.runs[0].counts


def rounds(series: list[Series], repeat: int) -> None:
    for one in series:  # warm-up, untimed: bytecode (and the suite's results) cached
        warm = one.run()
        require(warm.code == 0, f"{one.what} failed", warm.output)
    for _ in range(repeat):
        for one in series:
            run = one.run()
            require(run.code == 0, f"{one.what} failed", run.output)
            one.runs.append(run)


def pytest_on(folder: Path, module: str, *options: str) -> Callable[[], Run]:
    """pytest on a folder holding one test module (`module`, its source)."""
    folder.mkdir()
    (folder / f"test_{folder.name}.py").write_text(module, encoding="utf-8")
    command = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder), *options]
    return lambda: Run(*timed(command, folder, clean_env()), Counter())


def empty_pytest(tmp: Path) -> Callable[[], Run]:
    return pytest_on(tmp / "empty", "def test_empty():\n    pass\n")


# What the checks import from other projects (identity: cryptography; the API and endpoints:
# urllib3 and ssl; the stack file and manifests: PyYAML; lists: msgspec; retries: tenacity)
CHECK_LIBRARIES = ("cryptography.x509", "urllib3", "ssl", "yaml", "msgspec", "tenacity")


def floor_pytest(tmp: Path, tests: int) -> Callable[[], Run]:
    """(a)'s floor: what any suite of as many checks costs before it checks anything: that
    many empty tests writing Allure results and JUnit XML, as the suite does, in a module
    that imports the libraries the checks need."""
    folder = tmp / "floor"
    imports = "".join(f"import {name}  # noqa: F401\n" for name in CHECK_LIBRARIES)
    module = (
        f"import pytest\n{imports}\n\n"
        f"@pytest.mark.parametrize('check', range({tests}))\n"
        "def test_check(check):\n    pass\n"
    )
    options = [f"--alluredir={folder / 'allure-results'}", "--clean-alluredir"]
    return pytest_on(folder, module, *options, f"--junitxml={folder / 'junit.xml'}")


def tests_run(output: str) -> int:
    """The number of tests a suite run reported as passed ("49 passed in 0.41s")."""
    found = re.search(r"(\d+) passed", output)
    require(found is not None, "the suite's output names no passed tests", output)
    assert found is not None
    return int(found.group(1))


def kubectl_curl(sim: BenchSim) -> Callable[[], Run]:
    env = {
        **clean_env(),
        "KUBECONFIG": str(sim.kubeconfig),
        "PRODUCTPAGE_URL": sim.urls["productpage"],
        "GRAFANA_URL": sim.urls["grafana"],
        "HOME": str(sim.kubeconfig.parent),
    }  # kubectl's discovery cache: per sim
    return lambda: Run(*timed(["bash", str(SCRIPT)], ROOT, env), Counter())


def readiness(tmp: Path) -> tuple[float, float, float]:
    """(flip -> the check passed, flip -> the suite exited, sim startup)."""
    spec = SimSpec(pod_faults={READY_WORKLOAD: PodFault.NOT_READY})
    sim = start_sim(tmp / "sim-readiness", spec=spec)
    try:
        report_dir = tmp / "report-readiness"
        before = sim.counts()["watch"]
        process = subprocess.Popen(
            # the checks of pods and workloads (smoke): the ones judging readiness. Under the
            # whole suite, golden.signals[reviews-v2] (no traffic to a pod not Ready: the sim
            # follows the mesh) retries first, without a watch, until the run's deadline
            suite_command(sim, report_dir, 30, ("-m", "smoke")),
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while sim.counts()["watch"] == before and process.poll() is None:
            require(time.monotonic() < deadline, "the suite never watched the pods", "")
            time.sleep(0.01)
        time.sleep(0.5)  # well inside the watch: the flip is not timed to a poll
        flip_wall, flip = time.time(), time.monotonic()
        spec.pod_faults.clear()
        pod_ip = next(
            p["status"]["podIP"]
            for p in sim.sim.store.list_objects("v1", "Pod")
            if p.get("status", {}).get("podIP", "").startswith("127.")
        )
        reconcile(sim.sim.store, spec, ".".join(pod_ip.split(".")[:2]))
        output, _ = process.communicate(timeout=120)
        suite_done = time.monotonic()
        require(process.returncode == 0, "the suite did not pass after the flip", output)
        passed = check_stop(report_dir, READY_CHECK)
        return passed - flip_wall, suite_done - flip, sim.startup
    finally:
        sim.stop()


def check_stop(report_dir: Path, check_id: str) -> float:
    """When the check's test ended (Allure's result, epoch seconds)."""
    for path in report_dir.rglob("*-result.json"):
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        labels = {(x.get("name"), x.get("value")) for x in result.get("labels") or []}
        if ("check_id", check_id) in labels:
            return float(result["stop"]) / 1000
    raise SystemExit(f"bench: no Allure result for {check_id} in {report_dir}")


# --- the report ---------------------------------------------------------------------------------
def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return (
        f"{os.cpu_count()} CPU ({model}), {mem_kb / 1024 / 1024:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def requests_of(counts: Counter[str]) -> tuple[int, int]:
    """(API requests with a paginated list counted once, HTTP requests including pages)."""
    total = sum(v for k, v in counts.items() if k != "continue")
    return total - counts["continue"], total


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--scales", default="1000,10000", help="total pod counts for (b)")
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",") if s]
    lines: list[str] = []
    say: Callable[[str], None] = lines.append
    with tempfile.TemporaryDirectory(prefix="stackcheck-bench-") as name:
        tmp = Path(name)
        print("bench: starting the stock sim ...", file=sys.stderr)
        stock = start_sim(tmp / "sim-stock")
        rows = []
        try:
            empty = Series("pytest on an empty test", empty_pytest(tmp), [])
            checks = tests_run(run_suite(stock, tmp).output)
            floor = Series(f"{checks} empty tests (floor)", floor_pytest(tmp, checks), [])
            warm = Series("the suite (stock)", partial(run_suite, stock, tmp), [])
            cold = Series(
                "the suite (stock, no result cache)", partial(run_suite, stock, tmp, cold=True), []
            )
            script = Series("bench/kubectl_curl.sh", kubectl_curl(stock), [])
            print(f"bench: {args.repeat} rounds at the stock size ...", file=sys.stderr)
            rounds([empty, floor, warm, cold, script], args.repeat)
            rows.append((stock.pods, stock.startup, warm.median(), warm.median(), warm.counts()))
            for total in scales:
                # one larger sim at a time, its runs in rounds with the stock suite's: the
                # ratio compares runs of the same minutes, on a machine with no third sim
                print(f"bench: starting a {total}-pod sim ...", file=sys.stderr)
                sim = start_sim(tmp / f"sim-{total}", extra_pods=max(0, total - stock.pods))
                try:
                    base = Series("the suite (stock)", partial(run_suite, stock, tmp), [])
                    scaled = Series(
                        f"the suite ({sim.pods} pods)", partial(run_suite, sim, tmp), []
                    )
                    print(f"bench: {args.repeat} rounds at {sim.pods} pods ...", file=sys.stderr)
                    rounds([base, scaled], args.repeat)
                finally:
                    sim.stop()
                rows.append(
                    (sim.pods, sim.startup, scaled.median(), base.median(), scaled.counts())
                )
            print(f"bench: starting a sim {LATENCY * 1000:.0f} ms away ...", file=sys.stderr)
            far_sim = start_sim(tmp / "sim-far")
            try:
                near = Series("the suite (no latency)", partial(run_away, far_sim, tmp, 0.0), [])
                far = Series(
                    "the suite (API 100 ms away)", partial(run_away, far_sim, tmp, LATENCY), []
                )
                print(f"bench: {args.repeat} rounds with and without latency ...", file=sys.stderr)
                rounds([near, far], args.repeat)
            finally:
                far_sim.stop()
        finally:
            stock.stop()
        print("bench: readiness latency ...", file=sys.stderr)
        check_latency, suite_latency, _ = readiness(tmp)

    stock_time, cold_time, script_time = warm.median(), cold.median(), script.median()
    stock_counts = warm.counts()
    empty_time = empty.median()
    base_requests = requests_of(stock_counts)
    say(f"Machine: {machine()}")
    say("")
    say("| measurement | value | target | |")
    say("| --- | --- | --- | --- |")
    floor_time = floor.median()
    say(f"| (a) pytest on an empty test (startup) | {empty_time:.2f} s | | |")
    say(
        f"| (a) floor: {checks} empty tests with Allure results and JUnit, importing the "
        f"checks' libraries | {floor_time:.2f} s = {floor_time / empty_time:.2f}x startup | | |"
    )
    say(
        f"| (a) suite, stock stack ({stock.pods} pods) | {stock_time:.2f} s = "
        f"{stock_time / empty_time:.2f}x startup, {stock_time / floor_time:.2f}x the floor "
        f"| <= 2x startup | {verdict(stock_time <= 2 * empty_time)} |"
    )
    say(
        f"| (a) the same, result cache cleared (a run after a manifest change) | "
        f"{cold_time:.2f} s = {cold_time / empty_time:.2f}x startup | <= 2x | "
        f"{verdict(cold_time <= 2 * empty_time)} |"
    )
    for pods, startup, seconds, base_time, counts in rows:
        api, http = requests_of(counts)
        ratio = seconds / base_time
        same = api == base_requests[0]
        versus = "" if pods == stock.pods else f", {base_time:.2f} s in the same rounds"
        say(
            f"| (b) {pods:,} pods: suite wall time | {seconds:.2f} s = {ratio:.2f}x stock"
            f"{versus} (sim startup {startup:.1f} s, not counted) | <= 2x | "
            f"{'' if pods == stock.pods else verdict(ratio <= 2)} |"
        )
        say(
            f"| (b) {pods:,} pods: API requests | {api} ({http} HTTP requests incl. "
            f"{counts['continue']} continue pages; writes: "
            f"{sum(counts[v] for v in ('create', 'update', 'patch', 'delete'))}) | same | "
            f"{'' if pods == stock.pods else verdict(same)} |"
        )
    say(
        f"| (c) readiness latency: last pod Ready -> its check passed | "
        f"{check_latency:.2f} s | <= 1 s | {verdict(check_latency <= 1)} |"
    )
    say(
        f"| (c) readiness latency: last pod Ready -> suite exited (pass) | "
        f"{suite_latency:.2f} s | | |"
    )
    say(
        f"| (d) bench/kubectl_curl.sh, same checks, same sim | {script_time:.2f} s = "
        f"{script_time / stock_time:.1f}x the suite | >= 3x | "
        f"{verdict(script_time >= 3 * stock_time)} |"
    )
    trips = (far.median() - near.median()) / LATENCY
    say(
        f"| (e) API server {LATENCY * 1000:.0f} ms away: suite wall time | {far.median():.2f} s, "
        f"{near.median():.2f} s without latency in the same rounds: +{trips:.1f} round trips "
        f"| <= 3 round trips | {verdict(trips <= 3)} |"
    )
    say("")
    say(
        f"Medians of {args.repeat} rounds (one run of each measurement per round); request "
        f"counts identical across runs. Stock stack "
        f"requests by verb: {dict(sorted(stock_counts.items()))}."
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
