"""Fakes for the unit tests of checks: API objects from YAML text, and a Kube stand-in.

The objects in tests/data/pods/ are shaped as the API server and kubelet write them; the
fake serves them to `StackReader` the way `Kube.list_kind` / `Kube.list_all` / `Kube.get` would,
lists asked for with a view decoded to that view as the real client decodes them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from stackcheck import kube
from stackcheck.checks.catalog import build_checks
from stackcheck.checks.model import Check, Result
from stackcheck.kube import ApiFailure
from stackcheck.reading import StackReader
from stackcheck.runner import Runner
from stackcheck.settings import Settings
from stackcheck.stackfile import Stack, load_stack

ROOT = Path(__file__).resolve().parents[1]
PODS = ROOT / "tests" / "data" / "pods"
GOLDEN = ROOT / "tests" / "data" / "golden"
Obj = dict[str, Any]


def load(name: str, folder: Path = PODS) -> Obj:
    """A fresh copy of tests/data/pods/<name>.yml (edit it freely)."""
    data: Obj = yaml.safe_load((folder / f"{name}.yml").read_text(encoding="utf-8"))
    return data


def from_yaml(text: str) -> Obj:
    data: Obj = yaml.safe_load(text)
    return data


def status_of(pod: Obj, name: str) -> Obj:
    """The status entry of a container (native sidecars included), to edit in place."""
    for key in ("containerStatuses", "initContainerStatuses"):
        for item in pod["status"].get(key) or []:
            if item["name"] == name:
                entry: Obj = item
                return entry
    raise KeyError(name)


def real_stack() -> Stack:
    return load_stack(ROOT / "stack.yml")


class FakeKube:
    """Lists the objects it was given by kind and namespace (honouring the
    involvedObject.name field selector of events), namespaces by path; serves canned
    container logs and a server version."""

    server = "https://127.0.0.1:6443"

    def __init__(
        self, *objects: Obj, logs: dict[str, str] | None = None, version: Obj | None = None
    ) -> None:
        self.objects = [copy.deepcopy(o) for o in objects]
        self.logs = logs or {}  # "<namespace>/<pod>/<container>" -> log text
        self._version = version or {"major": "1", "minor": "28", "gitVersion": "v1.28.15"}

    def version(self) -> Obj:
        return dict(self._version)

    def list_kind(
        self,
        kind: str,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        view: type | None = None,
    ) -> list[Obj]:
        assert label_selector is None, "the fake does not select by label"
        found = [
            o
            for o in self.objects
            if o["kind"] == kind and o["metadata"].get("namespace") == namespace
        ]
        if field_selector is not None:
            key, _, wanted = field_selector.partition("=")
            assert key == "involvedObject.name", f"the fake does not select by {key}"
            found = [o for o in found if o.get("involvedObject", {}).get("name") == wanted]
        if view is None:
            return found
        body = json.dumps({"kind": f"{kind}List", "items": found}).encode()
        items: list[Obj] = kube._decode_page(body, kind, view)["items"]
        return items

    def get(self, path: str) -> Obj:
        for o in self.objects:
            meta = o["metadata"]
            if o["kind"] == "Pod" and path == (
                f"/api/v1/namespaces/{meta.get('namespace')}/pods/{meta.get('name')}"
            ):
                return copy.deepcopy(o)
        raise ApiFailure(f"{path}: HTTP 404 Not Found")

    def list_all(self, path: str, **_selectors: str | None) -> list[Obj]:
        if path != "/api/v1/namespaces":
            raise AssertionError(f"the fake does not serve {path}")
        return [o for o in self.objects if o["kind"] == "Namespace"]

    def pod_log(self, namespace: str, pod: str, container: str, lines: int) -> str:
        text = self.logs.get(f"{namespace}/{pod}/{container}", "")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        pass


def namespace(name: str, **annotations: str) -> Obj:
    """A Namespace object as the API server returns it."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "annotations": annotations,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def fake_runner(*objects: Obj, kube: Any = None, settings: Settings | None = None) -> Runner:
    """A Runner over the real stack.yml's checks reading `objects` (or `kube`) through a
    FakeKube; close it after use."""
    stack = real_stack()
    reader = StackReader(stack, settings or Settings(), kube or FakeKube(*objects))
    return Runner(reader, build_checks(stack))


def check(check_id: str) -> Check:
    """The real stack.yml's check of that id."""
    return next(c for c in build_checks(real_stack()) if c.id == check_id)


def evaluate(check_id: str, *objects: Obj, kube: Any = None) -> Result:
    """One attempt of the real stack.yml's check over `objects` (or `kube`)."""
    runner = fake_runner(*objects, kube=kube)
    try:
        return runner.evaluate(check(check_id))
    finally:
        runner.close()
