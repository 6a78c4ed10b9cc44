"""The deploy's API calls (official client, dynamic client) are bounded and tried once;
a server that does not answer is one line naming it, and a gate keeps polling through it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import urllib3

from stackcheck.deploy import DeployError, KubeArgs, KubeCluster
from tests.scripted import ScriptedServer


def test_a_server_that_does_not_answer_fails_the_deploy_in_one_try(
    tmp_path: Path, serve: Callable[[list[int | str]], ScriptedServer]
) -> None:
    server = serve(["slow", "slow", "slow", "slow"])
    kubeconfig = server.kubeconfig(tmp_path)
    failure: list[BaseException] = []

    def connect() -> None:
        try:
            KubeCluster(KubeArgs(kubeconfig), tmp_path, request_seconds=0.3)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout=30)  # a bound, not a speed target: without timeouts it never ends
    assert not worker.is_alive(), "the dynamic client's discovery waited without a timeout"
    assert len(failure) == 1 and isinstance(failure[0], DeployError)
    assert "cannot reach the API server" in str(failure[0])
    assert "timed out" in str(failure[0]).lower()
    assert server.requests == 1  # tried once: urllib3's own retries are off


class _Silent:
    """A dynamic client whose every call times out, as over a dead connection."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise urllib3.exceptions.ReadTimeoutError(None, "/apis", "Read timed out.")

        return fail

    resources = property(lambda self: self)


def _cluster_over_a_dead_connection() -> KubeCluster:
    cluster = KubeCluster.__new__(KubeCluster)  # connected earlier; the server went away
    cluster._client = _Silent()
    return cluster


def test_gates_report_an_unanswered_read_and_poll_on() -> None:
    cluster = _cluster_over_a_dead_connection()
    workload = cluster.workload_ready("Deployment", "bookinfo", "productpage-v1")
    assert not workload.ok
    assert workload.reason.startswith(
        "reading Deployment bookinfo/productpage-v1: the API "
        "server did not answer (ReadTimeoutError"
    )
    crd = cluster.crd_established("linkerd.io", "ServiceProfile")
    assert not crd.ok and "listing CRDs: the API server did not answer" in crd.reason


def test_an_unanswered_apply_or_identity_read_stops_the_deploy_in_one_line() -> None:
    cluster = _cluster_over_a_dead_connection()
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo"}}
    with pytest.raises(
        DeployError,
        match=r"^apply Namespace bookinfo: the API server did "
        r"not answer \(ReadTimeoutError",
    ):
        cluster.apply(namespace, None)
    with pytest.raises(DeployError, match=r"^reading the identity certificates in linkerd: "):
        cluster.identity("linkerd")
