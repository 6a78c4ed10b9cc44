"""The stack file: expectations as data, validated on load."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stackcheck.cache import Fingerprint, ResultCache
from stackcheck.errors import UsageError

if TYPE_CHECKING:
    import jsonschema

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
SCHEMA_CACHE = "stack-schema"
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
                    # where its pods must run: "control-plane" = on the control-plane node,
                    # tolerating its NoSchedule taint (checked statically: stackcheck/static.py)
                    "placement": {"enum": ["control-plane"]},
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
                                # a failed run of this Job/CronJob fails (default: warns)
                                "required": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
        "pods": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_restarts": {"type": "integer", "minimum": 0},
                # restarts older than this warn instead of counting against max_restarts
                "restart_window": {"type": "string", "pattern": r"^[0-9]+(s|m|h|d)$"},
            },
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
                    # how `port` is exposed: on the node running a Ready pod that declares
                    # it (hostPort), or on every node (nodePort, the default)
                    "via": {"enum": ["hostPort", "nodePort"]},
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
                    # answers taken and judged each (a page that differs per backend)
                    "samples": {"type": "integer", "minimum": 1, "maximum": 20},
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


_DURATION = {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"}
_REASONED = {"type": "string", "minLength": 1}
# issue 14's expectations: Linkerd identity, alerting health, golden signals (all optional)
SCHEMA["properties"].update(
    {
        "identity": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "trust_anchor_min_days": {"type": "number", "minimum": 0},
                "issuer_min_days": {"type": "number", "minimum": 0},
            },
        },
        "alerting": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "severity": {"enum": ["info", "warning", "critical"]},
                "allowed": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["alert", "reason"],
                        "properties": {
                            "alert": {"type": "string", "minLength": 1},
                            "reason": _REASONED,
                        },
                    },
                },
            },
        },
        "slo": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "components": {"type": "array", "items": _NAME},
                "success_rate": {"type": "number", "minimum": 0, "maximum": 1},
                "p95_ms": {"type": "number", "exclusiveMinimum": 0},
                "window": _DURATION,
                "plaintext_allowed": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["deployment", "reason"],
                        "properties": {"deployment": _NAME, "reason": _REASONED},
                    },
                },
            },
        },
    }
)


# issue 15: drift paths that may differ (Argo CD ignoreDifferences style), each with a reason
_DRIFT_RULES = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["object", "path", "reason"],
        "properties": {
            "object": {"type": "string", "pattern": r"^[A-Za-z]+ ([a-z0-9.-]+/)?[a-z0-9.-]+$"},
            "path": {"type": "string", "minLength": 1},
            "reason": _REASONED,
        },
    },
}
SCHEMA["properties"]["drift"] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"ignore": _DRIFT_RULES, "warn": _DRIFT_RULES},
}


@dataclass(frozen=True)
class DriftRule:
    object: str  # `Deployment bookinfo/traffic-generator`, `Namespace bookinfo`
    path: str  # `spec.replicas`: this path and everything under it
    reason: str


def _drift_rules(data: dict[str, Any], key: str) -> tuple[DriftRule, ...]:
    return tuple(DriftRule(**rule) for rule in (data.get("drift") or {}).get(key, ()))


@dataclass(frozen=True)
class IdentityExpectations:
    trust_anchor_min_days: float = 60.0  # `linkerd check` warns under 60 days
    issuer_min_days: float = 60.0


@dataclass(frozen=True)
class AllowedAlert:
    alert: str
    reason: str


@dataclass(frozen=True)
class AlertingExpectations:
    severity: str = "critical"  # alerts at or above it must not fire
    allowed: tuple[AllowedAlert, ...] = ()


@dataclass(frozen=True)
class SloExpectations:
    components: tuple[str, ...] = ("bookinfo",)  # whose Deployments are judged
    success_rate: float = 0.99
    p95_ms: float = 500.0
    window: str = "1m"  # at least 4 scrape intervals (README: the stack file's thresholds)
    plaintext_allowed: tuple[tuple[str, str], ...] = ()  # (deployment, reason)


def _health_expectations(data: dict[str, Any]) -> dict[str, Any]:
    identity, alerting, slo = (data.get(k) or {} for k in ("identity", "alerting", "slo"))
    return {
        "identity": IdentityExpectations(**identity),
        "alerting": AlertingExpectations(
            severity=alerting.get("severity", "critical"),
            allowed=tuple(AllowedAlert(**a) for a in alerting.get("allowed", ())),
        ),
        "slo": SloExpectations(
            components=tuple(slo.get("components", ("bookinfo",))),
            success_rate=slo.get("success_rate", 0.99),
            p95_ms=slo.get("p95_ms", 500.0),
            window=slo.get("window", "1m"),
            plaintext_allowed=tuple(
                (a["deployment"], a["reason"]) for a in slo.get("plaintext_allowed", ())
            ),
        ),
    }


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    replicas: int | None = None  # None: whatever the object's spec asks for
    required: bool = False  # a failed run of this Job/CronJob fails instead of warning
    # the replicas git declares: `replicas` above, else the component's manifest (1 when
    # unset there); None for a Helm chart's workload the stack file gives no number for
    git_replicas: int | None = None
    git_source: str = ""  # where git_replicas comes from: "stack.yml" or a manifest path


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
    placement: str | None = None  # "control-plane": every pod template pinned there


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    proxied: str | None = None  # "<namespace>/<service>": reached through the API server
    scheme: str = "http"
    via: str = "nodePort"  # "hostPort": at the hostIP of a Ready pod declaring `port`


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
    samples: int = 1  # answers taken and judged each


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
    restart_window: str | None = None  # e.g. "1h": older restarts warn; None: a pod's life
    source: str = ""
    sha256: str = ""
    identity: IdentityExpectations = IdentityExpectations()
    alerting: AlertingExpectations = AlertingExpectations()
    slo: SloExpectations = SloExpectations()
    drift_ignore: tuple[DriftRule, ...] = ()
    drift_warn: tuple[DriftRule, ...] = ()

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace the stack owns, in deploy order."""
        return tuple(dict.fromkeys(c.namespace for c in self.components))

    @property
    def meshed_namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.namespace for c in self.components if c.meshed))

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)


MAX_EXPANDED_NODES = 100_000  # a manifest file, aliases written out: ours have ~5,000


class YamlRefused(yaml.constructor.ConstructorError):
    """YAML we do not accept from a user: an alias (aliases nest into exponential
    expansion, the "billion laughs"), or a key given twice in one mapping (the last would
    silently win: a merge mistake loosens an expectation)."""


class _Strict:
    """Mixed into a SafeLoader: refuses duplicate keys while constructing, and aliases unless
    the loader's `max_nodes` allows them up to a bound on the expanded document.

    An alias hands the constructor a node it has already seen (the composer shares the
    anchored node), so the second visit of a node is the alias: refused before any
    expansion, whatever the parser (libyaml's or PyYAML's own).
    """

    constructed_objects: dict[Any, Any]
    recursive_objects: dict[Any, Any]
    max_nodes: int | None = None  # None: no alias at all (the stack file)

    def construct_document(self, node: yaml.Node) -> Any:
        if self.max_nodes is not None and _expanded_size(node, self.max_nodes) > self.max_nodes:
            raise YamlRefused(
                None,
                None,
                f"its aliases expand to more than {self.max_nodes:,} YAML nodes (an alias bomb?)",
                node.start_mark,
            )
        return super().construct_document(node)  # type: ignore[misc]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if self.max_nodes is None and (
            node in self.constructed_objects or node in self.recursive_objects
        ):
            raise YamlRefused(
                None,
                None,
                "YAML anchors and aliases (&name, *name) are not accepted: write the value out",
                node.start_mark,
            )
        return super().construct_object(node, deep)  # type: ignore[misc]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise YamlRefused(
                        None,
                        None,
                        f"duplicate key {key_node.value[:80]!r} (the last would silently win)",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)  # type: ignore[misc]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes the document has once every alias is written out (capped past
    `limit`): each shared node counted once per reference, computed once per node."""
    sizes: dict[int, int] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if children_done:
            sizes[id(node)] = min(limit + 1, 1 + sum(sizes.get(id(c), 0) for c in _children(node)))
        elif id(node) not in sizes:
            pending.append((node, True))
            pending += [(c, False) for c in _children(node) if id(c) not in sizes]
    return sizes[id(root)]


class StrictLoader(_Strict, yaml.SafeLoader):
    pass


class BoundedLoader(_Strict, yaml.SafeLoader):
    max_nodes = MAX_EXPANDED_NODES


# libyaml's parser (PyYAML's CSafeLoader: the same safe constructors and resolver, parsing in
# C, ~10x faster) when PyYAML was built with it; syntax errors are reported by the
# pure-Python loader, which re-parses a text the C parser rejected, so messages and line
# marks stay the same.
_CLOADER: Any = getattr(yaml, "CSafeLoader", None)
_FAST_STRICT: Any = type("StrictCLoader", (_Strict, _CLOADER), {}) if _CLOADER else None
_FAST_BOUNDED: Any = (
    type("BoundedCLoader", (_Strict, _CLOADER), {"max_nodes": MAX_EXPANDED_NODES})
    if _CLOADER
    else None
)
_LOADERS: dict[str, tuple[Any, Any]] = {
    # the stack file: no alias at all (a user's expectations, read before anything runs)
    "strict": (_FAST_STRICT, StrictLoader),
    # manifests and Helm values: anchors are common there (helm and kubectl take them),
    # bounded so that an alias bomb is refused before it expands
    "bounded": (_FAST_BOUNDED, BoundedLoader),
    # files only other tools define (a kubeconfig): as kubectl reads them
    "lenient": (_CLOADER, yaml.SafeLoader),
}


def _loaders(text: str, mode: str) -> tuple[Any, Any]:
    """Without an anchor (`&`) no alias resolves, so nothing needs the bound's walk over every
    node (~7 ms of the first run after a manifest change): the strict loaders, alike there."""
    return _LOADERS["strict" if mode == "bounded" and "&" not in text else mode]


def node_loader(text: str, mode: str = "bounded") -> Any:
    """The loader class for reading `text` node by node (marks kept): libyaml's parser where
    available, as yaml_load; its YAMLError on bad syntax is the caller's to handle."""
    fast, slow = _loaders(text, mode)
    return fast or slow


def yaml_load(text: str, mode: str = "strict") -> Any:
    """`yaml.safe_load(text)`, parsed by libyaml where available; duplicate keys and aliases
    refused or bounded by `mode` (see _LOADERS; YamlRefused is a yaml.YAMLError)."""
    fast, slow = _loaders(text, mode)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)
        except YamlRefused:
            raise
        except yaml.YAMLError:
            pass  # the pure-Python loader below names the problem
    return yaml.load(text, Loader=slow)


def yaml_load_all(text: str, mode: str = "bounded") -> list[Any]:
    """`list(yaml.safe_load_all(text))` for manifests: duplicate keys refused, aliases
    bounded (see _LOADERS)."""
    fast, slow = _loaders(text, mode)
    if fast is not None:
        try:
            return list(yaml.load_all(text, Loader=fast))
        except YamlRefused:
            raise
        except yaml.YAMLError:
            pass  # the pure-Python loader below names the problem
    return list(yaml.load_all(text, Loader=slow))


_DOCUMENTS: dict[tuple[Path, int, int], list[tuple[int, Any]]] = {}


def manifest_documents(path: Path) -> list[tuple[int, Any]]:
    """A manifest file's documents (empty ones left out), each with the 1-based line it
    starts at; duplicate keys refused, aliases bounded, as yaml_load_all. Parsed once per
    process while the file stays as it was: the stack's replicas, drift and the sim read the
    same files (treat the documents as read-only). Raises OSError, UnicodeDecodeError or
    yaml.YAMLError."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    if key not in _DOCUMENTS:
        _DOCUMENTS[key] = list(_documents(path.read_text(encoding="utf-8")))
    return _DOCUMENTS[key]


def _documents(text: str) -> Iterator[tuple[int, Any]]:
    loader = node_loader(text)(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node.start_mark.line + 1, loader.construct_document(node)
    finally:
        loader.dispose()


PROJECT_ROOT = Path(__file__).resolve().parent.parent  # manifests are named from here
_SCALED_KINDS = ("Deployment", "StatefulSet")


def load_stack(path: Path, cache: ResultCache | None = None) -> Stack:
    """Read and validate a stack file; every problem is a UsageError naming the key. With a
    cache, a text that passed the schema before (same text, same code) is not checked again.
    Workloads get the replicas their manifests declare (`git_replicas`)."""
    stack = parse_stack(read_text_file(path, f"stack file {path}"), str(path), cache)
    return with_manifest_replicas(stack, PROJECT_ROOT)


def with_manifest_replicas(stack: Stack, root: Path) -> Stack:
    """Each Deployment/StatefulSet a component's manifests define gets their replicas (1 when
    the manifest sets none) unless the stack file gives a number. A manifest that cannot be
    read is skipped here: check_manifests names it before anything runs."""
    declared: dict[tuple[str, str, str], tuple[int, str]] = {}
    for component in stack.components:
        for manifest in component.manifests:
            try:
                documents = manifest_documents(root / manifest)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            for _, doc in documents:
                if not isinstance(doc, dict) or doc.get("kind") not in _SCALED_KINDS:
                    continue
                meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
                namespace = meta.get("namespace") or component.namespace
                replicas = spec.get("replicas", 1) if isinstance(spec, dict) else 1
                if isinstance(replicas, int):
                    declared[(namespace, doc["kind"], str(meta.get("name")))] = (replicas, manifest)
    if not declared:
        return stack

    def git(component: Component, workload: Workload) -> Workload:
        found = declared.get((component.namespace, workload.kind, workload.name))
        if workload.git_replicas is not None or found is None:
            return workload
        return replace(workload, git_replicas=found[0], git_source=found[1])

    components = tuple(
        replace(c, workloads=tuple(git(c, w) for w in c.workloads)) for c in stack.components
    )
    return replace(stack, components=components)


def read_text_file(path: Path, what: str, hint: str = "") -> str:
    """A regular UTF-8 text file's content; anything else is one UsageError line.

    Only regular files are opened: a FIFO or a device would block or never end.
    """
    require_file(path, what, hint)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{what}: cannot read it ({exc.strerror or exc}){hint}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what}: not UTF-8 text (byte {exc.start}){hint}") from None


def require_file(path: Path, what: str, hint: str = "") -> None:
    """`path` is an existing regular file, else one UsageError line."""
    try:
        if path.is_dir():
            raise UsageError(f"{what}: is a directory, not a file{hint}")
        if not path.exists():
            raise UsageError(f"{what}: no such file{hint}")
        if not path.is_file():
            raise UsageError(f"{what}: not a regular file{hint}")
    except OSError as exc:
        raise UsageError(f"{what}: cannot read it ({exc.strerror or exc}){hint}") from None


def parse_stack(text: str, source: str, cache: ResultCache | None = None) -> Stack:
    try:
        data = yaml_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"stack file {source}: {_yaml_problem(exc)}") from None
    if data is None:
        raise UsageError(f"stack file {source}: is empty (expected version: 1 and components)")
    if not isinstance(data, dict):
        raise UsageError(f"stack file {source}: expected a mapping at the top, got {_kind(data)}")
    key = _schema_key(text) if cache is not None else ""
    if cache is None or cache.get(SCHEMA_CACHE, key) is not True:
        _validate(data, source)
        _check_promql(data, source)
        if cache is not None:
            cache.put(SCHEMA_CACHE, key, True)  # only a text that passed is remembered
    stack = _build(data, source, hashlib.sha256(text.encode()).hexdigest())
    _check_references(stack, source)
    return stack


def _validate(data: dict[str, Any], source: str) -> None:
    import jsonschema  # here: a cached run does without it (stackcheck/cache.py)

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(
            SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).iter_errors(data)
    )
    if error is not None:
        raise UsageError(f"stack file {source}: {_schema_problem(error)}")


def _check_promql(data: dict[str, Any], source: str) -> None:
    """Every query parses (Prometheus's grammar, PyPI promql-parser): a typo is bad input
    now, not a failing check after minutes of retries."""
    import promql_parser  # here: a cached run does without it

    queries = (data.get("prometheus") or {}).get("queries") or []
    for index, query in enumerate(queries):
        try:
            promql_parser.parse(query["promql"])
        except ValueError as exc:
            raise UsageError(
                f"stack file {source}: prometheus.queries[{index}].promql "
                f"(query {query.get('name')!r}): not valid PromQL "
                f"({str(exc)[:200]})"
            ) from None


def _schema_key(text: str) -> str:
    """The stack text, this module (SCHEMA and the validation), jsonschema, promql-parser."""
    return (
        Fingerprint(SCHEMA_CACHE)
        .add("stack", text.encode())
        .add_file(Path(__file__), "stackfile.py")
        .add_library("jsonschema")
        .add_library("promql_parser")
        .hexdigest()
    )


def check_manifests(stack: Stack, root: Path) -> None:
    """Every manifest the stack file names is a readable YAML file with at least one object.

    Run before anything starts (the sim preloads them, --deploy applies them): an empty or
    broken manifest is bad input, not a deploy that half happens.
    """
    for i, component in enumerate(stack.components):
        for j, manifest in enumerate(component.manifests):
            path = root / manifest
            what = f"stack file {stack.source}: components[{i}].manifests[{j}]: {path}"
            text = read_text_file(path, what)
            try:
                documents = yaml_load_all(text)
            except yaml.YAMLError as exc:
                raise UsageError(f"{what}: {_yaml_problem(exc)}") from None
            for index, document in enumerate(documents):
                if document is not None and not isinstance(document, dict):
                    raise UsageError(
                        f"{what}: document {index} is a {_kind(document)}, not a Kubernetes object"
                    )
            if not any(documents):
                raise UsageError(f"{what}: empty manifest (no Kubernetes objects)")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    problem = str(getattr(exc, "problem", None) or "syntax error")[:200]
    if isinstance(exc, YamlRefused):
        return f"{where}{problem}"
    return f"{where}not valid YAML ({problem})"


def _schema_problem(error: jsonschema.exceptions.ValidationError) -> str:
    """'components[0].replica: unknown key (allowed: ...)' or 'key: what is wrong'."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties") or {}
        unknown = sorted(str(k) for k in error.instance if k not in allowed)
        if unknown and allowed:
            return f"{_key_path([*path, unknown[0]])}: unknown key (allowed: {', '.join(allowed)})"
    return f"{_key_path(path)}: {error.message}"


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _key_path(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    return ("".join(parts)).lstrip(".") or "(top level)"


def _build(data: dict[str, Any], source: str, sha256: str) -> Stack:
    components = tuple(
        Component(
            name=c["name"],
            namespace=c["namespace"],
            meshed=c.get("meshed", False),
            helm=HelmRelease(**c["helm"]) if "helm" in c else None,
            manifests=tuple(c.get("manifests", ())),
            workloads=tuple(
                Workload(
                    **w,
                    git_replicas=w.get("replicas"),
                    git_source="stack.yml" if "replicas" in w else "",
                )
                for w in c.get("workloads", ())
            ),
            placement=c.get("placement"),
        )
        for c in data["components"]
    )
    services = {
        name: Service(
            name, s["port"], s.get("service"), s.get("scheme", "http"), s.get("via", "nodePort")
        )
        for name, s in data.get("services", {}).items()
    }
    endpoints = tuple(
        Endpoint(
            name=e["name"],
            service=e["service"],
            path=e["path"],
            hint=e.get("hint", ""),
            expect=_expectation(e["expect"]),
            samples=e.get("samples", 1),
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
        restart_window=data.get("pods", {}).get("restart_window"),
        source=source,
        sha256=sha256,
        **_health_expectations(data),
        drift_ignore=_drift_rules(data, "ignore"),
        drift_warn=_drift_rules(data, "warn"),
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
    for name, service in stack.services.items():
        if service.via == "hostPort" and service.proxied is not None:
            raise UsageError(
                f"stack file {source}: services.{name}: via: hostPort and "
                "service: exclude each other (a hostPort is reached on a node, "
                "a service through the API server)"
            )
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
        low, high = (e.expect.length.min, e.expect.length.max) if e.expect.length else (0, None)
        if low is not None and high is not None and low > high:
            raise UsageError(
                f"stack file {source}: endpoints[{i}].expect.length: min {low} is "
                f"greater than max {high} (no length holds)"
            )
