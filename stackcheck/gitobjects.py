"""The objects the stack's manifests declare, each with the file and line it starts at (for
`::error file=,line=` annotations and drift messages that point into git)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackcheck.stackfile import manifest_documents

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "Node",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
    }
)


@dataclass(frozen=True)
class GitObject:
    kind: str
    name: str
    namespace: str | None  # None: cluster-scoped
    body: dict[str, Any]
    file: str  # as the stack file names it (relative to the project)
    line: int  # 1-based: the document's first key

    @property
    def ref(self) -> str:
        """`Deployment bookinfo/productpage-v1`, `Namespace bookinfo`."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def load_objects(root: Path, file: str, default_namespace: str) -> list[GitObject]:
    """Every object of one manifest file; a namespaced object without a namespace lands in
    the component's. Unreadable files yield nothing: the static suite reports them."""
    try:
        documents = manifest_documents(root / file)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    return [
        found for line, body in documents if (found := _object(body, file, line, default_namespace))
    ]


def _object(body: Any, file: str, line: int, default_namespace: str) -> GitObject | None:
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return None
    kind, name = body.get("kind"), body["metadata"].get("name")
    if not isinstance(kind, str) or not isinstance(name, str):
        return None
    namespace = (
        None
        if kind in CLUSTER_SCOPED
        else str(body["metadata"].get("namespace") or default_namespace)
    )
    return GitObject(kind, name, namespace, body, file, line)
