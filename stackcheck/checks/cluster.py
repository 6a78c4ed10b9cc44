"""api.reachable: the API server answers with these credentials and the stack's namespaces
exist. The one fatal check: when it fails, every check that needs the API is skipped."""

from __future__ import annotations

import json

from stackcheck.checks import model
from stackcheck.checks.model import Check, Evidence, Obj, Readings, Result


def api_check(namespaces: tuple[str, ...]) -> Check:
    return Check(
        "api.reachable",
        "api.reachable",
        "Cluster",
        "the Kubernetes API server answers with these credentials",
        "check --kubeconfig/--kube-context, that the server is up, and that the credentials "
        "may get/list namespaces (manifests/rbac/verifier-readonly.yml)",
        (model.version(), model.namespaces()),
        lambda readings: api_reachable(readings, namespaces),
        fatal=True,
    )


def api_reachable(readings: Readings, wanted: tuple[str, ...]) -> Result:
    version: Obj = readings[model.version()]
    present = readings[model.namespaces()]
    summary = f"the API server answers, Kubernetes {version.get('gitVersion', '?')}"
    return Result(
        summary,
        failures=tuple(f"namespace {ns} does not exist" for ns in wanted if ns not in present),
        evidence=(Evidence("server version", json.dumps(version, indent=2), "application/json"),),
    )
