"""What lists of pods are decoded to: the fields that the checks, the report and a
diagnosis take from a pod, as TypedDicts (kube.list_kind(view=PodView)): msgspec decodes
them straight to plain dicts holding those fields only, which checks read as any object.

Kept for speed at scale (bench/run.py, "10,000 pods"): a 10,000-pod list is ~90 MB of JSON;
decoded whole it is millions of dicts, and decoding it whole and freeing it took most of the
suite's time. The view skips the rest without building it (volumes, managedFields, all
labels and annotations but one each). Structs with a conversion to dicts cost more than they
saved (the conversion alone ~0.9 s at 10,000 pods).

A container's env stays raw JSON (`msgspec.Raw`) until `container_env` reads it: a meshed
pod's proxy has ~23 variables, a quarter of its bytes, and decoding them for every pod cost
~90 ms at 10,000 pods, while one check reads one of them and a template's pods share them.

A check that starts to read another field of a pod must add it here; tests/test_pod_view.py
holds the view to the fields that checks/pods.py and checks/mesh.py read.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypedDict

import msgspec

# Every field is optional (total=False): one absent from the answer is absent from the dict.
_Labels = TypedDict("_Labels", {"pod-template-hash": Any}, total=False)
_Annotations = TypedDict("_Annotations", {"linkerd.io/proxy-version": Any}, total=False)


class _Owner(TypedDict, total=False):
    kind: Any
    name: Any
    controller: Any


class _PodMeta(TypedDict, total=False):
    name: Any
    namespace: Any
    labels: _Labels | None
    annotations: _Annotations | None
    ownerReferences: list[_Owner] | None
    deletionTimestamp: Any


class _Port(TypedDict, total=False):
    containerPort: Any
    hostPort: Any


class _Container(TypedDict, total=False):
    name: Any
    image: Any
    restartPolicy: Any
    env: msgspec.Raw  # the proxy's trust anchors (checks/identity.py): see container_env
    ports: list[_Port] | None  # hostPort: where an endpoint is (reading.py)


class _PodSpec(TypedDict, total=False):
    nodeName: Any
    containers: list[_Container] | None
    initContainers: list[_Container] | None


class _Condition(TypedDict, total=False):
    type: Any
    status: Any
    reason: Any
    message: Any


class _ContainerStatus(TypedDict, total=False):
    name: Any
    ready: Any
    restartCount: Any
    state: Any
    lastState: Any


class _PodStatus(TypedDict, total=False):
    phase: Any
    reason: Any
    message: Any
    podIP: Any
    hostIP: Any
    conditions: list[_Condition] | None
    containerStatuses: list[_ContainerStatus] | None
    initContainerStatuses: list[_ContainerStatus] | None


class PodView(TypedDict, total=False):
    metadata: _PodMeta | None
    spec: _PodSpec | None
    status: _PodStatus | None


def container_env(container: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A container's env entries, from a whole pod or a PodView (raw there: decoded once per
    distinct text, so the list is shared: read it, do not change it)."""
    env = container.get("env")
    if isinstance(env, msgspec.Raw):
        return _decoded_env(bytes(env))
    return env if isinstance(env, list) else []


@lru_cache(maxsize=1024)
def _decoded_env(raw: bytes) -> list[dict[str, Any]]:
    try:
        env = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return []
    return [e for e in env if isinstance(e, dict)] if isinstance(env, list) else []


def env_entry(container: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """A container's env entry `name` (as container_env; looked up once per distinct text)."""
    env = container.get("env")
    if isinstance(env, msgspec.Raw):
        return _entry_in(bytes(env), name)
    return _entry(container_env(container), name)


@lru_cache(maxsize=1024)
def _entry_in(raw: bytes, name: str) -> dict[str, Any] | None:
    return _entry(_decoded_env(raw), name)


def _entry(env: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The last entry of that name: a variable defined twice takes its later value."""
    return next((e for e in reversed(env) if e.get("name") == name), None)
