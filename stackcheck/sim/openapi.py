"""A minimal OpenAPI v3 for kubectl: `/openapi/v3` lists one document per group-version
(as kube-apiserver does), and each document has every resource's paths with the
operations kubectl looks for. kubectl (1.27+) reads the PATCH operation of a kind's path,
found by its `x-kubernetes-group-version-kind`, for a `fieldValidation` query parameter:
with it, `kubectl apply`/`create` leave validation to the server instead of downloading
schemas (k8s.io/cli-runtime pkg/resource/query_param_verifier_v3.go). No schemas are
published, so `kubectl explain` finds nothing; `/openapi/v2` (protobuf only) answers 404,
which kubectl's apply tolerates (it falls back to the built-in types' patch metadata).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from stackcheck.sim.store import REVIEW_KINDS, Resource
from stackcheck.sim.version import VERSION

Obj = dict[str, Any]
QUERY_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def group_versions(resources: list[Resource]) -> list[tuple[str, str]]:
    return sorted({(r.group, r.version) for r in resources})


def root(resources: list[Resource]) -> Obj:
    """`/openapi/v3`: where each group-version's document is."""
    paths = {}
    for group, version in group_versions(resources):
        prefix = _prefix(group, version)
        digest = hashlib.sha512(
            json.dumps(document(resources, group, version), sort_keys=True).encode()
        ).hexdigest()[:128]
        paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={digest.upper()}"}
    return {"paths": paths}


def document(resources: list[Resource], group: str, version: str) -> Obj | None:
    """`/openapi/v3/apis/<group>/<version>`: paths only; None for an unknown one."""
    served = [r for r in resources if (r.group, r.version) == (group, version)]
    if not served:
        return None
    paths: Obj = {}
    for resource in sorted(served, key=lambda r: r.plural):
        gvk = {"group": group, "version": version, "kind": resource.kind}
        base = f"/{_prefix(group, version)}"
        scope = "/namespaces/{namespace}" if resource.namespaced else ""
        if resource.kind in REVIEW_KINDS:
            paths[f"{base}/{resource.plural}"] = {"post": _operation("create", resource, gvk)}
            continue
        paths[f"{base}{scope}/{resource.plural}"] = {
            "get": _operation("list", resource, gvk),
            "post": _operation("create", resource, gvk),
        }
        paths[f"{base}{scope}/{resource.plural}/{{name}}"] = {
            verb: _operation(action, resource, gvk)
            for verb, action in (
                ("get", "read"),
                ("put", "replace"),
                ("patch", "patch"),
                ("delete", "delete"),
            )
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _operation(action: str, resource: Resource, gvk: Obj) -> Obj:
    kind = resource.kind
    return {
        "operationId": f"{action}{kind}",
        "x-kubernetes-action": _ACTIONS.get(action, action),
        "x-kubernetes-group-version-kind": gvk,
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}} for name in QUERY_PARAMETERS
        ],
        "responses": {"200": {"description": "OK"}},
    }


_ACTIONS = {"read": "get", "replace": "put", "create": "post"}
