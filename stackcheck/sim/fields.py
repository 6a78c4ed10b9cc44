"""Field ownership for server-side apply, as kube-apiserver tracks it in managedFields.

A field set is a set of paths; a path is a tuple of elements: `("f", name)` for an object
field, `("k", name)` for the item of a list of objects keyed by `name` (containers, ports,
env, volumes...). Other lists are atomic (one leaf). Sets are written as FieldsV1
(`{"f:spec": {"f:replicas": {}}}`), and a conflict is a field another manager owns with a
different value, worded as kube-apiserver words it (k8s.io/apimachinery
pkg/util/managedfields/internal/conflict.go; paths as structured-merge-diff prints them).
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]
Element = tuple[str, str]
Path = tuple[Element, ...]
# what the server owns or the URL names: never a manager's field
SERVER_OWNED: frozenset[Path] = frozenset(
    {
        (("f", "apiVersion"),),
        (("f", "kind"),),
        (("f", "status"),),
        (("f", "metadata"), ("f", "name")),
        (("f", "metadata"), ("f", "namespace")),
        (("f", "metadata"), ("f", "uid")),
        (("f", "metadata"), ("f", "resourceVersion")),
        (("f", "metadata"), ("f", "creationTimestamp")),
        (("f", "metadata"), ("f", "generation")),
        (("f", "metadata"), ("f", "managedFields")),
    }
)


def field_set(obj: Obj) -> set[Path]:
    """The leaf paths of `obj` (an applied configuration or a live object)."""
    found: set[Path] = set()
    _walk(obj, (), found)
    return {p for p in found if not any(p[: len(s)] == s for s in SERVER_OWNED)}


def _keyed(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
    )


def _walk(value: Any, path: Path, found: set[Path]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _walk(inner, (*path, ("f", str(key))), found)
    elif isinstance(value, list) and _keyed(value):
        for item in value:
            for key, inner in item.items():
                _walk(inner, (*path, ("k", item["name"]), ("f", str(key))), found)
    else:
        found.add(path)


def value_at(obj: Any, path: Path) -> Any:
    current = obj
    for kind, name in path:
        if kind == "f":
            current = current.get(name) if isinstance(current, dict) else None
        else:
            items = current if isinstance(current, list) else []
            current = next(
                (i for i in items if isinstance(i, dict) and i.get("name") == name), None
            )
        if current is None:
            return None
    return current


def to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for kind, name in path:
            key = (
                f"f:{name}"
                if kind == "f"
                else "k:" + json.dumps({"name": name}, separators=(",", ":"))
            )
            node = node.setdefault(key, {})
            if kind == "k":
                node.setdefault(".", {})
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not isinstance(tree, dict):
        return paths
    for key, inner in tree.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            element: Element = ("f", key[2:])
        elif key.startswith("k:"):
            try:
                element = ("k", str(json.loads(key[2:]).get("name", key[2:])))
            except (ValueError, AttributeError):
                element = ("f", key)
        else:
            element = ("f", key)
        path = (*prefix, element)
        children = (
            {k: v for k, v in (inner or {}).items() if k != "."} if isinstance(inner, dict) else {}
        )
        if children:
            paths |= from_fields_v1(children, path)
        elif element[0] == "f":
            paths.add(path)
    return paths


def path_string(path: Path) -> str:
    """`.spec.replicas`, `.spec.template.spec.containers[name="app"].image`."""
    text = ""
    for kind, name in path:
        text += f".{name}" if kind == "f" else f"[name={json.dumps(name)}]"
    return text


def manager_text(entry: Obj) -> str:
    """How the conflict message names a manager (printManager)."""
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
        if entry.get("time"):
            text += f" at {entry['time']}"
    return text


def conflicts(applied: Obj, live: Obj, manager: str) -> list[tuple[Obj, Path]]:
    """(owner entry, path) for each field of `applied` that another manager owns in `live`
    with a different value."""
    wanted = field_set(applied)
    found = []
    for entry in live["metadata"].get("managedFields") or []:
        if (entry.get("manager"), entry.get("operation")) == (manager, "Apply"):
            continue
        for path in sorted(wanted & from_fields_v1(entry.get("fieldsV1"))):
            if value_at(applied, path) != value_at(live, path):
                found.append((entry, path))
    return found


def conflict_status(found: list[tuple[Obj, Path]]) -> tuple[str, Obj]:
    """The 409's message and details, as NewConflictError writes them."""
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {manager_text(e)}",
            "field": path_string(p),
        }
        for e, p in found
    ]
    if len(found) == 1:
        entry, path = found[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {manager_text(entry)}: "
            f"{path_string(path)}"
        )
    else:
        by_manager: dict[str, list[Path]] = {}
        for entry, path in found:
            by_manager.setdefault(manager_text(entry), []).append(path)
        lines = []
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines.extend(f"- {path_string(p)}" for p in by_manager[manager])
        message = f"Apply failed with {len(found)} conflicts: " + "\n".join(lines)
    return message, {"causes": causes}


def managed_entries(
    before: Obj | None,
    after: Obj,
    manager: str,
    operation: str,
    applied: Obj | None,
    api_version: str,
    now: str,
) -> list[Obj]:
    """managedFields after a write: an Apply owns what it applied; an Update owns what it
    changed; either takes the fields it changed away from every other manager."""
    old_meta = (before or {}).get("metadata") or {}
    entries = [dict(e) for e in old_meta.get("managedFields") or []]
    if applied is not None:
        mine = field_set(applied)
        changed = {p for p in mine if value_at(after, p) != value_at(before, p)} if before else mine
    else:
        after_fields = field_set(after)
        changed = {
            p
            for p in after_fields | field_set(before or {})
            if value_at(after, p) != value_at(before, p)
        } & after_fields
        own = next(
            (e for e in entries if (e.get("manager"), e.get("operation")) == (manager, operation)),
            None,
        )
        mine = changed | (from_fields_v1(own.get("fieldsV1")) if own else set())
    result = []
    for entry in entries:
        if (entry.get("manager"), entry.get("operation")) == (manager, operation):
            continue
        kept = from_fields_v1(entry.get("fieldsV1")) - changed
        if kept:
            result.append({**entry, "fieldsV1": to_fields_v1(kept)})
    result.append(
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(mine),
        }
    )
    return result
