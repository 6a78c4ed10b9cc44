"""The sim's objects have the shape of real API objects.

Each file in tests/data/golden/ is a real object's shape (sources cited in its header). Every
key path of the golden must exist in the matching sim object with a value of the same type;
values may differ. List items are matched by `name` (containers, statuses, env, ports,
volumes) or `type` (conditions); other lists are compared as the union of their items.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.sim.spec import PodFault, SimSpec
from tests.sim.test_controller import FakeStore, condition, pod_of, sim

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
BY_NAME = {
    "containers",
    "initContainers",
    "containerStatuses",
    "initContainerStatuses",
    "env",
    "ports",
    "volumes",
    "volumeMounts",
}
Paths = dict[str, str]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _item_key(parent: str, item: Any) -> str:
    if isinstance(item, dict) and parent in BY_NAME and "name" in item:
        # the service-account token volume carries a random suffix
        return f"[name={re.sub(r'^kube-api-access-.*', 'kube-api-access-*', item['name'])}]"
    if isinstance(item, dict) and parent == "conditions" and "type" in item:
        return f"[type={item['type']}]"
    return "[]"


def key_paths(value: Any, prefix: str = "", parent: str = "") -> Paths:
    """Every key path in `value`, with the type of the value found there."""
    paths: Paths = {}
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}"
            paths[path] = _kind(child)
            paths.update(key_paths(child, path, key))
    elif isinstance(value, list):
        for item in value:
            path = prefix + _item_key(parent, item)
            paths[path] = _kind(item)
            paths.update(key_paths(item, path, parent))
    return paths


def shape_mismatches(golden: Any, actual: Any) -> list[str]:
    have = key_paths(actual)
    problems = []
    for path, kind in key_paths(golden).items():
        if path not in have:
            problems.append(f"missing {path}")
        elif kind != "null" and have[path] != kind:
            problems.append(f"{path}: {have[path]} instead of {kind}")
    return problems


def _golden(name: str) -> Any:
    return yaml.safe_load((GOLDEN / name).read_text(encoding="utf-8"))


def _heartbeat_pod(store: Any) -> Any:
    return next(
        p
        for p in store.list_objects("v1", "Pod", "linkerd")
        if p["metadata"]["name"].startswith("linkerd-heartbeat-")
    )


CASES: dict[str, Callable[[], Any]] = {
    "injected-bookinfo-pod.yml": lambda: pod_of(sim(FakeStore), "bookinfo", "details-v1"),
    "native-sidecar-pod.yml": lambda: pod_of(
        sim(FakeStore, SimSpec(native_sidecars=True)), "bookinfo", "details-v1"
    ),
    "crashloop-pod.yml": lambda: pod_of(
        sim(FakeStore, SimSpec(pod_faults={"details-v1": PodFault.CRASH_LOOP})),
        "bookinfo",
        "details-v1",
    ),
    "deployment-status.yml": lambda: sim(FakeStore).get_object(
        "apps/v1", "Deployment", "bookinfo", "productpage-v1"
    ),
    "completed-job-pod.yml": lambda: _heartbeat_pod(sim(FakeStore, SimSpec(heartbeat_jobs=1))),
}


def test_every_golden_file_has_a_case() -> None:
    assert sorted(p.name for p in GOLDEN.glob("*.yml")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sim_object_has_the_golden_shape(name: str) -> None:
    assert shape_mismatches(_golden(name), CASES[name]()) == []


def test_shape_check_catches_a_missing_key_and_a_wrong_type() -> None:
    golden = {"status": {"conditions": [{"type": "Ready", "status": "True"}], "phase": "x"}}
    actual = {"status": {"conditions": [{"type": "Ready"}], "phase": 1}}
    assert shape_mismatches(golden, actual) == [
        "missing .status.conditions[type=Ready].status",
        ".status.phase: int instead of str",
    ]


def test_completed_pod_condition_reason() -> None:
    pod = _heartbeat_pod(sim(FakeStore, SimSpec(heartbeat_jobs=1)))
    assert condition(pod, "Ready")["reason"] == "PodCompleted"
