"""The sim's nodes each have an address in its loopback block; Grafana's NodePort answers on
every one, productpage's hostPort only on its pod's node (the default, as on a cluster) or
everywhere (SimSpec.host_port_on_every_node)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stackcheck.sim.spec import SimSpec
from stackcheck.sim.stack import SimulatedStack, node_addresses

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = [ROOT / "manifests/applications/bookinfo-with-linkerd.yml"]


def started(tmp_path: Path, spec: SimSpec) -> Iterator[SimulatedStack]:
    sim = SimulatedStack(spec, tmp_path, MANIFESTS)
    try:
        sim.start()
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def every_node(tmp_path: Path) -> Iterator[SimulatedStack]:
    yield from started(tmp_path, SimSpec(prometheus_down=True, host_port_on_every_node=True))


@pytest.fixture
def pod_node_only(tmp_path: Path) -> Iterator[SimulatedStack]:
    yield from started(tmp_path, SimSpec(prometheus_down=True))


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2, allow_redirects=False)
    except requests.ConnectionError:
        return False
    return True


def test_nodes_have_their_own_addresses_and_pods_their_node_s(every_node: SimulatedStack) -> None:
    addresses = node_addresses(every_node.store)
    assert list(addresses) == ["sim-a-worker", "sim-b-worker", "sim-control-plane"]
    assert len(set(addresses.values())) == 3
    for pod in every_node.store.list_objects("v1", "Pod"):
        assert pod["status"]["hostIP"] == addresses[pod["spec"]["nodeName"]]


def test_node_port_and_host_port_answer_on_every_node(every_node: SimulatedStack) -> None:
    for address in node_addresses(every_node.store).values():
        assert (
            requests.get(f"http://{address}:30300/", timeout=5, allow_redirects=False).status_code
            == 302
        )
        assert requests.get(f"http://{address}:30080/productpage", timeout=5).status_code == 200


def test_host_port_only_on_the_pod_s_node_in_real_semantics(pod_node_only: SimulatedStack) -> None:
    addresses = node_addresses(pod_node_only.store)
    assert answers(f"http://{addresses['sim-control-plane']}:30080/productpage")
    assert not answers(f"http://{addresses['sim-a-worker']}:30080/productpage")
    assert answers(f"http://{addresses['sim-a-worker']}:30300/")  # a NodePort: everywhere
