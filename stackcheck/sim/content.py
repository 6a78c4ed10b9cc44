"""What the simulated cluster holds before any controller runs: the chart-made objects in
`data/*.yml` (what cannot be derived offline), then the project's own manifests.

SimSpec edits that concern content are applied here, as they would be by a deploy that went
wrong: `missing_workloads` are never created, `unannotated_namespaces` lose the
`linkerd.io/inject` annotation, `unlabelled_podmonitors` lose the `release` label,
`drifted_fields` are patched away from git and `stray_objects` are applied too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import yaml

from stackcheck.sim.spec import SimSpec
from stackcheck.stackfile import yaml_load_all

DATA_DIR = Path(__file__).resolve().parent / "data"
INJECT_ANNOTATION = "linkerd.io/inject"
RELEASE_LABEL = "release"  # what kube-prometheus-stack's default PodMonitor selector matches
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"})


class Applier(Protocol):
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]: ...


def data_files() -> list[Path]:
    """The chart-made objects, in name order (the CRD file sorts before its users)."""
    return sorted(DATA_DIR.glob("*.yml"))


def load_content(store: Applier, manifest_paths: list[Path], spec: SimSpec) -> None:
    """Apply data files, then every document of `manifest_paths`, honouring `spec`."""
    for path in [*data_files(), *manifest_paths]:
        for obj in read_objects(path):
            edited = _edited(obj, spec)
            if edited is not None:
                store.apply(edited)
    for stray in spec.stray_objects:
        store.apply(json.loads(json.dumps(stray)))


def read_objects(path: Path) -> Iterator[dict[str, Any]]:
    """The non-empty documents of a multi-document YAML file; ValueError names the culprit."""
    try:
        # as kubectl reads them, on libyaml's parser (every sim start reads ~100 documents)
        documents = yaml_load_all(path.read_text(encoding="utf-8"), "lenient")
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {exc}") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    for index, document in enumerate(documents):
        if document is None:
            continue
        yield _checked(document, path, index)


def _checked(document: object, path: Path, index: int) -> dict[str, Any]:
    where = f"{path} document {index}"
    if not isinstance(document, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(document).__name__}")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    missing = [
        key
        for key, value in (
            ("apiVersion", document.get("apiVersion")),
            ("kind", document.get("kind")),
            ("metadata.name", name),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    return document


CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def _is_control_plane(node: dict[str, Any]) -> bool:
    return CONTROL_PLANE_LABEL in (node["metadata"].get("labels") or {})


def _unplaced(workload: dict[str, Any]) -> dict[str, Any]:
    """The workload as its chart renders it without our placement values: no control-plane
    nodeSelector, no toleration of the control-plane taint."""
    edited: dict[str, Any] = json.loads(json.dumps(workload))
    spec = edited["spec"]
    if edited["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec["template"]["spec"]
    selector = {
        k: v for k, v in (pod.get("nodeSelector") or {}).items() if k != CONTROL_PLANE_LABEL
    }
    tolerations = [t for t in pod.get("tolerations") or [] if t.get("key") != CONTROL_PLANE_LABEL]
    for key, value in (("nodeSelector", selector), ("tolerations", tolerations)):
        if value:
            pod[key] = value
        else:
            pod.pop(key, None)
    return edited


def _edited(obj: dict[str, Any], spec: SimSpec) -> dict[str, Any] | None:
    """The object as the faulty deploy would have left it; None: never created."""
    kind, meta = obj["kind"], obj["metadata"]
    patch = spec.drifted_fields.get(f"{kind}/{meta['name']}")
    if patch:
        obj = _patched(obj, patch)
    if kind in WORKLOAD_KINDS and meta["name"] in spec.missing_workloads:
        return None
    if kind == "Node" and spec.control_plane_only and not _is_control_plane(obj):
        return None
    if kind in WORKLOAD_KINDS and meta["name"] in spec.unplaced_workloads:
        return _unplaced(obj)
    if kind == "Namespace" and meta["name"] in spec.unannotated_namespaces:
        annotations = {
            key: value
            for key, value in (meta.get("annotations") or {}).items()
            if key != INJECT_ANNOTATION
        }
        return {**obj, "metadata": {**meta, "annotations": annotations}}
    if kind == "PodMonitor" and meta["name"] in spec.unlabelled_podmonitors:
        labels = {
            key: value for key, value in (meta.get("labels") or {}).items() if key != RELEASE_LABEL
        }
        return {**obj, "metadata": {**meta, "labels": labels}}
    return obj


_STEP = re.compile(r'\.?([A-Za-z0-9_-]+)|\[([^\]=]+)=([^\]]+)\]|\["([^"]+)"\]')


def _patched(obj: dict[str, Any], patch: dict[str, object]) -> dict[str, Any]:
    """A copy of `obj` with each path set (None: removed), as `kubectl patch` leaves it."""
    edited: dict[str, Any] = json.loads(json.dumps(obj))
    for path, value in patch.items():
        steps = [m.groups() for m in _STEP.finditer(path)]
        node: Any = edited
        for key, list_key, list_value, quoted in steps[:-1]:
            if list_key is not None:
                node = next(i for i in node if str(i.get(list_key)) == list_value)
            else:
                node = node[key or quoted]
        last, _, _, quoted = steps[-1]
        if value is None:
            node.pop(last or quoted, None)
        else:
            node[last or quoted] = value
    return edited
