"""Deploy mode against the simulated stack: our manifests go in by server-side apply, a second
deploy changes nothing, and verification runs with the read-only ServiceAccount only."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from stackcheck.deploy import KubeArgs, deploy_manifests
from stackcheck.kube import ApiFailure, Kube, KubeTarget, load_configuration
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.stack import SimHandle, SimulatedStack
from stackcheck.stackfile import load_stack
from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SimulatedStack, SimHandle, list[str]]]:
    stack = load_stack(ROOT / "stack.yml")
    versions: list[str] = []

    def deploy_twice(admin: Path) -> None:
        ADMIN_KUBECONFIGS.append(admin)
        for _ in range(2):
            deploy_manifests(stack, ROOT, KubeArgs(admin, None), gate_seconds=30)
            versions.append(sim.store.resource_version)

    manifests = [ROOT / m for c in stack.components for m in c.manifests]
    sim = SimulatedStack(
        SimSpec(prometheus_down=True), tmp_path_factory.mktemp("sim"), manifests, deploy_twice
    )
    handle = sim.start()
    yield sim, handle, versions
    sim.stop()


ADMIN_KUBECONFIGS: list[Path] = []  # the kubeconfig each deploy was given


def test_deploy_keeps_no_discovery_cache_in_tmp(
    deployed: tuple[SimulatedStack, SimHandle, list[str]],
) -> None:
    """Not the official client's default cache (a file in /tmp named after the server's
    address): a cluster recreated at that address would be deployed with stale API groups."""
    from kubernetes import client, config

    settings = client.Configuration()
    config.load_kube_config(
        str(ADMIN_KUBECONFIGS[-1]), client_configuration=settings, persist_config=False
    )
    digest = hashlib.md5(settings.host.encode(), usedforsecurity=False).hexdigest()
    assert not (Path(tempfile.gettempdir()) / f"osrcp-{digest}.json").exists()


def _kube(kubeconfig: Path) -> Kube:
    return Kube(load_configuration(KubeTarget(kubeconfig, None, 5.0)), 5.0)


def test_deploy_applies_our_manifests(
    deployed: tuple[SimulatedStack, SimHandle, list[str]],
) -> None:
    sim, _, _ = deployed
    names = {
        d["metadata"]["name"] for d in sim.store.list_objects("apps/v1", "Deployment", "bookinfo")
    }
    assert {"productpage-v1", "details-v1", "reviews-v3", "traffic-generator"} <= names
    pod = sim.store.list_objects("v1", "Pod", "bookinfo")[0]
    assert pod["metadata"]["annotations"].get("linkerd.io/proxy-version"), pod["metadata"]
    managers = {
        m.get("manager")
        for m in sim.store.get_object("apps/v1", "Deployment", "bookinfo", "ratings-v1")[
            "metadata"
        ].get("managedFields", [])
    }
    assert "stackcheck" in managers


def test_second_deploy_changes_nothing(
    deployed: tuple[SimulatedStack, SimHandle, list[str]],
) -> None:
    _, _, versions = deployed
    first, second = versions
    assert first == second, f"the second deploy changed objects: rv {first} -> {second}"


def test_verifier_may_read_but_not_write_or_read_secrets(
    deployed: tuple[SimulatedStack, SimHandle, list[str]],
) -> None:
    _, handle, _ = deployed
    verifier = _kube(handle.kubeconfig)
    assert verifier.list_kind("Pod", "bookinfo")
    with pytest.raises(ApiFailure, match="403"):
        verifier.list_all("/api/v1/namespaces/bookinfo/secrets")
    token = yaml.safe_load(handle.kubeconfig.read_text())["users"][0]["user"]["token"]
    created = requests.post(
        f"{handle.api_url}/api/v1/namespaces/bookinfo/configmaps",
        json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "should-not-exist"}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
        verify=str(handle.ca_file) if handle.ca_file else True,
    )
    assert created.status_code == 403, created.text
    assert handle.admin_kubeconfig is not None
    admin = _kube(handle.admin_kubeconfig)
    assert admin.list_all("/api/v1/namespaces/bookinfo/secrets") == []


def test_suite_passes_after_deploy_under_read_only_account(tmp_path: Path) -> None:
    done = subprocess.run(
        suite_command(
            "--ignore",
            "suites/static",
            "--target",
            "sim",
            "--deploy",
            "--wait",
            "10",
            "--html-report",
            "false",
            "--report-dir",
            str(tmp_path),
            "-q",
            "-p",
            "no:randomly",
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "applied 15 object(s) from bookinfo-with-linkerd.yml" in done.stdout
