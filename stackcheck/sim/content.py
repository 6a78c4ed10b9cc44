"""What the simulated cluster holds before any controller runs: the chart-made objects in
`data/*.yml` (what cannot be derived offline), then the project's own manifests.

SimSpec edits that concern content are applied here, as they would be by a deploy that went
wrong: `missing_workloads` are never created, `unannotated_namespaces` lose the
`linkerd.io/inject` annotation, `unlabelled_podmonitors` lose the `release` label.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import yaml

from stackcheck.sim.spec import SimSpec

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


def read_objects(path: Path) -> Iterator[dict[str, Any]]:
    """The non-empty documents of a multi-document YAML file; ValueError names the culprit."""
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
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
    missing = [key for key, value in (("apiVersion", document.get("apiVersion")),
                                      ("kind", document.get("kind")),
                                      ("metadata.name", name)) if not value]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    return document


def _edited(obj: dict[str, Any], spec: SimSpec) -> dict[str, Any] | None:
    """The object as the faulty deploy would have left it; None: never created."""
    kind, meta = obj["kind"], obj["metadata"]
    if kind in WORKLOAD_KINDS and meta["name"] in spec.missing_workloads:
        return None
    if kind == "Namespace" and meta["name"] in spec.unannotated_namespaces:
        annotations = {key: value for key, value in (meta.get("annotations") or {}).items()
                       if key != INJECT_ANNOTATION}
        return {**obj, "metadata": {**meta, "annotations": annotations}}
    if kind == "PodMonitor" and meta["name"] in spec.unlabelled_podmonitors:
        labels = {key: value for key, value in (meta.get("labels") or {}).items()
                  if key != RELEASE_LABEL}
        return {**obj, "metadata": {**meta, "labels": labels}}
    return obj
