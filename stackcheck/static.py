"""Conformance of manifests/ without a cluster: schemas and the stack's invariants.

Every `*.yml`/`*.yaml` under manifests/ is either a Helm values file named by stack.yml or a
set of Kubernetes objects. Objects are validated against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors) of KUBERNETES_VERSION, custom
resources against the trimmed CRD schemas in stackcheck/data/crds/. Then the invariants a
healthy stack needs are checked (see RULES). Each problem names the file, the object
(kind/namespace/name) and the field path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackcheck.cache import Fingerprint, ResultCache
from stackcheck.stackfile import Component, Stack, yaml_load, yaml_load_all

KUBERNETES_VERSION = "1.28"  # the kind node image's version (Linkerd 2.14 supports <= 1.28)
CRD_DIR = Path(__file__).parent / "data" / "crds"
CHART_PLACEMENT = Path(__file__).parent / "data" / "chart-placement.yml"
INJECT = "linkerd.io/inject"
STATIC_CACHE = "static"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")

RULES: dict[str, str] = {
    "schema": f"every object is valid against the Kubernetes {KUBERNETES_VERSION} OpenAPI "
    "schema (custom resources: their CRD schema)",
    "mesh-injection": "meshed namespaces are declared with linkerd.io/inject: enabled and no "
    "workload in them opts out",
    "ports": "the stack file's node ports are exposed: productpage hostPort, Grafana NodePort",
    "storage": "no persistent volumes: Prometheus, Alertmanager and Grafana storage disabled",
    "placement": "a control-plane nodeSelector comes with a matching NoSchedule toleration, "
    "and every pod template of a `placement: control-plane` component carries "
    "both (manifests, and the chart values keys that place them)",
    "images": "every image is pinned by tag or digest, never :latest or untagged",
    "resources": "every container requests cpu and memory",
    "podmonitor-selection": "Prometheus selects every PodMonitor and ServiceMonitor",
    "secrets": "no passwords or private keys in git",
    "viz-prometheus": "linkerd-viz uses the stack's Prometheus instead of its own",
}

_POD_SPECS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers")


@dataclass(frozen=True)
class Problem:
    rule: str
    file: str
    obj: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.obj}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Doc:
    file: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        return str(self.data.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = self.data.get("metadata", {}).get("namespace")
        return str(ns) if ns else None

    @property
    def ident(self) -> str:
        return "/".join(p for p in (self.kind or "?", self.namespace, self.name or "?") if p)


@dataclass(frozen=True)
class Values:
    file: str
    component: Component
    data: dict[str, Any]

    @property
    def ident(self) -> str:
        helm = self.component.helm
        return f"HelmValues/{self.component.namespace}/{helm.release if helm else '?'}"

    def get(self, dotted: str) -> Any:
        node: Any = self.data
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        return node


class _Missing:
    def __repr__(self) -> str:
        return "(not set)"


_MISSING: Any = _Missing()


# --- loading --------------------------------------------------------------------------------
def manifest_files(root: Path) -> list[Path]:
    base = root / "manifests"
    return sorted(p for p in base.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def check_cached(root: Path, stack: Stack, cache: ResultCache) -> list[Problem]:
    """check(), answered from the cache when none of its inputs changed since it ran."""
    key = _inputs_key(root, stack)
    stored = cache.get(STATIC_CACHE, key)
    if isinstance(stored, list):
        try:
            return [Problem(**item) for item in stored]
        except TypeError:
            pass  # another shape: run again
    problems = check(root, stack)
    cache.put(STATIC_CACHE, key, [asdict(p) for p in problems])
    return problems


def _inputs_key(root: Path, stack: Stack) -> str:
    """Everything check() reads: the manifests, the CRD schemas, the stack file, its own code
    and the libraries it validates with (kubernetes-validate's schemas among them)."""
    key = Fingerprint(STATIC_CACHE).add("kubernetes", KUBERNETES_VERSION.encode())
    key.add("stack", stack.sha256.encode())
    for module in ("static.py", "stackfile.py"):
        key.add_file(Path(__file__).with_name(module), module)
    for library in ("jsonschema", "kubernetes_validate", "referencing", "yaml"):
        key.add_library(library)
    key.add_file(CHART_PLACEMENT, "chart placement")
    for path in sorted(CRD_DIR.glob("*.yml")):
        key.add_file(path, f"crd {path.name}")
    for path in manifest_files(root):
        key.add_file(path, path.relative_to(root).as_posix())
    return key.hexdigest()


def check(root: Path, stack: Stack) -> list[Problem]:
    """Every problem found in root/manifests, in file order then rule order."""
    problems: list[Problem] = []
    values_of = {
        (root / c.helm.values).resolve(): c
        for c in stack.components
        if c.helm is not None and c.helm.values
    }
    docs: list[Doc] = []
    values: list[Values] = []
    for path in manifest_files(root):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        for match in PRIVATE_KEY.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            problems.append(
                Problem(
                    "secrets",
                    rel,
                    "(file)",
                    f"line {line}",
                    "a private key is committed; generate it at deploy time",
                )
            )
        try:
            loaded = [d for d in yaml_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark is not None else "(file)"
            problems.append(Problem("schema", rel, "(file)", where, "not valid YAML"))
            continue
        component = values_of.get(path.resolve())
        if component is not None:
            if len(loaded) != 1 or not isinstance(loaded[0], dict):
                problems.append(
                    Problem(
                        "schema",
                        rel,
                        "(file)",
                        "(top level)",
                        "a Helm values file must be one mapping",
                    )
                )
                continue
            values.append(Values(rel, component, loaded[0]))
            continue
        for index, data in enumerate(loaded):
            if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
                problems.append(
                    Problem(
                        "schema",
                        rel,
                        f"(document {index + 1})",
                        "(top level)",
                        "not a Kubernetes object (apiVersion and kind needed)",
                    )
                )
                continue
            docs.append(Doc(rel, data))
    problems += _schema(docs)
    problems += _mesh(docs, stack)
    problems += _ports(docs, values, stack)
    problems += _storage(docs, values)
    problems += _placement(docs, values)
    problems += _pinned(docs, values, stack)
    problems += _images(docs)
    problems += _resources(docs)
    problems += _selection(docs, values)
    problems += _secrets(docs, values)
    problems += _viz(values, stack)
    return problems


# --- helpers --------------------------------------------------------------------------------
def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "(top level)"


def pod_spec(doc: Doc) -> tuple[str, dict[str, Any]] | None:
    keys = _POD_SPECS.get(doc.kind)
    if keys is None:
        return None
    node = _dig(doc.data, keys)
    return (".".join(keys), node) if node is not None else None


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A workload's pod template (its metadata and spec); None for a Pod or another kind."""
    keys = _POD_SPECS.get(str(obj.get("kind", "")))
    if keys is None or keys[-2:] != ("template", "spec"):
        return None
    return _dig(obj, keys[:-1])


def _dig(node: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def containers(doc: Doc) -> Iterator[tuple[str, dict[str, Any]]]:
    found = pod_spec(doc)
    if found is None:
        return
    prefix, spec = found
    for key in _CONTAINER_LISTS:
        for index, container in enumerate(spec.get(key) or []):
            if isinstance(container, dict):
                yield f"{prefix}.{key}[{index}]", container


def _pod_template_metadata(doc: Doc) -> tuple[str, dict[str, Any]]:
    keys = _POD_SPECS.get(doc.kind, ())[:-1]
    node: Any = doc.data
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    meta = node.get("metadata") if isinstance(node, dict) else None
    return ".".join((*keys, "metadata")), meta if isinstance(meta, dict) else {}


def _of(values: list[Values], chart: str) -> Values | None:
    return next((v for v in values if v.component.helm and v.component.helm.chart == chart), None)


# --- schemas --------------------------------------------------------------------------------
# kubernetes-validate's validate(data, version, strict=True), with what it does per object done
# once per run: its schema files (the 1.1 MB _definitions.json among them) are read and parsed,
# and a validator built, once per kind and run instead of once per object.
_API_GROUP = re.compile(r"^([^./]*)(?:\.[^/]*)?/")  # rbac.authorization.k8s.io/v1 -> rbac-v1


def _kube_schema_dir() -> str:
    """kubernetes-validate's strict schema folder for KUBERNETES_VERSION: the newest it has
    that is not newer (its own choice, made the same way)."""
    from kubernetes_validate import utils

    wanted = utils.major_minor(KUBERNETES_VERSION.removeprefix("v"))
    if wanted > utils.latest_version():
        raise utils.VersionNotSupportedError(version=wanted)
    version = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted][-1]
    return f"v{version}-local-strict"


@dataclass
class _Schemas:
    """The schemas of one check() run; each file read and each validator built once."""

    _kube_dir: str | None = None
    _kube_registry: Any = None
    _kube: dict[str, Any] = field(default_factory=dict)  # file -> validator (None: no file)
    _crds: list[Any] | None = None
    _crd: dict[tuple[str, str], Any] = field(default_factory=dict)  # (apiVersion, kind)

    def kube(self, doc: Doc) -> Any:
        """The Kubernetes OpenAPI validator of the object's kind; None when it has none."""
        import jsonschema  # here: a cached run does without it (stackcheck/cache.py)
        from kubernetes_validate import utils
        from referencing import Registry, Resource

        if self._kube_dir is None:
            self._kube_dir = _kube_schema_dir()
        api_version = _API_GROUP.sub(r"\1-", doc.data["apiVersion"])
        name = (
            f"kubernetes-json-schema/{self._kube_dir}/{doc.data['kind'].lower()}-{api_version}.json"
        )
        if name not in self._kube:
            try:
                schema = utils.schema_contents(name, KUBERNETES_VERSION)
            except FileNotFoundError:
                self._kube[name] = None
                return None
            if self._kube_registry is None:
                definitions = utils.schema_contents(
                    f"kubernetes-json-schema/{self._kube_dir}/_definitions.json", KUBERNETES_VERSION
                )
                self._kube_registry = Resource.from_contents(definitions) @ Registry()
            registry = Resource.from_contents(schema) @ self._kube_registry
            self._kube[name] = jsonschema.Draft202012Validator(schema, registry=registry)
        return self._kube[name]

    def crd(self, api_version: str, kind: str) -> Any:
        """The validator of a custom resource's CRD schema; None when there is none."""
        import jsonschema

        if (api_version, kind) not in self._crd:
            if self._crds is None:
                self._crds = _load_crds()
            schema = crd_schema(api_version, kind, self._crds)
            self._crd[api_version, kind] = (
                None if schema is None else jsonschema.Draft202012Validator(schema)
            )
        return self._crd[api_version, kind]


# --- rules ----------------------------------------------------------------------------------
def _schema(docs: list[Doc]) -> list[Problem]:
    problems = []
    schemas = _Schemas()
    for doc in docs:
        validator = schemas.kube(doc)
        if validator is None:
            problems += _crd_schema(doc, schemas)
            continue
        # the first error, as kubernetes_validate.validate raises it (validator.validate)
        error = next(iter(validator.iter_errors(doc.data)), None)
        if error is not None:
            problems.append(
                Problem("schema", doc.file, doc.ident, _path(error.path), error.message)
            )
    return problems


def _load_crds() -> list[Any]:
    return [yaml_load(path.read_text(encoding="utf-8")) for path in sorted(CRD_DIR.glob("*.yml"))]


def crd_schema(api_version: str, kind: str, crds: list[Any] | None = None) -> dict[str, Any] | None:
    """The openAPIV3Schema of the first CRD in stackcheck/data/crds/ (or `crds`, those files
    loaded) for this apiVersion and kind."""
    group, _, version = api_version.rpartition("/")
    for data in _load_crds() if crds is None else crds:
        if (data.get("group"), data.get("kind"), data.get("version")) == (group, kind, version):
            schema: dict[str, Any] = data["openAPIV3Schema"]
            return schema
    return None


def _crd_schema(doc: Doc, schemas: _Schemas) -> list[Problem]:
    validator = schemas.crd(str(doc.data["apiVersion"]), doc.kind)
    if validator is None:
        return [
            Problem(
                "schema",
                doc.file,
                doc.ident,
                "apiVersion",
                f"no schema for {doc.data['apiVersion']} {doc.kind} (Kubernetes "
                f"{KUBERNETES_VERSION} or stackcheck/data/crds/)",
            )
        ]
    return [
        Problem("schema", doc.file, doc.ident, _path(e.absolute_path), e.message)
        for e in sorted(validator.iter_errors(doc.data), key=lambda e: list(e.path))
    ]


def _mesh(docs: list[Doc], stack: Stack) -> list[Problem]:
    problems = []
    for namespace in stack.meshed_namespaces:
        component = next(c for c in stack.components if c.meshed and c.namespace == namespace)
        declared = [d for d in docs if d.kind == "Namespace" and d.name == namespace]
        if not declared:
            where = component.manifests[0] if component.manifests else "manifests/"
            problems.append(
                Problem(
                    "mesh-injection",
                    where,
                    f"Namespace/{namespace}",
                    f"metadata.annotations.{INJECT}",
                    "meshed namespace is not declared in the manifests",
                )
            )
        for doc in declared:
            value = (doc.data.get("metadata", {}).get("annotations") or {}).get(INJECT)
            if value != "enabled":
                problems.append(
                    Problem(
                        "mesh-injection",
                        doc.file,
                        doc.ident,
                        f"metadata.annotations.{INJECT}",
                        f"is {value!r}, must be 'enabled' (stack.yml: meshed)",
                    )
                )
        files = {m for c in stack.components if c.namespace == namespace for m in c.manifests}
        for doc in docs:
            inside = doc.namespace == namespace or (doc.namespace is None and doc.file in files)
            if doc.kind in _POD_SPECS and inside:
                prefix, meta = _pod_template_metadata(doc)
                value = (meta.get("annotations") or {}).get(INJECT)
                if value == "disabled":
                    problems.append(
                        Problem(
                            "mesh-injection",
                            doc.file,
                            doc.ident,
                            f"{prefix}.annotations.{INJECT}",
                            "opts out of the mesh in a meshed namespace",
                        )
                    )
    return problems


def _ports(docs: list[Doc], values: list[Values], stack: Stack) -> list[Problem]:
    problems = []
    prom = _of(values, "kube-prometheus-stack")
    for service in stack.services.values():
        if service.proxied is not None:
            continue
        if service.name == "grafana" and prom is not None:
            problems += _grafana_port(prom, service.port)
            continue
        exposures = []  # (doc, path, port)
        for doc in docs:
            if not doc.name.startswith(service.name):
                continue
            for path, container in containers(doc):
                for index, port in enumerate(container.get("ports") or []):
                    if "hostPort" in port:
                        exposures.append((doc, f"{path}.ports[{index}].hostPort", port["hostPort"]))
            if doc.kind == "Service" and doc.data.get("spec", {}).get("type") == "NodePort":
                for index, port in enumerate(doc.data["spec"].get("ports") or []):
                    if "nodePort" in port:
                        exposures.append((doc, f"spec.ports[{index}].nodePort", port["nodePort"]))
        if any(port == service.port for _, _, port in exposures):
            continue
        if exposures:
            doc, path, port = exposures[0]
            problems.append(
                Problem(
                    "ports",
                    doc.file,
                    doc.ident,
                    path,
                    f"is {port}, stack.yml expects {service.name} on {service.port}",
                )
            )
        else:
            workload = next(
                (d for d in docs if d.name.startswith(service.name) and d.kind in _POD_SPECS), None
            )
            problems.append(
                Problem(
                    "ports",
                    workload.file if workload else "manifests/",
                    workload.ident if workload else f"(workload {service.name}*)",
                    f"{pod_spec(workload)[0]}.containers[].ports[].hostPort"  # type: ignore[index]
                    if workload
                    else "hostPort",
                    f"nothing exposes {service.name} on node port {service.port} (stack.yml)",
                )
            )
    return problems


def _grafana_port(prom: Values, port: int) -> list[Problem]:
    problems = []
    kind = prom.get("grafana.service.type")
    if kind != "NodePort":
        problems.append(
            Problem(
                "ports",
                prom.file,
                prom.ident,
                "grafana.service.type",
                f"is {kind!r}, must be 'NodePort'",
            )
        )
    node_port = prom.get("grafana.service.nodePort")
    if node_port != port:
        problems.append(
            Problem(
                "ports",
                prom.file,
                prom.ident,
                "grafana.service.nodePort",
                f"is {node_port!r}, stack.yml expects grafana on {port}",
            )
        )
    return problems


def _storage(docs: list[Doc], values: list[Values]) -> list[Problem]:
    problems = []
    prom = _of(values, "kube-prometheus-stack")
    if prom is not None:
        for key in (
            "prometheus.prometheusSpec.storageSpec",
            "alertmanager.alertmanagerSpec.storage",
        ):
            value = prom.get(key)
            if value != {}:
                problems.append(
                    Problem(
                        "storage",
                        prom.file,
                        prom.ident,
                        key,
                        f"is {value!r}, must be {{}} (no PVC)",
                    )
                )
        value = prom.get("grafana.persistence.enabled")
        if value is not False:
            problems.append(
                Problem(
                    "storage",
                    prom.file,
                    prom.ident,
                    "grafana.persistence.enabled",
                    f"is {value!r}, must be false",
                )
            )
    for doc in docs:
        if doc.kind == "PersistentVolumeClaim":
            problems.append(
                Problem(
                    "storage",
                    doc.file,
                    doc.ident,
                    "kind",
                    "the stack runs without persistent volumes",
                )
            )
        if doc.kind == "StatefulSet" and doc.data.get("spec", {}).get("volumeClaimTemplates"):
            problems.append(
                Problem(
                    "storage",
                    doc.file,
                    doc.ident,
                    "spec.volumeClaimTemplates",
                    "the stack runs without persistent volumes",
                )
            )
    return problems


def _tolerates_control_plane(tolerations: Any) -> bool:
    for toleration in tolerations if isinstance(tolerations, list) else []:
        if not isinstance(toleration, dict):
            continue
        key_ok = toleration.get("key") == CONTROL_PLANE or (
            toleration.get("operator") == "Exists" and not toleration.get("key")
        )
        if key_ok and toleration.get("effect") in (None, "", "NoSchedule"):
            return True
    return False


def _placement_problem(node: Mapping[str, Any]) -> str | None:
    selector = node.get("nodeSelector")
    if not isinstance(selector, dict) or CONTROL_PLANE not in selector:
        return None
    if _tolerates_control_plane(node.get("tolerations")):
        return None
    return (
        f"nodeSelector {CONTROL_PLANE} without a toleration of the "
        f"{CONTROL_PLANE}:NoSchedule taint: pods stay Pending"
    )


def _walk(
    node: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, child in node.items():
            yield from _walk(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _walk(child, (*path, index))


def _placement(docs: list[Doc], values: list[Values]) -> list[Problem]:
    problems = []
    for file, ident, data in [(v.file, v.ident, v.data) for v in values] + [
        (d.file, d.ident, d.data) for d in docs
    ]:
        for path, node in _walk(data):
            message = _placement_problem(node)
            if message is not None:
                problems.append(
                    Problem("placement", file, ident, _path((*path, "tolerations")), message)
                )
    return problems


def pinned_problem(node: Mapping[str, Any]) -> str | None:
    """What a pod spec (or a chart's placement values) lacks to run on the control plane."""
    selector = node.get("nodeSelector")
    missing = []
    if not isinstance(selector, dict) or selector.get(CONTROL_PLANE) != "":
        missing.append(f'nodeSelector {CONTROL_PLANE}: ""')
    if not _tolerates_control_plane(node.get("tolerations")):
        missing.append(f"a toleration of the {CONTROL_PLANE}:NoSchedule taint")
    return " and ".join(missing) if missing else None


def chart_placement_keys(chart: str, version: str) -> dict[str, list[str]] | None:
    """The values keys that place the chart's pod templates at that version (recorded in
    stackcheck/data/chart-placement.yml), or None when the version is not recorded."""
    for entry in _chart_placement()["charts"]:
        if entry["chart"] == chart and str(entry["version"]) == version:
            return {str(key): list(templates) for key, templates in entry["keys"].items()}
    return None


@functools.cache
def _chart_placement() -> Any:
    """The recorded keys, read once a run with libyaml's parser (PyYAML's own parser,
    once per chart, cost ~5 ms of the first run after a manifest change)."""
    return yaml_load(CHART_PLACEMENT.read_text(encoding="utf-8"))


def _pinned(docs: list[Doc], values: list[Values], stack: Stack) -> list[Problem]:
    """`placement: control-plane` components: every pod template pinned there."""
    problems = []
    for component in stack.components:
        if component.placement != "control-plane":
            continue
        for doc in docs:
            found = pod_spec(doc) if doc.file in component.manifests else None
            message = pinned_problem(found[1]) if found else None
            if found and message:
                problems.append(
                    Problem(
                        "placement",
                        doc.file,
                        doc.ident,
                        found[0],
                        f"missing {message} (stack.yml: {component.name} has "
                        "placement: control-plane)",
                    )
                )
        chart_values = next((v for v in values if v.component is component), None)
        if component.helm is not None:
            problems += _pinned_values(component, chart_values)
    return problems


def _pinned_values(component: Component, values: Values | None) -> list[Problem]:
    helm = component.helm
    assert helm is not None
    file = helm.values or "stack.yml"
    ident = values.ident if values else f"HelmValues/{component.namespace}/{helm.release}"
    keys = chart_placement_keys(helm.chart, helm.version)
    if keys is None:
        return [
            Problem(
                "placement",
                file,
                ident,
                "(chart)",
                f"no recorded placement keys for {helm.chart} {helm.version}: read its "
                "templates (scripts/render-charts.sh) and add them to "
                "stackcheck/data/chart-placement.yml",
            )
        ]
    problems = []
    for key, templates in keys.items():
        node = values.get(key) if values and key else (values.data if values else {})
        message = pinned_problem(node if isinstance(node, dict) else {})
        if message:
            problems.append(
                Problem(
                    "placement",
                    file,
                    ident,
                    key or "(top level)",
                    f"missing {message}: the chart renders {', '.join(templates)} without it "
                    f"(stack.yml: {component.name} has placement: control-plane)",
                )
            )
    return problems


def image_problem(image: Any) -> str | None:
    if not isinstance(image, str) or not image:
        return "no image"
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return f"{image!r} has no tag: pin a version"
    if tag == "latest":
        return f"{image!r} uses :latest: pin a version"
    return None


def _images(docs: list[Doc]) -> list[Problem]:
    problems = []
    for doc in docs:
        for path, container in containers(doc):
            message = image_problem(container.get("image"))
            if message:
                problems.append(Problem("images", doc.file, doc.ident, f"{path}.image", message))
    return problems


def _resources(docs: list[Doc]) -> list[Problem]:
    problems = []
    for doc in docs:
        for path, container in containers(doc):
            requests = (container.get("resources") or {}).get("requests") or {}
            missing = [r for r in ("cpu", "memory") if r not in requests]
            if missing:
                problems.append(
                    Problem(
                        "resources",
                        doc.file,
                        doc.ident,
                        f"{path}.resources.requests",
                        f"no {' and '.join(missing)} request",
                    )
                )
    return problems


def _selection(docs: list[Doc], values: list[Values]) -> list[Problem]:
    prom = _of(values, "kube-prometheus-stack")
    if prom is None:
        return []
    problems = []
    for kind in ("podMonitor", "serviceMonitor"):
        key = f"prometheus.prometheusSpec.{kind}SelectorNilUsesHelmValues"
        if prom.get(key) is not False:
            problems.append(
                Problem(
                    "podmonitor-selection",
                    prom.file,
                    prom.ident,
                    key,
                    f"is {prom.get(key)!r}: only monitors labelled release: "
                    f"{prom.component.helm.release if prom.component.helm else '?'}"
                    " are selected; set false",
                )
            )
    explicit = prom.get("prometheus.prometheusSpec.podMonitorSelector")
    if prom.get(
        "prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues"
    ) is False and explicit in (_MISSING, None, {}):
        return problems
    wanted = (
        (explicit.get("matchLabels") or {})
        if isinstance(explicit, dict)
        else {"release": prom.component.helm.release if prom.component.helm else ""}
    )
    for doc in docs:
        if doc.kind != "PodMonitor":
            continue
        labels = doc.data.get("metadata", {}).get("labels") or {}
        for key, value in wanted.items():
            if labels.get(key) != value:
                problems.append(
                    Problem(
                        "podmonitor-selection",
                        doc.file,
                        doc.ident,
                        f"metadata.labels.{key}",
                        f"is {labels.get(key)!r}; Prometheus selects {key}={value!r}",
                    )
                )
    return problems


def _secrets(docs: list[Doc], values: list[Values]) -> list[Problem]:
    problems = []
    prom = _of(values, "kube-prometheus-stack")
    if prom is not None:
        password = prom.get("grafana.adminPassword")
        existing = prom.get("grafana.admin.existingSecret")
        if isinstance(password, str) and password:
            problems.append(
                Problem(
                    "secrets",
                    prom.file,
                    prom.ident,
                    "grafana.adminPassword",
                    'a password is committed; use "" (generated) or grafana.admin.existingSecret',
                )
            )
        elif password is _MISSING and existing in (_MISSING, None, ""):
            problems.append(
                Problem(
                    "secrets",
                    prom.file,
                    prom.ident,
                    "grafana.adminPassword",
                    "not set: the chart's well-known default would be used; "
                    'set "" (generated) or grafana.admin.existingSecret',
                )
            )
    for doc in docs:
        if doc.kind == "Secret" and (doc.data.get("data") or doc.data.get("stringData")):
            problems.append(
                Problem("secrets", doc.file, doc.ident, "data", "secret material is committed")
            )
    return problems


def expected_prometheus_url(stack: Stack) -> str | None:
    if stack.prometheus_service is None:
        return None
    service = stack.services[stack.prometheus_service]
    if service.proxied is None:
        return None
    namespace, name = service.proxied.split("/")
    return f"{service.scheme}://{name}.{namespace}.svc.cluster.local:{service.port}"


def _viz(values: list[Values], stack: Stack) -> list[Problem]:
    viz = _of(values, "linkerd-viz")
    if viz is None:
        return []
    problems = []
    if viz.get("prometheus.enabled") is not False:
        problems.append(
            Problem(
                "viz-prometheus",
                viz.file,
                viz.ident,
                "prometheus.enabled",
                f"is {viz.get('prometheus.enabled')!r}, must be false",
            )
        )
    wanted = expected_prometheus_url(stack)
    if wanted is not None and viz.get("prometheusUrl") != wanted:
        problems.append(
            Problem(
                "viz-prometheus",
                viz.file,
                viz.ident,
                "prometheusUrl",
                f"is {viz.get('prometheusUrl')!r}, must be {wanted}",
            )
        )
    return problems
