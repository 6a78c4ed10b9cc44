"""`--target kind`: the exact kind commands, the config, the opened stack, teardown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck import kind
from stackcheck.deploy import Completed, DeployError, KubeArgs, Summary
from stackcheck.errors import UsageError
from stackcheck.opened import OpenedStack
from stackcheck.settings import Settings
from stackcheck.stackfile import Stack, load_stack

ROOT = Path(__file__).resolve().parent.parent


class FakeRunner:
    def __init__(self, clusters: str = "", missing: Sequence[str] = ()) -> None:
        self.clusters = clusters
        self.missing = set(missing)
        self.commands: list[list[str]] = []

    def which(self, tool: str) -> str | None:
        return None if tool in self.missing else f"/usr/bin/{tool}"

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        self.commands.append(list(argv))
        if list(argv[:3]) == ["kind", "get", "clusters"]:
            return Completed(0, self.clusters, "")
        return Completed(0, "", "")


class FakeDeployer:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[Path, KubeArgs]] = []
        self.error = error

    def __call__(self, stack: Stack, root: Path, kube: KubeArgs) -> Summary:
        self.calls.append((root, kube))
        if self.error is not None:
            raise self.error
        return Summary()


@pytest.fixture(scope="module")
def stack() -> Stack:
    return load_stack(ROOT / "stack.yml")


def test_config_maps_the_node_ports_to_localhost(stack: Stack) -> None:
    assert kind.kind_config(stack) == {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [
            {
                "role": "control-plane",
                "extraPortMappings": [
                    {
                        "containerPort": 30080,
                        "hostPort": 30080,
                        "listenAddress": "127.0.0.1",
                        "protocol": "TCP",
                    },
                    {
                        "containerPort": 30300,
                        "hostPort": 30300,
                        "listenAddress": "127.0.0.1",
                        "protocol": "TCP",
                    },
                ],
            }
        ],
    }


def test_creates_deploys_and_deletes(stack: Stack, tmp_path: Path) -> None:
    runner, deployer = FakeRunner(), FakeDeployer()
    target = kind.open_kind(
        Settings(target="kind"), stack, ROOT, runner, deployer, workdir=tmp_path
    )
    kubeconfig = tmp_path / "kubeconfig"
    assert runner.commands == [
        ["kind", "get", "clusters"],
        [
            "kind",
            "create",
            "cluster",
            "--name",
            "stackcheck",
            "--image",
            kind.NODE_IMAGE,
            "--config",
            str(tmp_path / "kind-config.yml"),
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "120s",
        ],
    ]
    written = yaml.safe_load((tmp_path / "kind-config.yml").read_text(encoding="utf-8"))
    assert written == kind.kind_config(stack)
    assert deployer.calls == [(ROOT, KubeArgs(kubeconfig, "kind-stackcheck"))]
    assert target.settings.kubeconfig == kubeconfig
    assert target.settings.kube_context == "kind-stackcheck"
    assert target.settings.node_address == "127.0.0.1"
    target.close()
    assert runner.commands[-1] == [
        "kind",
        "delete",
        "cluster",
        "--name",
        "stackcheck",
        "--kubeconfig",
        str(kubeconfig),
    ]
    assert not tmp_path.exists()


def test_keep_cluster_keeps_it_and_its_kubeconfig(stack: Stack, tmp_path: Path) -> None:
    runner = FakeRunner()
    target = kind.open_kind(
        Settings(target="kind", keep_cluster=True),
        stack,
        ROOT,
        runner,
        FakeDeployer(),
        workdir=tmp_path,
    )
    target.close()
    assert not any(c[:2] == ["kind", "delete"] for c in runner.commands)
    assert tmp_path.exists()


def test_an_existing_cluster_is_reused(stack: Stack, tmp_path: Path) -> None:
    runner = FakeRunner(clusters="other\nstackcheck\n")
    kind.open_kind(
        Settings(target="kind", keep_cluster=True),
        stack,
        ROOT,
        runner,
        FakeDeployer(),
        workdir=tmp_path,
    )
    assert runner.commands[1] == [
        "kind",
        "export",
        "kubeconfig",
        "--name",
        "stackcheck",
        "--kubeconfig",
        str(tmp_path / "kubeconfig"),
    ]
    assert not any(c[:2] == ["kind", "create"] for c in runner.commands)


def test_a_failed_deploy_deletes_the_cluster(stack: Stack, tmp_path: Path) -> None:
    runner = FakeRunner()
    deployer = FakeDeployer(DeployError("linkerd-viz: `helm ...` exited 1: boom"))
    with pytest.raises(UsageError, match=r"^--target kind: linkerd-viz: .* boom$"):
        kind.open_kind(Settings(target="kind"), stack, ROOT, runner, deployer, workdir=tmp_path)
    assert runner.commands[-1][:3] == ["kind", "delete", "cluster"]


@pytest.mark.parametrize("tool", ["kind", "helm"])
def test_missing_tool_is_one_line(stack: Stack, tmp_path: Path, tool: str) -> None:
    with pytest.raises(UsageError, match=rf"^{tool}: not found on PATH; install "):
        kind.open_kind(
            Settings(target="kind"),
            stack,
            ROOT,
            FakeRunner(missing=[tool]),
            FakeDeployer(),
            workdir=tmp_path,
        )


def test_open_stack_dispatches_to_kind(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackcheck import targets

    seen: list[Any] = []
    made = OpenedStack(Settings(target="kind"))

    def fake_open_kind(*args: Any) -> OpenedStack:
        seen.append(args)
        return made

    monkeypatch.setattr(kind, "open_kind", fake_open_kind)
    assert targets.open_stack(Settings(target="kind"), stack, ROOT) is made
    assert seen and seen[0][2] == ROOT
