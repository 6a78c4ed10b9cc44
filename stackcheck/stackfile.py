"""The stack file: expectations as data, validated on load."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from stackcheck.errors import UsageError

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
_WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "components"],
    "properties": {
        "version": {"const": 1},
        "components": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "namespace"],
                "properties": {
                    "name": _NAME,
                    "namespace": _NAME,
                    "meshed": {"type": "boolean"},
                    "helm": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["repo", "chart", "version", "release"],
                        "properties": {
                            "repo": {"type": "string", "pattern": "^(https?|oci)://"},
                            "chart": {"type": "string"},
                            "version": {"type": "string", "minLength": 1},
                            "release": _NAME,
                            "values": {"type": "string"},
                            "identity_certificates": {"type": "boolean"},
                        },
                    },
                    "manifests": {"type": "array", "items": {"type": "string"}},
                    "workloads": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["kind", "name"],
                            "properties": {
                                "kind": {"enum": _WORKLOAD_KINDS},
                                "name": _NAME,
                                "replicas": {"type": "integer", "minimum": 0},
                            },
                        },
                    },
                },
            },
        },
        "pods": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"max_restarts": {"type": "integer", "minimum": 0}},
        },
        "services": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["port"],
                "properties": {
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "service": {"type": "string", "pattern": r"^[a-z0-9-]+/[a-z0-9-]+$"},
                    "scheme": {"enum": ["http", "https"]},
                },
            },
        },
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "service", "path", "expect"],
                "properties": {
                    "name": _NAME,
                    "service": {"type": "string"},
                    "path": {"type": "string", "pattern": "^/"},
                    "hint": {"type": "string"},
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["status"],
                        "properties": {
                            "status": {"type": "integer", "minimum": 100, "maximum": 599},
                            "location": {"type": "string", "format": "regex"},
                            "contains": {"type": "array", "items": {"type": "string"}},
                            "absent": {"type": "array", "items": {"type": "string"}},
                            "json": {"type": "object"},
                            "length": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "exact": {"type": "integer", "minimum": 0},
                                    "min": {"type": "integer", "minimum": 0},
                                    "max": {"type": "integer", "minimum": 0},
                                },
                                "minProperties": 1,
                            },
                        },
                    },
                },
            },
        },
        "prometheus": {
            "type": "object",
            "additionalProperties": False,
            "required": ["service"],
            "properties": {
                "service": {"type": "string"},
                "scrape_jobs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["job", "min_targets"],
                        "properties": {
                            "job": {"type": "string", "minLength": 1},
                            "min_targets": {"type": "integer", "minimum": 1},
                            "hint": {"type": "string"},
                        },
                    },
                },
                "queries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "promql", "min_series"],
                        "properties": {
                            "name": _NAME,
                            "promql": {"type": "string", "minLength": 1},
                            "min_series": {"type": "integer", "minimum": 1},
                            "hint": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    replicas: int | None = None  # None: whatever the object's spec asks for


@dataclass(frozen=True)
class HelmRelease:
    repo: str
    chart: str
    version: str
    release: str
    values: str | None = None
    identity_certificates: bool = False


@dataclass(frozen=True)
class Component:
    name: str
    namespace: str
    meshed: bool = False
    helm: HelmRelease | None = None
    manifests: tuple[str, ...] = ()
    workloads: tuple[Workload, ...] = ()


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    proxied: str | None = None  # "<namespace>/<service>": reached through the API server
    scheme: str = "http"


@dataclass(frozen=True)
class LengthRange:
    exact: int | None = None
    min: int | None = None
    max: int | None = None

    def describe(self) -> str:
        if self.exact is not None:
            return f"exactly {self.exact}"
        return f"between {self.min or 0} and {self.max if self.max is not None else 'any'}"

    def holds(self, length: int) -> bool:
        if self.exact is not None and length != self.exact:
            return False
        if self.min is not None and length < self.min:
            return False
        return not (self.max is not None and length > self.max)


@dataclass(frozen=True)
class HttpExpectation:
    status: int
    location: str | None = None
    contains: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    json: dict[str, Any] = field(default_factory=dict)
    length: LengthRange | None = None


@dataclass(frozen=True)
class Endpoint:
    name: str
    service: str
    path: str
    expect: HttpExpectation
    hint: str = ""


@dataclass(frozen=True)
class ScrapeJob:
    job: str
    min_targets: int
    hint: str = ""


@dataclass(frozen=True)
class Query:
    name: str
    promql: str
    min_series: int
    hint: str = ""


@dataclass(frozen=True)
class Stack:
    components: tuple[Component, ...]
    services: dict[str, Service]
    endpoints: tuple[Endpoint, ...]
    prometheus_service: str | None
    scrape_jobs: tuple[ScrapeJob, ...]
    queries: tuple[Query, ...]
    max_restarts: int = 3
    source: str = ""
    sha256: str = ""

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace the stack owns, in deploy order."""
        return tuple(dict.fromkeys(c.namespace for c in self.components))

    @property
    def meshed_namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.namespace for c in self.components if c.meshed))

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)


def load_stack(path: Path) -> Stack:
    """Read and validate a stack file; every problem is a UsageError naming the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"stack file {path}: cannot read it ({exc.strerror})") from None
    return parse_stack(text, str(path))


def parse_stack(text: str, source: str) -> Stack:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UsageError(f"stack file {source}:{where} is not valid YAML") from None
    if not isinstance(data, dict):
        raise UsageError(f"stack file {source}: expected a mapping at the top, got {_kind(data)}")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(
            SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).iter_errors(data)
    )
    if error is not None:
        raise UsageError(f"stack file {source}: {_key_path(error.absolute_path)}: {error.message}")
    stack = _build(data, source, hashlib.sha256(text.encode()).hexdigest())
    _check_references(stack, source)
    return stack


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _key_path(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return ("" .join(parts)).lstrip(".") or "(top level)"


def _build(data: dict[str, Any], source: str, sha256: str) -> Stack:
    components = tuple(
        Component(
            name=c["name"],
            namespace=c["namespace"],
            meshed=c.get("meshed", False),
            helm=HelmRelease(**c["helm"]) if "helm" in c else None,
            manifests=tuple(c.get("manifests", ())),
            workloads=tuple(Workload(**w) for w in c.get("workloads", ())),
        )
        for c in data["components"]
    )
    services = {
        name: Service(name, s["port"], s.get("service"), s.get("scheme", "http"))
        for name, s in data.get("services", {}).items()
    }
    endpoints = tuple(
        Endpoint(
            name=e["name"],
            service=e["service"],
            path=e["path"],
            hint=e.get("hint", ""),
            expect=_expectation(e["expect"]),
        )
        for e in data.get("endpoints", ())
    )
    prom = data.get("prometheus", {})
    return Stack(
        components=components,
        services=services,
        endpoints=endpoints,
        prometheus_service=prom.get("service"),
        scrape_jobs=tuple(ScrapeJob(**j) for j in prom.get("scrape_jobs", ())),
        queries=tuple(Query(**q) for q in prom.get("queries", ())),
        max_restarts=data.get("pods", {}).get("max_restarts", 3),
        source=source,
        sha256=sha256,
    )


def _expectation(raw: dict[str, Any]) -> HttpExpectation:
    return HttpExpectation(
        status=raw["status"],
        location=raw.get("location"),
        contains=tuple(raw.get("contains", ())),
        absent=tuple(raw.get("absent", ())),
        json=dict(raw.get("json", {})),
        length=LengthRange(**raw["length"]) if "length" in raw else None,
    )


def _check_references(stack: Stack, source: str) -> None:
    """Cross-field rules a schema cannot say: names unique, services defined."""
    for label, names in (
        ("components", [c.name for c in stack.components]),
        ("endpoints", [e.name for e in stack.endpoints]),
        ("prometheus.scrape_jobs", [j.job for j in stack.scrape_jobs]),
        ("prometheus.queries", [q.name for q in stack.queries]),
    ):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise UsageError(f"stack file {source}: {label}: duplicate name {dupes[0]!r}")
    wanted = [(f"endpoints[{i}].service", e.service) for i, e in enumerate(stack.endpoints)]
    if stack.prometheus_service is not None:
        wanted.append(("prometheus.service", stack.prometheus_service))
    for key, name in wanted:
        if name not in stack.services:
            known = ", ".join(sorted(stack.services)) or "none"
            raise UsageError(
                f"stack file {source}: {key}: service {name!r} is not defined under "
                f"services (defined: {known})"
            )
    for i, e in enumerate(stack.endpoints):
        if e.expect.location is not None:
            try:
                re.compile(e.expect.location)
            except re.error as exc:
                raise UsageError(
                    f"stack file {source}: endpoints[{i}].expect.location: bad regex ({exc})"
                ) from None
