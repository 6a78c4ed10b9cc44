"""Where the stack runs (--target): a cluster from a kubeconfig, a throwaway kind cluster, or
the sim; open_stack() makes it ready to verify."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from stackcheck.errors import UsageError
from stackcheck.opened import OpenedStack
from stackcheck.settings import Settings
from stackcheck.stackfile import Stack

EXTRA_PODS_ENV = "STACKCHECK_SIM_EXTRA_PODS"


def open_stack(settings: Settings, stack: Stack, root: Path) -> OpenedStack:
    if settings.target == "sim":
        return _open_sim(settings, stack, root)
    if settings.target == "kind":
        from stackcheck.kind import open_kind

        return open_kind(settings, stack, root)
    if settings.deploy:
        _deploy(settings, stack, root)
    return OpenedStack(settings)


def _deploy(settings: Settings, stack: Stack, root: Path) -> None:
    """Explicit deploy mode: the only path that writes to the cluster."""
    from stackcheck.deploy import DeployError, KubeArgs, deploy

    try:
        deploy(stack, root, KubeArgs(settings.kubeconfig, settings.kube_context), log=print)
    except DeployError as exc:
        raise UsageError(f"--deploy: {exc}") from None


def _open_sim(settings: Settings, stack: Stack, root: Path) -> OpenedStack:
    from stackcheck.deploy import DeployError
    from stackcheck.sim.faults import BY_NAME, build_spec
    from stackcheck.sim.stack import SimError, SimulatedStack

    unknown = [name for name in settings.sim_faults if name not in BY_NAME]
    if unknown:
        raise UsageError(
            f"--sim-fault (or STACKCHECK_SIM_FAULTS): unknown fault "
            f"{unknown[0]!r} (known: "
            f"{', '.join(sorted(BY_NAME))})"
        )
    spec = build_spec(list(settings.sim_faults))
    spec.extra_pods = _extra_pods()
    workdir = Path(tempfile.mkdtemp(prefix="stackcheck-sim-"))
    manifests = [root / m for c in stack.components for m in c.manifests]
    deployer = _sim_deployer(stack, root) if settings.deploy else None
    sim = SimulatedStack(spec, workdir, manifests, deployer)
    opened = OpenedStack(settings, [lambda: shutil.rmtree(workdir, ignore_errors=True)])
    try:
        handle = sim.start()
    except (SimError, DeployError) as exc:
        sim.stop()
        opened.close()
        raise UsageError(f"--target sim: {exc}") from None
    except BaseException:  # a UsageError from the deployer, an interrupt: nothing left running
        sim.stop()
        opened.close()
        raise
    opened.closers.append(sim.stop)
    # the endpoints are found as on a cluster (hostPort at its pod's node, NodePort on a
    # node: reading.py), on the node addresses the sim listens on; --<name>-url still wins
    opened.settings = replace(settings, kubeconfig=handle.kubeconfig, kube_context=None)
    return opened


def _extra_pods() -> int:
    """STACKCHECK_SIM_EXTRA_PODS (hidden, for bench/): a sim this many pods larger."""
    raw = os.environ.get(EXTRA_PODS_ENV, "").strip() or "0"
    try:
        count = int(raw)
    except ValueError:
        count = -1
    if count < 0:
        raise UsageError(f"{EXTRA_PODS_ENV}: expected a number of pods >= 0, got {raw!r}")
    return count


def _sim_deployer(stack: Stack, root: Path) -> Callable[[Path], None]:
    """Our manifests, applied to the sim through its API by server-side apply."""
    from stackcheck.deploy import KubeArgs, deploy_manifests

    def deploy(admin_kubeconfig: Path) -> None:
        summary = deploy_manifests(stack, root, KubeArgs(admin_kubeconfig, None), gate_seconds=60)
        for line in summary.lines:
            print(f"deploy: {line}")

    return deploy
