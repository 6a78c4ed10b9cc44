"""Fakes for the unit tests of checks: API objects from YAML text, and a Kube stand-in.

The objects in tests/data/pods/ are shaped as the API server and kubelet write them; the
fake serves them to `Probes` the way `Kube.list_kind` / `Kube.list_all` would.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from stackcheck.probes import Probes
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
    """Lists the objects it was given by kind and namespace; namespaces by path."""

    server = "https://127.0.0.1:6443"

    def __init__(self, *objects: Obj) -> None:
        self.objects = [copy.deepcopy(o) for o in objects]

    def list_kind(self, kind: str, namespace: str, **_selectors: str | None) -> list[Obj]:
        return [o for o in self.objects
                if o["kind"] == kind and o["metadata"].get("namespace") == namespace]

    def list_all(self, path: str, **_selectors: str | None) -> list[Obj]:
        if path != "/api/v1/namespaces":
            raise AssertionError(f"the fake does not serve {path}")
        return [o for o in self.objects if o["kind"] == "Namespace"]

    def close(self) -> None:
        pass


def fake_probes(*objects: Obj, stack: Stack | None = None) -> Probes:
    """Probes over the real stack.yml reading `objects` through a FakeKube (close it)."""
    kube: Any = FakeKube(*objects)
    return Probes(stack or real_stack(), Settings(), kube)
