"""What lists of pods are decoded to: the fields that the checks, the report and a
diagnosis's first read take from a pod, as msgspec Structs (kube.list_kind(view=PodView)),
then turned into dicts (as_pod) for the checks, which read pods as they read any object.

Kept for speed at scale (bench/run.py, "10,000 pods"): a 10,000-pod list is ~90 MB of JSON;
decoded whole it is millions of dicts. The view skips the rest without building it (env,
volumes, managedFields, all but one label and one annotation).

A check that starts to read another field of a pod must add it here; tests/test_pod_view.py
holds the view to the fields that checks/pods.py and checks/mesh.py read.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

Obj = dict[str, Any]
TEMPLATE_HASH = "pod-template-hash"  # the label a Deployment's ReplicaSet puts on its pods
PROXY_VERSION = "linkerd.io/proxy-version"  # the injector's annotation on a meshed pod


class _Part(msgspec.Struct, gc=False):
    """Every part of the view: not tracked by the cyclic collector (a view holds no
    cycle). A field absent from the answer stays UNSET (falsy) and absent from as_pod."""


class _Owner(_Part):
    kind: Any = UNSET
    name: Any = UNSET
    controller: Any = UNSET


class _Labels(_Part, rename={"template_hash": TEMPLATE_HASH}):
    template_hash: Any = UNSET


class _Annotations(_Part, rename={"proxy_version": PROXY_VERSION}):
    proxy_version: Any = UNSET


class _PodMeta(_Part):
    name: Any = UNSET
    namespace: Any = UNSET
    labels: _Labels | UnsetType | None = UNSET
    annotations: _Annotations | UnsetType | None = UNSET
    ownerReferences: list[_Owner] | UnsetType | None = UNSET
    deletionTimestamp: Any = UNSET


class _Container(_Part):
    name: Any = UNSET
    image: Any = UNSET
    restartPolicy: Any = UNSET


class _PodSpec(_Part):
    nodeName: Any = UNSET
    containers: list[_Container] | UnsetType | None = UNSET
    initContainers: list[_Container] | UnsetType | None = UNSET


class _Condition(_Part):
    type: Any = UNSET
    status: Any = UNSET
    reason: Any = UNSET
    message: Any = UNSET


class _ContainerStatus(_Part):
    name: Any = UNSET
    ready: Any = UNSET
    restartCount: Any = UNSET
    state: Any = UNSET
    lastState: Any = UNSET


class _PodStatus(_Part):
    phase: Any = UNSET
    reason: Any = UNSET
    message: Any = UNSET
    podIP: Any = UNSET
    conditions: list[_Condition] | UnsetType | None = UNSET
    containerStatuses: list[_ContainerStatus] | UnsetType | None = UNSET
    initContainerStatuses: list[_ContainerStatus] | UnsetType | None = UNSET


class PodView(_Part):
    metadata: _PodMeta | UnsetType | None = UNSET
    spec: _PodSpec | UnsetType | None = UNSET
    status: _PodStatus | UnsetType | None = UNSET


Pod = PodView | Obj  # a list's pod: its view, or the whole pod where the view did not fit


def as_pod(pod: Pod) -> Obj:
    """The pod as a dict, as the checks read whole pods: a view's fields, or the pod."""
    if isinstance(pod, PodView):
        found: Obj = msgspec.to_builtins(pod)
        return found
    return pod
