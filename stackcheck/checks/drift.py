"""Drift: the live cluster still carries what git says (read-only).

drift.manifests[<component>]: every field each manifest sets is compared with the live
object, as a partial match (Chainsaw/KUTTL asserts): maps by key; lists of named items
(containers, ports, env, volumes, tolerations) by their merge key; other lists element by
element; quantities and numbers normalised ("100m" == "0.1", 1 == "1"). What the manifest
does not set (server defaults, controllers' fields, kubectl's annotations) is not drift.
Workloads are compared with their templates, never their pods (the injector edits pods).

drift.helm[<component>]: what a Helm component's values make observable: no
PersistentVolumeClaim when they disable storage, Grafana's Service NodePort, the
nodeSelector and tolerations the values pin on each placed workload, and the images the
chart renders at its pinned version (stackcheck/data/chart-images.yml).

Drift fails; the stack file's `drift.warn` / `drift.ignore` (object, path, reason) turn a
path into a warning or leave it out, as Argo CD's ignoreDifferences.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from stackcheck.checks import model
from stackcheck.checks.model import Check, Evidence, Obj, Read, Readings, Result
from stackcheck.gitobjects import GitObject, load_objects
from stackcheck.stackfile import PROJECT_ROOT, Component, DriftRule, Stack, yaml_load
from stackcheck.static import chart_placement_keys

# kinds a manifest may hold that the Reader lists (kube.py's _KIND_PATHS)
READABLE_KINDS = frozenset(
    {
        "Namespace",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
        "Job",
        "Service",
        "ServiceAccount",
        "PodMonitor",
    }
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
CHART_IMAGES = Path(__file__).resolve().parents[1] / "data" / "chart-images.yml"
# list items matched by the first of these that every item of the manifest's list has, once
MERGE_KEYS = ("name", "containerPort", "mountPath", "key", "port", "ip", "nodePort")
ABSENT = object()
WHOLE = "(object)"  # the path of a drift that is the object itself (missing, or stray)


@dataclass(frozen=True)
class Drift:
    object: str  # `Deployment bookinfo/productpage-v1`
    path: str  # `spec.template.spec.containers[name=productpage].image`
    git: Any
    live: Any  # ABSENT when the live object lacks the path
    file: str = ""
    line: int = 0
    why: str = ""  # what in git says so, when not a manifest line (a values key)

    def message(self) -> str:
        where = (
            f" ({self.file}:{self.line})" if self.file else (f" ({self.why})" if self.why else "")
        )
        if self.path == WHOLE and self.live is ABSENT:
            return f"{self.object} does not exist, git declares it{where}"
        if self.path == WHOLE and self.git is ABSENT:
            return f"{self.object} exists, git declares none ({self.why})"
        return (
            f"{self.object}: {self.path}: git {_shown(self.git)}, live {_shown(self.live)}{where}"
        )

    def as_json(self) -> Obj:
        return {
            "object": self.object,
            "path": self.path,
            "git": _plain(self.git),
            "live": _plain(self.live),
            "file": self.file,
            "line": self.line,
            "values": self.why,
        }


# --- the partial match -----------------------------------------------------------------
def differences(want: Any, live: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, git, live) for every field `want` sets that `live` does not hold."""
    if isinstance(want, dict):
        if not isinstance(live, dict):
            yield path, want, live
            return
        for key, value in want.items():
            yield from differences(value, live.get(key, ABSENT), _join(path, str(key)))
    elif isinstance(want, list):
        if not isinstance(live, list):
            yield path, want, live
            return
        yield from _list_differences(want, live, path)
    elif live is ABSENT or not same_value(want, live):
        yield path, want, live


def _list_differences(
    want: list[Any], live: list[Any], path: str
) -> Iterator[tuple[str, Any, Any]]:
    key = merge_key(want)
    if key is None:
        for index, item in enumerate(want):
            yield from differences(
                item, live[index] if index < len(live) else ABSENT, f"{path}[{index}]"
            )
        return
    by_key = {str(item.get(key)): item for item in live if isinstance(item, dict)}
    for item in want:
        yield from differences(
            item, by_key.get(str(item[key]), ABSENT), f"{path}[{key}={item[key]}]"
        )


def merge_key(items: Sequence[Any]) -> str | None:
    """The key naming each item of a list of named items, or None (matched by position)."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in MERGE_KEYS:
        values = [str(item[key]) for item in items if key in item]
        if len(values) == len(items) and len(set(values)) == len(values):
            return key
    return None


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(e[+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def same_value(want: Any, live: Any) -> bool:
    """Equal as Kubernetes stores them: "100m" == "0.1", "1Gi" == "1073741824", 1 == "1";
    booleans and other strings exactly."""
    if isinstance(want, bool) or isinstance(live, bool):
        return type(want) is type(live) and want == live
    if want == live:
        return True
    first, second = quantity(want), quantity(live)
    return first is not None and first == second


def quantity(value: Any) -> Decimal | None:
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix.startswith("e"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


def _join(path: str, key: str) -> str:
    part = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'
    if not path:
        return part
    return f"{path}.{part}" if part[0] != '"' else f"{path}[{part}]"


def _shown(value: Any) -> str:
    return "(absent)" if value is ABSENT else json.dumps(value, sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    return None if value is ABSENT else value


# --- rules of the stack file -------------------------------------------------------------
def rule_for(rules: Sequence[DriftRule], drift: Drift) -> DriftRule | None:
    for rule in rules:
        if rule.object == drift.object and (
            drift.path == rule.path or drift.path.startswith((rule.path + ".", rule.path + "["))
        ):
            return rule
    return None


def judged(drifts: Sequence[Drift], stack: Stack, summary: str) -> Result:
    """Failures by default; warnings and ignored paths as the stack file says."""
    failures, warnings, kept = [], [], []
    for drift in drifts:
        if rule_for(stack.drift_ignore, drift) is not None:
            continue
        kept.append(drift)
        warned = rule_for(stack.drift_warn, drift)
        if warned is not None:
            warnings.append(f"{drift.message()} (drift.warn: {warned.reason})")
        else:
            failures.append(drift.message())
    evidence = (
        (Evidence("drift", json.dumps([d.as_json() for d in kept], indent=2), "application/json"),)
        if kept
        else ()
    )
    at = tuple((d.file, d.line, d.message()) for d in kept if d.file)
    return Result(
        summary, failures=tuple(failures), warnings=tuple(warnings), evidence=evidence, at=at
    )


# --- drift.manifests[<component>] ------------------------------------------------------
def manifest_objects(stack: Stack, component: Component) -> list[GitObject]:
    root = PROJECT_ROOT  # manifests and values are named from the project, as everywhere
    return [
        obj
        for file in component.manifests
        for obj in load_objects(root, file, component.namespace)
        if obj.kind in READABLE_KINDS
    ]


def object_read(obj: GitObject) -> Read:
    if obj.namespace is None:
        return model.namespaces()
    return model.objects(obj.kind, obj.namespace)


def manifests_check(stack: Stack, component: Component) -> Check | None:
    objects = manifest_objects(stack, component)
    if not objects:
        return None
    reads = tuple(dict.fromkeys(object_read(obj) for obj in objects))
    return Check(
        f"drift.manifests[{component.name}]",
        "drift.manifests",
        "Drift",
        f"every field the manifests of {component.name} set holds on the live objects",
        "a kubectl patch, scale or edit changed the live object: re-apply the manifest "
        f"(kubectl apply -f {' -f '.join(component.manifests)}) or change git; a path "
        "that may differ goes in stack.yml drift.warn or drift.ignore with its reason",
        reads,
        lambda readings: manifests_drift(stack, objects, readings),
    )


def manifests_drift(stack: Stack, objects: Sequence[GitObject], readings: Readings) -> Result:
    drifts: list[Drift] = []
    for obj in objects:
        live = readings[object_read(obj)].get(obj.name)
        if live is None:
            drifts.append(Drift(obj.ref, WHOLE, "present", ABSENT, obj.file, obj.line))
            continue
        body = {k: v for k, v in obj.body.items() if k not in ("apiVersion", "kind")}
        drifts += [
            Drift(obj.ref, path or WHOLE, git, now, obj.file, obj.line)
            for path, git, now in differences(body, live)
        ]
    return judged(drifts, stack, f"{len(objects)} objects as their manifests set them")


# --- drift.helm[<component>] ------------------------------------------------------------
@dataclass(frozen=True)
class HelmExpectation:
    """One thing the values make observable: `want` (a partial object) on `kind`/`name`,
    or no object of `kind` at all (`name` None, `want` None)."""

    kind: str
    name: str | None
    want: Obj | None
    source: str  # the values key that says so


def helm_expectations(stack: Stack, component: Component) -> list[HelmExpectation]:
    helm = component.helm
    if helm is None or not helm.values:
        return []
    root = PROJECT_ROOT  # manifests and values are named from the project, as everywhere
    try:
        values = yaml_load((root / helm.values).read_text(encoding="utf-8"), "bounded")
    except (OSError, yaml.YAMLError):
        return []  # the static suite reports it
    if not isinstance(values, dict):
        return []
    found = _placement_expectations(helm.chart, helm.version, values)
    if helm.chart == "kube-prometheus-stack":
        found += _prometheus_stack_expectations(helm.release, values)
    found = [replace(e, source=f"{helm.values}: {e.source}") for e in found]
    return found + _image_expectations(helm.chart, helm.version, values)


def _dig(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for key in dotted.split(".") if dotted else ():
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _prometheus_stack_expectations(release: str, values: Obj) -> list[HelmExpectation]:
    found = []
    storage = {
        "grafana.persistence.enabled": _dig(values, "grafana.persistence.enabled"),
        "prometheus.prometheusSpec.storageSpec": _dig(
            values, "prometheus.prometheusSpec.storageSpec"
        ),
        "alertmanager.alertmanagerSpec.storage": _dig(
            values, "alertmanager.alertmanagerSpec.storage"
        ),
    }
    if not any(storage.values()):  # each off, empty or unset (the chart's defaults: none)
        found.append(
            HelmExpectation(
                "PersistentVolumeClaim", None, None, ", ".join(f"{key}: off" for key in storage)
            )
        )
    service = _dig(values, "grafana.service") or {}
    if service.get("type") == "NodePort" and service.get("nodePort"):
        found.append(
            HelmExpectation(
                "Service",
                f"{release}-grafana",
                {"spec": {"type": "NodePort", "ports": [{"nodePort": service["nodePort"]}]}},
                "grafana.service",
            )
        )
    return found


def _placement_expectations(chart: str, version: str, values: Obj) -> list[HelmExpectation]:
    found = []
    for key, templates in (chart_placement_keys(chart, version) or {}).items():
        placed = _dig(values, key)
        if not isinstance(placed, dict):
            continue
        pod = {k: placed[k] for k in ("nodeSelector", "tolerations") if placed.get(k)}
        if not pod:
            continue
        for template in templates:
            kind, name = template.split("/", 1)
            if kind in WORKLOAD_KINDS:
                spec = {"template": {"spec": pod}}
                if kind == "CronJob":
                    spec = {"jobTemplate": {"spec": spec}}
                found.append(HelmExpectation(kind, name, {"spec": spec}, key or "(top level)"))
    return found


def _image_expectations(chart: str, version: str, values: Obj) -> list[HelmExpectation]:
    """The images the chart renders at this version (stackcheck/data/chart-images.yml);
    none when the values set an image themselves (what they render is then not known
    here) or the version is not recorded."""
    recorded = chart_images(chart, version)
    if recorded is None or _sets_images(values):
        return []
    found = []
    for workload, lists in recorded.items():
        kind, name = workload.split("/", 1)
        pod = {
            key: [{"name": c, "image": image} for c, image in images.items()]
            for key, images in lists.items()
        }
        spec: Obj = {"template": {"spec": pod}}
        if kind == "CronJob":
            spec = {"jobTemplate": {"spec": spec}}
        found.append(
            HelmExpectation(
                kind, name, {"spec": spec}, f"chart {chart} {version} renders these images"
            )
        )
    return found


@functools.cache
def _chart_images_data() -> Any:
    """The rendered charts' images (our data file, read once a run)."""
    return yaml_load(CHART_IMAGES.read_text(encoding="utf-8"))


def chart_images(chart: str, version: str) -> dict[str, dict[str, dict[str, str]]] | None:
    """workload (`Kind/name`) -> containers|initContainers -> container -> image."""
    for entry in _chart_images_data()["charts"]:
        if entry["chart"] == chart and str(entry["version"]) == version:
            return dict(entry["images"])
    return None


def _sets_images(node: Any) -> bool:
    if isinstance(node, dict):
        return any(key == "image" or _sets_images(value) for key, value in node.items())
    if isinstance(node, list):
        return any(_sets_images(item) for item in node)
    return False


def helm_check(stack: Stack, component: Component) -> Check | None:
    expected = helm_expectations(stack, component)
    if not expected:
        return None
    ns = component.namespace
    reads = tuple(dict.fromkeys(model.objects(e.kind, ns) for e in expected))
    values = component.helm.values if component.helm else ""
    return Check(
        f"drift.helm[{component.name}]",
        "drift.helm",
        "Drift",
        f"what the values and chart version of {component.name} pin holds on the live objects",
        f"the live release differs from {values}: helm upgrade with the values file "
        "(scripts/deploy-observability-stack.sh), or change git",
        reads,
        lambda readings: helm_drift(stack, ns, expected, readings),
    )


def helm_drift(
    stack: Stack, namespace: str, expected: Sequence[HelmExpectation], readings: Readings
) -> Result:
    drifts: list[Drift] = []
    for item in expected:
        live = readings[model.objects(item.kind, namespace)]
        if item.name is None:
            drifts += [
                Drift(f"{item.kind} {namespace}/{name}", WHOLE, ABSENT, "present", why=item.source)
                for name in sorted(live)
            ]
            continue
        ref = f"{item.kind} {namespace}/{item.name}"
        obj = live.get(item.name)
        if obj is None:
            drifts.append(Drift(ref, WHOLE, "present", ABSENT, why=item.source))
            continue
        drifts += [
            Drift(ref, path, git, now, why=item.source)
            for path, git, now in differences(item.want, obj)
        ]
    return judged(drifts, stack, f"{len(expected)} things the values and chart pin hold")


def drift_checks(stack: Stack) -> list[Check]:
    checks = [manifests_check(stack, c) for c in stack.components if c.manifests]
    checks += [helm_check(stack, c) for c in stack.components if c.helm]
    return [c for c in checks if c is not None]
