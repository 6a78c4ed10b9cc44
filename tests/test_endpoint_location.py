"""Where an endpoint is reached (reading.py): a hostPort at the hostIP of a Ready pod that
declares it, a NodePort at a Ready node's ExternalIP else InternalIP, --node-address and the
URL options over both; a refused connection names the address, the node and why."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from stackcheck.checks import model
from stackcheck.checks.model import ReadFailure
from stackcheck.reading import StackReader
from stackcheck.settings import Settings
from stackcheck.stackfile import Service
from tests.kubefakes import FakeKube, Obj, load, real_stack, status_of

WORKER, CONTROL_PLANE = "10.0.0.11", "10.0.0.10"


def node(name: str, ready: bool = True, **addresses: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": k, "address": v} for k, v in addresses.items()],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


class NodesKube(FakeKube):
    def list_all(self, path: str, **selectors: str | None) -> list[Obj]:
        if path == "/api/v1/nodes":
            return [o for o in self.objects if o["kind"] == "Node"]
        return super().list_all(path, **selectors)


def productpage(host_ip: str, node_name: str, ready: bool = True) -> Obj:
    """A Bookinfo pod whose app container declares hostPort 30080, on `node_name`."""
    pod = load("classic-sidecar-pod")
    pod["metadata"].update(name="productpage-v1-7f4d9cbb86-x2x9z", namespace="bookinfo")
    pod["spec"]["nodeName"] = node_name
    app = next(c for c in pod["spec"]["containers"] if c["name"] == "reviews")
    app["ports"] = [{"containerPort": 9080, "hostPort": 30080, "protocol": "TCP"}]
    pod["status"]["hostIP"] = host_ip
    if not ready:
        status_of(pod, "reviews")["ready"] = False
        for cond in pod["status"]["conditions"]:
            if cond["type"] == "Ready":
                cond["status"] = "False"
    return pod


NODES = (node("a-worker", InternalIP=WORKER), node("control-plane", InternalIP=CONTROL_PLANE))


def reader(*objects: Obj, settings: Settings | None = None, **services: Service) -> StackReader:
    stack = real_stack()
    stack = replace(stack, services={**stack.services, **services})
    return StackReader(stack, settings or Settings(request_timeout=2.0), NodesKube(*objects))  # type: ignore[arg-type]


def test_a_host_port_is_reached_on_its_pod_s_node_not_the_first_listed() -> None:
    found = reader(*NODES, productpage(CONTROL_PLANE, "control-plane")).located("productpage")
    assert found == (
        f"http://{CONTROL_PLANE}:30080",
        "hostIP of pod bookinfo/productpage-v1-7f4d9cbb86-x2x9z: node control-plane",
    )


def test_a_host_port_without_a_ready_pod_says_so() -> None:
    with pytest.raises(ReadFailure) as caught:
        reader(*NODES, productpage(CONTROL_PLANE, "control-plane", ready=False)).located(
            "productpage"
        )
    assert caught.value.reason.startswith(
        "hostPort 30080: pods declaring it are not Ready: bookinfo/productpage-v1-7f4d9cbb86-x2x9z"
    )


def test_a_node_port_prefers_a_ready_node_s_external_ip() -> None:
    nodes = (
        node("a-worker", ready=False, ExternalIP="203.0.113.9", InternalIP=WORKER),
        node("b-worker", InternalIP="10.0.0.12", ExternalIP="203.0.113.7"),
        node("control-plane", InternalIP=CONTROL_PLANE),
    )
    assert reader(*nodes).located("grafana") == (
        "http://203.0.113.7:30300",
        "ExternalIP of node b-worker",
    )
    assert reader(*NODES).located("grafana") == (
        f"http://{WORKER}:30300",
        "InternalIP of node a-worker",
    )


def test_node_address_and_url_options_win() -> None:
    pod = productpage(CONTROL_PLANE, "control-plane")
    by_address = reader(*NODES, pod, settings=Settings(node_address="192.0.2.1"))
    assert by_address.located("productpage") == ("http://192.0.2.1:30080", "--node-address")
    by_url = reader(*NODES, pod, settings=Settings(productpage_url="http://pp.example:80"))
    assert by_url.located("productpage") == ("http://pp.example:80", "")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_refused_connection_names_the_address_the_node_and_why() -> None:
    port = closed_port()
    pod = productpage("127.0.0.1", "control-plane")
    pod["spec"]["containers"][1]["ports"][0]["hostPort"] = port
    chosen = reader(*NODES, pod, productpage=Service("productpage", port, via="hostPort"))
    with pytest.raises(ReadFailure) as caught:
        chosen.http_get("productpage", "/productpage")
    reason = caught.value.reason
    assert f"127.0.0.1:{port}/productpage" in reason
    assert reason.endswith(
        "(hostIP of pod bookinfo/productpage-v1-7f4d9cbb86-x2x9z: node control-plane)"
    )


def test_each_sample_is_its_own_read() -> None:
    reads = [model.http_get("productpage", "/productpage", n) for n in range(3)]
    assert len(set(reads)) == 3 and reads[0] == model.http_get("productpage", "/productpage")
