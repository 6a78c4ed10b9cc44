"""The deploy plan and its execution, with a fake Runner and a fake cluster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from stackcheck import certs, deploy
from stackcheck.deploy import (
    Apply,
    Command,
    Completed,
    DeployError,
    Gate,
    Identity,
    KubeArgs,
    build_plan,
    execute,
    workload_attempt,
)
from stackcheck.errors import UsageError
from stackcheck.polling import Attempt
from stackcheck.stackfile import load_stack, parse_stack

ROOT = Path(__file__).resolve().parent.parent
KUBE = KubeArgs(Path("/tmp/kc"), "kind-stackcheck")


class FakeRunner:
    def __init__(self, missing: Sequence[str] = (), fail: str | None = None) -> None:
        self.missing = set(missing)
        self.fail = fail
        self.commands: list[list[str]] = []

    def which(self, tool: str) -> str | None:
        return None if tool in self.missing else f"/usr/bin/{tool}"

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        self.commands.append(list(argv))
        if self.fail is not None and self.fail in argv:
            return Completed(1, "", "Error: INSTALLATION FAILED: context deadline exceeded")
        return Completed(0, "", "")


class FakeCluster:
    def __init__(
        self, not_ready_for: int = 0, installed: certs.IdentityCertificates | None = None
    ) -> None:
        self.applied: list[tuple[str, str | None]] = []
        self.events: list[str] = []
        self.not_ready_for = not_ready_for
        self.installed = installed

    def apply(self, obj: Mapping[str, Any], namespace: str | None) -> str:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        self.applied.append((name, obj.get("metadata", {}).get("namespace") or namespace))
        self.events.append(f"apply {name}")
        return name

    def crd_established(self, group: str, kind: str) -> Attempt[None]:
        self.events.append(f"crd {kind}.{group}")
        return Attempt(True)

    def workload_ready(self, kind: str, namespace: str, name: str) -> Attempt[None]:
        self.events.append(f"ready {namespace}/{name}")
        if self.not_ready_for > 0:
            self.not_ready_for -= 1
            return Attempt(False, f"{kind} {namespace}/{name}: 0/1 ready")
        return Attempt(True)

    def identity(self, namespace: str) -> certs.IdentityCertificates | None:
        return self.installed


@pytest.fixture(scope="module")
def stack() -> Any:
    return load_stack(ROOT / "stack.yml")


def test_exact_helm_commands(stack: Any, tmp_path: Path) -> None:
    plan = build_plan(stack, ROOT, KUBE, tmp_path)
    commands = [list(s.argv) for s in plan if isinstance(s, Command)]
    tail = [
        "--wait",
        "--timeout",
        "10m0s",
        "--kubeconfig",
        "/tmp/kc",
        "--kube-context",
        "kind-stackcheck",
    ]
    assert commands == [
        [
            "helm",
            "repo",
            "add",
            "prometheus-community",
            "https://prometheus-community.github.io/helm-charts",
            "--force-update",
        ],
        [
            "helm",
            "repo",
            "add",
            "linkerd-stable",
            "https://helm.linkerd.io/stable",
            "--force-update",
        ],
        ["helm", "repo", "update", "prometheus-community", "linkerd-stable"],
        [
            "helm",
            "upgrade",
            "--install",
            "prometheus",
            "prometheus-community/kube-prometheus-stack",
            "--version",
            "65.8.1",
            "--namespace",
            "monitoring",
            "--create-namespace",
            "-f",
            str(ROOT / "manifests/observability/prometheus-stack-values.yml"),
            *tail,
        ],
        [
            "helm",
            "upgrade",
            "--install",
            "linkerd-crds",
            "linkerd-stable/linkerd-crds",
            "--version",
            "1.8.0",
            "--namespace",
            "linkerd",
            "--create-namespace",
            *tail,
        ],
        [
            "helm",
            "upgrade",
            "--install",
            "linkerd-control-plane",
            "linkerd-stable/linkerd-control-plane",
            "--version",
            "1.16.11",
            "--namespace",
            "linkerd",
            "--create-namespace",
            "-f",
            str(ROOT / "manifests/linkerd/control-plane-values.yml"),
            "--set-file",
            f"identityTrustAnchorsPEM={tmp_path / 'ca.crt'}",
            "--set-file",
            f"identity.issuer.tls.crtPEM={tmp_path / 'issuer.crt'}",
            "--set-file",
            f"identity.issuer.tls.keyPEM={tmp_path / 'issuer.key'}",
            *tail,
        ],
        [
            "helm",
            "upgrade",
            "--install",
            "linkerd-viz",
            "linkerd-stable/linkerd-viz",
            "--version",
            "30.12.11",
            "--namespace",
            "linkerd-viz",
            "--create-namespace",
            "-f",
            str(ROOT / "manifests/linkerd/viz-values.yml"),
            *tail,
        ],
    ]


def test_gates_come_before_what_needs_them(stack: Any, tmp_path: Path) -> None:
    plan = build_plan(stack, ROOT, KUBE, tmp_path)
    order = [s.describe() for s in plan]

    def index(predicate: Any) -> int:
        return next(i for i, s in enumerate(plan) if predicate(s))

    crd = index(lambda s: isinstance(s, Gate) and s.check == "crd" and s.kind == "PodMonitor")
    podmonitors = index(lambda s: isinstance(s, Apply) and "podmonitors" in s.path.name)
    assert crd < podmonitors, order
    identity = index(lambda s: isinstance(s, Identity))
    control_plane = index(lambda s: isinstance(s, Command) and "linkerd-control-plane" in s.argv)
    assert identity < control_plane
    injector = index(lambda s: isinstance(s, Gate) and s.name == "linkerd-proxy-injector")
    bookinfo = index(lambda s: isinstance(s, Apply) and s.component == "bookinfo")
    assert control_plane < injector < bookinfo
    assert plan[injector].namespace == "linkerd"  # type: ignore[union-attr]
    ready = [s.name for s in plan if isinstance(s, Gate) and s.component == "bookinfo"]
    assert ready[1:] == [
        "productpage-v1",
        "details-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
    ]


def test_plan_is_the_same_every_time(stack: Any, tmp_path: Path) -> None:
    assert build_plan(stack, ROOT, KUBE, tmp_path) == build_plan(stack, ROOT, KUBE, tmp_path)


def test_execute_applies_and_summarises(stack: Any, tmp_path: Path) -> None:
    runner, cluster = FakeRunner(), FakeCluster(not_ready_for=2)
    plan = build_plan(stack, ROOT, KUBE, tmp_path)
    summary = execute(plan, runner, cluster, pause=lambda s: None)
    applied = [name for name, _ in cluster.applied]
    assert applied[0].startswith("PodMonitor/")  # kube-prometheus-stack's manifests first
    assert applied.index("Namespace/bookinfo") < applied.index("Deployment/productpage-v1")
    assert cluster.events.index("ready linkerd/linkerd-proxy-injector") < cluster.events.index(
        "apply Namespace/bookinfo"
    )
    assert all(ns == "bookinfo" for name, ns in cluster.applied if name.startswith("Deployment/"))
    certs.verify_chain(
        certs.IdentityCertificates(
            (tmp_path / "ca.crt").read_bytes(),
            (tmp_path / "issuer.crt").read_bytes(),
            (tmp_path / "issuer.key").read_bytes(),
        )
    )
    text = "\n".join(summary.lines)
    assert (
        "kube-prometheus-stack: helm release prometheus "
        "prometheus-community/kube-prometheus-stack 65.8.1 deployed" in text
    )
    assert "identity certificates generated" in text


def test_rerun_reuses_installed_identity_and_runs_the_same_commands(
    stack: Any, tmp_path: Path
) -> None:
    installed = certs.generate()
    first, second = FakeRunner(), FakeRunner()
    for runner in (first, second):
        cluster = FakeCluster(installed=installed)
        summary = execute(
            build_plan(stack, ROOT, KUBE, tmp_path), runner, cluster, pause=lambda s: None
        )
        assert (tmp_path / "ca.crt").read_bytes() == installed.trust_anchor_pem
        assert "identity certificates reused from the cluster" in "\n".join(summary.lines)
    assert first.commands == second.commands


def test_a_failing_helm_step_names_the_command(stack: Any, tmp_path: Path) -> None:
    runner = FakeRunner(fail="linkerd-viz")
    with pytest.raises(DeployError) as raised:
        execute(
            build_plan(stack, ROOT, KUBE, tmp_path), runner, FakeCluster(), pause=lambda s: None
        )
    message = str(raised.value)
    assert message.startswith("linkerd-viz: `helm upgrade --install linkerd-viz ")
    assert message.endswith("exited 1: Error: INSTALLATION FAILED: context deadline exceeded")


def test_a_gate_that_never_holds_fails_with_its_last_reason(stack: Any, tmp_path: Path) -> None:
    with pytest.raises(
        DeployError,
        match=r"^kube-prometheus-stack: wait until Deployment "
        r"monitoring/prometheus-kube-prometheus-operator is "
        r"ready: not true after .*; last: .*0/1 ready$",
    ):
        execute(
            build_plan(stack, ROOT, KUBE, tmp_path),
            FakeRunner(),
            FakeCluster(not_ready_for=10**6),
            gate_seconds=0,
            pause=lambda s: None,
        )


def test_missing_helm_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = deploy.main(
        ["--stack-file", str(ROOT / "stack.yml")],
        runner=FakeRunner(missing=["helm"]),
        cluster_factory=lambda kube: FakeCluster(),
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err == (
        "deploy: ERROR: helm: not found on PATH; install Helm 3: "
        "https://helm.sh/docs/intro/install/"
    )


def test_dry_run_prints_the_plan_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    code = deploy.main(
        [
            "--stack-file",
            str(ROOT / "stack.yml"),
            "--dry-run",
            "--kubeconfig",
            "/tmp/kc",
            "--context",
            "ctx",
        ],
        runner=runner,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert runner.commands == []
    assert " 1. [helm] helm repo add prometheus-community " in out
    assert (
        "helm upgrade --install linkerd-control-plane linkerd-stable/linkerd-control-plane"
        " --version 1.16.11" in out
    )
    assert "--set-file 'identityTrustAnchorsPEM=<identity-certs>/ca.crt'" in out
    assert "[bookinfo] wait until Deployment linkerd/linkerd-proxy-injector is ready" in out
    assert (
        "[kube-prometheus-stack] wait until the CRD for PodMonitor.monitoring.coreos.com "
        "is Established" in out
    )
    assert "--kube-context ctx" in out


def test_main_deploys_and_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code = deploy.main(
        ["--stack-file", str(ROOT / "stack.yml"), "--gate-timeout", "1"],
        runner=FakeRunner(),
        cluster_factory=lambda kube: FakeCluster(),
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "deploy: done in" in out
    assert "  bookinfo: applied " in out


def test_oci_repositories_are_not_added() -> None:
    stack = parse_stack(
        """
version: 1
components:
  - name: app
    namespace: app
    helm: {repo: "oci://ghcr.io/acme/charts", chart: app, version: "1.0.0", release: app}
""",
        "inline",
    )
    plan = build_plan(stack, ROOT, KubeArgs(), Path("/c"))
    assert [s.argv for s in plan if isinstance(s, Command)] == [
        (
            "helm",
            "upgrade",
            "--install",
            "app",
            "oci://ghcr.io/acme/charts/app",
            "--version",
            "1.0.0",
            "--namespace",
            "app",
            "--create-namespace",
            "--wait",
            "--timeout",
            "10m0s",
        )
    ]


def test_bad_manifest_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad\.yml: not valid YAML"):
        deploy.load_objects(bad)


@pytest.mark.parametrize(
    ("obj", "ok", "reason"),
    [
        (
            {
                "kind": "Deployment",
                "metadata": {"namespace": "n", "name": "d", "generation": 2},
                "spec": {"replicas": 1},
                "status": {"observedGeneration": 1},
            },
            False,
            "has not seen the latest spec",
        ),
        (
            {
                "kind": "Deployment",
                "metadata": {"namespace": "n", "name": "d"},
                "spec": {"replicas": 2},
                "status": {"updatedReplicas": 1},
            },
            False,
            "1/2 updated",
        ),
        (
            {
                "kind": "Deployment",
                "metadata": {"namespace": "n", "name": "d"},
                "spec": {"replicas": 1},
                "status": {
                    "updatedReplicas": 1,
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "False",
                            "reason": "MinimumReplicasUnavailable",
                        }
                    ],
                },
            },
            False,
            "Available=False (MinimumReplicasUnavailable",
        ),
        (
            {
                "kind": "Deployment",
                "metadata": {"namespace": "n", "name": "d"},
                "spec": {"replicas": 1},
                "status": {
                    "updatedReplicas": 1,
                    "conditions": [{"type": "Available", "status": "True"}],
                },
            },
            True,
            "",
        ),
        (
            {
                "kind": "DaemonSet",
                "metadata": {"namespace": "n", "name": "ds"},
                "spec": {},
                "status": {"desiredNumberScheduled": 1, "numberReady": 0},
            },
            False,
            "0/1 ready",
        ),
        (
            {
                "kind": "StatefulSet",
                "metadata": {"namespace": "n", "name": "s"},
                "spec": {"replicas": 1},
                "status": {"readyReplicas": 1},
            },
            True,
            "",
        ),
    ],
)
def test_workload_readiness(obj: dict[str, Any], ok: bool, reason: str) -> None:
    attempt = workload_attempt(obj)
    assert attempt.ok is ok
    assert reason in attempt.reason
