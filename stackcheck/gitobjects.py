"""The objects the stack's manifests declare, each with the file and line it starts at (for
`::error file=,line=` annotations and drift messages that point into git)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackcheck.stackfile import node_loader

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
        text = (root / file).read_text(encoding="utf-8")
        return list(_objects(text, file, default_namespace))
    except (OSError, yaml.YAMLError):
        return []


def _objects(text: str, file: str, default_namespace: str) -> Iterator[GitObject]:
    loader = node_loader(text)(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            body = loader.construct_document(node)
            if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
                continue
            kind, name = body.get("kind"), body["metadata"].get("name")
            if not isinstance(kind, str) or not isinstance(name, str):
                continue
            namespace = (
                None
                if kind in CLUSTER_SCOPED
                else str(body["metadata"].get("namespace") or default_namespace)
            )
            yield GitObject(kind, name, namespace, body, file, node.start_mark.line + 1)
    finally:
        loader.dispose()
