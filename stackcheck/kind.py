"""`--target kind`: a throwaway kind cluster with the stack deployed on it.

Drives the `kind` CLI through a `Runner` (see stackcheck.deploy) rather than pytest-kind-ng:
its `KindCluster` downloads kind/kubectl binaries at run time, imports pykube, and calls
subprocess directly, so the exact commands could not be captured in tests.

The cluster is one control-plane node whose NodePort/hostPort services (stack.yml
`services` with a `port` and no `service`) are mapped to the same ports on 127.0.0.1.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from stackcheck.deploy import (
    Cluster,
    DeployError,
    KubeArgs,
    Runner,
    SubprocessRunner,
    Summary,
    deploy,
    require_tools,
    run_checked,
)
from stackcheck.errors import UsageError
from stackcheck.opened import OpenedStack
from stackcheck.settings import Settings
from stackcheck.stackfile import Stack

CLUSTER_NAME = "stackcheck"
# kind v0.24.0's image for Kubernetes 1.28: Linkerd stable-2.14 supports 1.21-1.28.
NODE_IMAGE = (
    "kindest/node:v1.28.13@sha256:45d319897776e11167e4698f6b14938eb4d52eb381d9e3d7a9086c16c69a8110"
)
CREATE_TIMEOUT = 600.0

Deployer = Callable[[Stack, Path, KubeArgs], Summary]


def host_ports(stack: Stack) -> list[int]:
    """Ports reached on the node address: NodePorts and hostPorts of the stack file."""
    return sorted({s.port for s in stack.services.values() if s.proxied is None})


def kind_config(stack: Stack) -> dict[str, Any]:
    mappings = [
        {"containerPort": port, "hostPort": port, "listenAddress": "127.0.0.1", "protocol": "TCP"}
        for port in host_ports(stack)
    ]
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane", "extraPortMappings": mappings}],
    }


def create_commands(
    name: str, config: Path, kubeconfig: Path, image: str = NODE_IMAGE
) -> list[list[str]]:
    return [
        [
            "kind",
            "create",
            "cluster",
            "--name",
            name,
            "--image",
            image,
            "--config",
            str(config),
            "--kubeconfig",
            str(kubeconfig),
            "--wait",
            "120s",
        ]
    ]


def delete_command(name: str, kubeconfig: Path) -> list[str]:
    return ["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)]


def open_kind(
    settings: Settings,
    stack: Stack,
    root: Path,
    runner: Runner | None = None,
    deployer: Deployer | None = None,
    name: str = CLUSTER_NAME,
    workdir: Path | None = None,
) -> OpenedStack:
    """Create (or reuse) the kind cluster, deploy the stack, return it opened."""
    runner = runner or SubprocessRunner()
    require_tools(runner, ["kind", "helm"])
    workdir = workdir or Path(tempfile.mkdtemp(prefix="stackcheck-kind-"))
    config, kubeconfig = workdir / "kind-config.yml", workdir / "kubeconfig"
    config.write_text(yaml.safe_dump(kind_config(stack), sort_keys=False), encoding="utf-8")
    target = OpenedStack(settings)
    if not settings.keep_cluster:  # a kept cluster keeps its kubeconfig too
        target.closers.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    try:
        existing = run_checked(runner, ["kind", "get", "clusters"], "kind", 60).stdout.split()
        if name in existing:
            run_checked(
                runner,
                ["kind", "export", "kubeconfig", "--name", name, "--kubeconfig", str(kubeconfig)],
                "kind",
                60,
            )
        else:
            for argv in create_commands(name, config, kubeconfig):
                run_checked(runner, argv, "kind", CREATE_TIMEOUT)
        if not settings.keep_cluster:
            target.closers.append(lambda: _delete(runner, name, kubeconfig))
        context = f"kind-{name}"
        (deployer or _deployer(runner))(stack, root, KubeArgs(kubeconfig, context))
    except (DeployError, UsageError) as exc:
        target.close()
        raise UsageError(f"--target kind: {exc}") from None
    target.settings = replace(
        settings, kubeconfig=kubeconfig, kube_context=context, node_address="127.0.0.1"
    )
    return target


def _deployer(runner: Runner, cluster: Cluster | None = None) -> Deployer:
    def run(stack: Stack, root: Path, kube: KubeArgs) -> Summary:
        return deploy(stack, root, kube, runner, cluster)

    return run


def _delete(runner: Runner, name: str, kubeconfig: Path) -> None:
    runner.run(delete_command(name, kubeconfig), 300)  # best effort: teardown never masks
