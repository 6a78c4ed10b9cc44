"""The real kubectl (v1.29, installed by `./scripts/setup.sh --dev`) against the standalone
sim, as a new user meets it: `python -m stackcheck.sim`, then the kubectl command it prints.

Without kubectl these tests fail in CI (setup installs it) and skip elsewhere, naming the fix.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.sim

ROOT = Path(__file__).resolve().parents[2]
FAULTS = ("crashloop-details", "image-pull-productpage", "not-ready-reviews", "pending-ratings")
VERSION_FACT = yaml.safe_load(
    (ROOT / "tests/data/facts/kube-apiserver.yml").read_text(encoding="utf-8")
)["facts"]["version-info"]["answer"]
START_SECONDS = 120.0
KUBECTL_SECONDS = 30.0


def kubectl_binary() -> str:
    found = Path(sys.prefix) / "bin" / "kubectl"
    path = str(found) if found.exists() else shutil.which("kubectl")
    if path is None:
        why = "no kubectl: ./scripts/setup.sh --dev installs it into .venv/bin"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return path


@dataclass(frozen=True)
class Sim:
    command: list[str]  # the printed `kubectl --kubeconfig ... get pods -A`, split
    kubeconfig: str
    admin_kubeconfig: str

    def run(
        self, *args: str, admin: bool = False, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        config = self.admin_kubeconfig if admin else self.kubeconfig
        done = subprocess.run(
            [self.command[0], "--kubeconfig", config, *args],
            capture_output=True,
            text=True,
            timeout=KUBECTL_SECONDS,
            check=False,
        )
        if ok:
            assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr[-2000:]}"
        return done

    def out(self, *args: str, admin: bool = False) -> str:
        return self.run(*args, admin=admin).stdout


class Output:
    """The sim's output lines, read by a thread (a pipe read has no timeout)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        self.stream = process.stdout
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        for line in self.stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, prefix: str, seconds: float) -> list[str]:
        """Lines up to the first that starts with `prefix` (or all seen by the deadline)."""
        seen: list[str] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if line.startswith(prefix):
                break
        return seen

    def close(self) -> None:
        self.thread.join(timeout=10)
        self.stream.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    kubectl = kubectl_binary()
    workdir = tmp_path_factory.mktemp("kubectl-sim")
    args = [sys.executable, "-m", "stackcheck.sim", "--workdir", str(workdir)]
    for fault in FAULTS:
        args += ["--fault", fault]
    process = subprocess.Popen(
        args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = Output(process)
    try:
        lines = output.until("try: kubectl ", START_SECONDS)
        assert lines and lines[-1].startswith("try: kubectl "), "\n".join(lines)
        command = shlex.split(lines[-1].removeprefix("try: "))
        command[0] = kubectl
        config = command[command.index("--kubeconfig") + 1]
        yield Sim(command, config, str(Path(config).with_name("kubeconfig-admin")))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        output.close()


def pod_name(sim: Sim, prefix: str) -> str:
    names = sim.out("get", "pods", "-n", "bookinfo", "-o", "name").split()
    [found] = [n.removeprefix("pod/") for n in names if n.startswith(f"pod/{prefix}-")]
    return found


def test_the_printed_command_lists_pods_with_kubectls_columns(sim: Sim) -> None:
    done = subprocess.run(
        sim.command, capture_output=True, text=True, timeout=KUBECTL_SECONDS, check=False
    )
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    by_name = {row.split()[1].rsplit("-", 2)[0]: row for row in rows if row.startswith("bookinfo ")}
    assert re.search(r" 1/2 +CrashLoopBackOff +7 \(\d+m\d*s? ago\) ", by_name["details-v1"])
    assert " ImagePullBackOff " in by_name["productpage-v1"]
    assert " 0/2 " in by_name["ratings-v1"] and " Pending " in by_name["ratings-v1"]
    assert " 1/2 " in by_name["reviews-v2"] and " Running " in by_name["reviews-v2"]
    assert " 2/2 " in by_name["reviews-v1"] and " Running " in by_name["reviews-v1"]


def test_wide_output_adds_ip_and_node(sim: Sim) -> None:
    header = sim.out("get", "pods", "-n", "bookinfo", "-o", "wide").splitlines()[0]
    assert header.split()[-6:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]


def test_describe_a_faulted_pod_shows_its_events(sim: Sim) -> None:
    described = sim.out("describe", "pod", "-n", "bookinfo", pod_name(sim, "details-v1"))
    events = described.split("\nEvents:\n", 1)[1]
    assert re.search(
        r"Warning +BackOff +.* kubelet +Back-off restarting failed container "
        r"details in pod details-v1-",
        events,
    )
    assert re.search(r"Normal +Started +.* kubelet +Started container details", events)
    pulled = sim.out("describe", "pod", "-n", "bookinfo", pod_name(sim, "productpage-v1"))
    assert "Error: ErrImagePull" in pulled and "Error: ImagePullBackOff" in pulled
    pending = sim.out("describe", "pod", "-n", "bookinfo", pod_name(sim, "ratings-v1"))
    assert re.search(
        r"Warning +FailedScheduling +.* default-scheduler +0/\d+ nodes are "
        "available",
        pending,
    )


def test_logs_and_previous_logs(sim: Sim) -> None:
    crashing = pod_name(sim, "details-v1")
    assert "ERROR details" in sim.out("logs", "-n", "bookinfo", crashing, "-c", "details")
    previous = sim.out("logs", "-n", "bookinfo", crashing, "-c", "details", "--previous")
    assert "ERROR details" in previous
    healthy = pod_name(sim, "reviews-v1")
    refused = sim.run("logs", "-n", "bookinfo", healthy, "-c", "reviews", "--previous", ok=False)
    assert refused.returncode != 0
    assert f'previous terminated container "reviews" in pod "{healthy}" not found' in refused.stderr


def test_get_events_in_every_namespace(sim: Sim) -> None:
    header, *rows = sim.out("get", "events", "-A").splitlines()
    assert header.split() == ["NAMESPACE", "LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = {row.split()[3] for row in rows}
    assert {"BackOff", "Failed", "FailedScheduling", "Unhealthy", "Pulling"} <= reasons


def test_auth_whoami_and_can_i(sim: Sim) -> None:
    whoami = sim.out("auth", "whoami")
    assert "system:serviceaccount:stackcheck:stackcheck-verifier" in whoami
    listed = sim.out("auth", "can-i", "--list", "-n", "bookinfo")
    assert re.search(r"^pods +\[\] +\[\] +\[get list watch\]$", listed, re.MULTILINE)
    assert sim.out("auth", "can-i", "list", "pods", "-A").strip() == "yes"
    refused = sim.run("auth", "can-i", "delete", "pods", "-n", "bookinfo", ok=False)
    assert refused.stdout.strip() == "no"


def test_deployments_are_older_than_their_pods(sim: Sim) -> None:
    created = "-o=jsonpath={.metadata.creationTimestamp}"
    deploy = sim.out("get", "deploy", "-n", "bookinfo", "reviews-v1", created)
    replicaset = sim.out(
        "get",
        "rs",
        "-n",
        "bookinfo",
        "-l",
        "app=reviews,version=v1",
        "-o=jsonpath={.items[0].metadata.creationTimestamp}",
    )
    pod = sim.out("get", "pod", "-n", "bookinfo", pod_name(sim, "reviews-v1"), created)
    assert deploy < replicaset < pod
    header, row = sim.out("get", "deploy", "-n", "bookinfo", "reviews-v1").splitlines()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[1:4] == ["1/1", "1", "1"]


def test_server_side_dry_run_apply(sim: Sim) -> None:
    manifest = str(ROOT / "manifests/rbac/verifier-readonly.yml")
    applied = sim.out("apply", "--dry-run=server", "-f", manifest, admin=True)
    assert "(server dry run)" in applied
    applied = sim.out("apply", "--server-side", "--dry-run=server", "-f", manifest, admin=True)
    assert "serverside-applied (server dry run)" in applied


def test_get_watch_prints_changes_in_the_same_columns(sim: Sim) -> None:
    name = pod_name(sim, "reviews-v3")
    watcher = subprocess.Popen(
        [
            sim.command[0],
            "--kubeconfig",
            sim.kubeconfig,
            "get",
            "pod",
            "-n",
            "bookinfo",
            name,
            "-w",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    output = Output(watcher)
    try:
        first = output.until(name, KUBECTL_SECONDS)  # the header, then the pod as it is
        sim.run("label", "pod", "-n", "bookinfo", name, "watched=yes", admin=True)
        changed = output.until(name, KUBECTL_SECONDS)  # the same pod, after the change
    finally:
        watcher.terminate()
        watcher.wait(timeout=KUBECTL_SECONDS)
        output.close()
    header, *rows = first + changed
    assert header.split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(rows) == 2 and all(r.split()[:3] == [name, "2/2", "Running"] for r in rows)


def test_version_is_the_servers_and_within_kubectls_skew(sim: Sim) -> None:
    """`kubectl version` reads the server's /version (the v1.28.15 fact) and, as kubectl 1.29
    is within +/-1 minor of it, prints no skew warning."""
    done = sim.run("version", "-o", "json")
    assert json.loads(done.stdout)["serverVersion"] == VERSION_FACT
    assert "WARNING" not in done.stderr, done.stderr
