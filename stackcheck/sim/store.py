"""ObjectStore: a generic, thread-safe store of Kubernetes objects as plain (wire-shape) dicts.

Like etcd behind a real API server: one global, monotonically increasing resourceVersion,
a bounded history of watch events, and a resource table (built-in kinds plus whatever the
stored CustomResourceDefinitions serve). Label and field selectors use the real syntax.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" if cluster-scoped), name

_T = TypeVar("_T")
HISTORY = 20_000  # watch events kept; older resourceVersions answer 410 Expired
# Fields the store owns: ignored when deciding whether a write changed anything.
STORE_FIELDS = frozenset(
    {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"}
)


class StoreError(Exception):
    """Base of the store's refusals; the API server maps each to a Status."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """resourceVersion precondition failed."""


class Expired(StoreError):
    """The asked resourceVersion is older than the kept watch history."""


class UnknownKind(StoreError, ValueError):
    """No resource serves this apiVersion/kind (a ValueError: loaders report it as bad input)."""


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """`pods`, `deployments.apps`: how real error messages name a resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = ("status",),
    categories: tuple[str, ...] = (),
) -> Resource:
    return Resource(group, version, kind, plural, namespaced, short, sub, categories)


_ALL = ("all",)
BUILTIN: tuple[Resource, ...] = (
    _r("", "v1", "Namespace", "namespaces", False, ("ns",), ("status", "finalize")),
    _r("", "v1", "Node", "nodes", False, ("no",), ("status", "proxy")),
    _r("", "v1", "Pod", "pods", True, ("po",), ("status", "log", "exec", "proxy"), _ALL),
    _r("", "v1", "Service", "services", True, ("svc",), ("status", "proxy"), _ALL),
    _r("", "v1", "Endpoints", "endpoints", True, ("ep",), ()),
    _r("", "v1", "Event", "events", True, ("ev",), ()),
    _r("", "v1", "ConfigMap", "configmaps", True, ("cm",), ()),
    _r("", "v1", "Secret", "secrets", True, (), ()),
    _r("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ()),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",)),
    _r("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale"), _ALL),
    _r("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"), _ALL),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), _ALL),
    _r("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"), _ALL),
    _r("batch", "v1", "Job", "jobs", True, (), ("status",), _ALL),
    _r("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",), _ALL),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", True, (), ()),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True, (), ()),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, (), ()),
    _r(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        False,
        (),
        (),
    ),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
    ),
    _r("events.k8s.io", "v1", "Event", "events", True, ("ev",), ()),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
        (),
        (),
    ),
    _r(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
        (),
        (),
    ),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",)),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",)),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",), ()),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",)),
    _r("coordination.k8s.io", "v1", "Lease", "leases", True, (), ()),
    # create-only reviews, answered and never stored (apiserver.py)
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, (), ()),
    _r(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        False,
        (),
        (),
    ),
    _r(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        False,
        (),
        (),
    ),
)
REVIEW_KINDS = frozenset({"SelfSubjectReview", "SelfSubjectAccessReview", "SelfSubjectRulesReview"})


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED
    object: Obj
    previous: Obj | None  # the object before a MODIFIED/DELETED (selector transitions)
    resource_version: int

    @property
    def api_version(self) -> str:
        return str(self.object["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.object["kind"])


class ObjectStore:
    """Thread-safe; every read returns deep copies, so callers may mutate what they get."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.RLock())
        self._objects: dict[Key, Obj] = {}
        # the same objects by (apiVersion, kind): a list, and every request's RBAC lookup
        # of bindings, reads its kind only, not 10,000 pods (the real one keeps indexes too)
        self._by_kind: dict[tuple[str, str], dict[Key, Obj]] = {}
        self._revision = 0
        self._history: deque[WatchEvent] = deque(maxlen=HISTORY)
        self._resources: dict[tuple[str, str], Resource] = {
            (r.api_version, r.kind): r for r in BUILTIN
        }
        self.logs: dict[tuple[str, str, str], str] = {}  # (namespace, pod, container) -> text

    # --- resource table ----------------------------------------------------------------
    def resources(self) -> list[Resource]:
        with self._changed:
            return list(self._resources.values())

    def resource_for_kind(self, api_version: str, kind: str) -> Resource | None:
        with self._changed:
            return self._resources.get((api_version, kind))

    def resource_for_plural(self, group: str, version: str, plural: str) -> Resource | None:
        with self._changed:
            return next(
                (
                    r
                    for r in self._resources.values()
                    if (r.group, r.version, r.plural) == (group, version, plural)
                ),
                None,
            )

    @property
    def resource_version(self) -> str:
        with self._changed:
            return str(self._revision)

    # --- the contract --------------------------------------------------------------------
    def apply(self, obj: Obj) -> Obj:
        """Create or replace by (apiVersion, kind, namespace, name); a no-op write (nothing
        but store-owned fields differ) changes nothing, like the real API server."""
        with self._changed:
            resource = self._resource_of(obj)
            new = _normalised(obj, resource)
            key = _key(new)
            old = self._objects.get(key)
            if old is not None and _content(old) == _content(new):
                return json_copy(old)
            self._stamp(new, old)
            if resource.kind == "CustomResourceDefinition":
                self._register_crd(new)
            self._objects[key] = self._by_kind.setdefault(key[:2], {})[key] = new
            self._record("MODIFIED" if old else "ADDED", new, old)
            return json_copy(new)

    def create(self, obj: Obj) -> Obj:
        """apply, refusing an existing object (POST)."""
        with self._changed:
            key = _key(_normalised(obj, self._resource_of(obj)))
            if key in self._objects:
                raise AlreadyExists(key[3])
            return self.apply(obj)

    def update(self, obj: Obj) -> Obj:
        """apply to an existing object, honouring a metadata.resourceVersion precondition."""
        with self._changed:
            key = _key(_normalised(obj, self._resource_of(obj)))
            old = self._objects.get(key)
            if old is None:
                raise NotFound(key[3])
            wanted = (obj.get("metadata") or {}).get("resourceVersion")
            if wanted and str(wanted) != old["metadata"]["resourceVersion"]:
                raise Conflict(key[3])
            return self.apply(obj)

    def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None:
        with self._changed:
            found = self._objects.get(self._lookup_key(api_version, kind, namespace, name))
            return json_copy(found) if found is not None else None

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Matching objects ordered by (namespace, name) like etcd keys; ValueError on a
        malformed or unsupported selector."""
        matches = object_filter(kind, label_selector, field_selector)
        with self._changed:
            found = [
                obj
                for key, obj in self._by_kind.get((api_version, kind), {}).items()
                if (not namespace or key[2] == namespace) and matches(obj)
            ]
            found.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return json_copy(found)

    def remove(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        """Delete if present (emits DELETED); removing a namespace removes its contents."""
        with self._changed:
            key = self._lookup_key(api_version, kind, namespace, name)
            old = self._objects.pop(key, None)
            if old is None:
                return
            del self._by_kind[key[:2]][key]
            gone = json_copy(old)
            self._revision += 1
            gone["metadata"]["resourceVersion"] = str(self._revision)
            self._history.append(WatchEvent("DELETED", gone, old, self._revision))
            self._changed.notify_all()
            if (api_version, kind) == ("v1", "Namespace"):
                for inner in [k for k in self._objects if k[2] == name]:
                    self.remove(inner[0], inner[1], inner[2], inner[3])

    def backdate(
        self, api_version: str, kind: str, namespace: str | None, name: str, created: str
    ) -> None:
        """Set creationTimestamp to the earlier `created` (the sim dates what was applied at
        its start to when its simulated cluster came up); a MODIFIED event, as any change."""
        with self._changed:
            key = self._lookup_key(api_version, kind, namespace, name)
            old = self._objects.get(key)
            if old is None or old["metadata"].get("creationTimestamp", "") <= created:
                return
            new = json_copy(old)
            new["metadata"]["creationTimestamp"] = created
            self._revision += 1
            new["metadata"]["resourceVersion"] = str(self._revision)
            self._objects[key] = self._by_kind[key[:2]][key] = new
            self._record("MODIFIED", new, old)

    # --- watch ---------------------------------------------------------------------------
    def events_after(
        self, revision: int, timeout: float, wanted: Callable[[WatchEvent], bool] = lambda e: True
    ) -> list[WatchEvent]:
        """Events newer than `revision` that `wanted` accepts, waiting up to `timeout`
        seconds for the first; Expired when `revision` fell out of the kept history."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                oldest = self._history[0].resource_version if self._history else None
                if oldest is not None and revision < oldest - 1 and len(self._history) == HISTORY:
                    raise Expired(f"too old resource version: {revision} ({oldest - 1})")
                found = [e for e in self._newer(revision) if wanted(e)]
                if found:
                    return [
                        WatchEvent(e.type, json_copy(e.object), e.previous, e.resource_version)
                        for e in found
                    ]
                # nothing new for this watcher: skip the events it does not want
                revision = max(revision, self._revision)
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._changed.wait(left)

    # --- internals -----------------------------------------------------------------------
    def _newer(self, revision: int) -> list[WatchEvent]:
        """The kept events after `revision`, oldest first: read from the newest end (the
        history is in revision order), so a watcher that is up to date costs nothing."""
        newer = []
        for event in reversed(self._history):
            if event.resource_version <= revision:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def _resource_of(self, obj: Obj) -> Resource:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        resource = self._resources.get((api_version, kind))
        if resource is None:
            raise UnknownKind(
                f"no resource serves apiVersion {api_version!r} kind {kind!r}"
                " (is its CustomResourceDefinition applied?)"
            )
        if not (obj.get("metadata") or {}).get("name"):
            raise UnknownKind(f"{kind}: metadata.name is required")
        return resource

    def _lookup_key(self, api_version: str, kind: str, namespace: str | None, name: str) -> Key:
        resource = self._resources.get((api_version, kind))
        scoped = resource is None or resource.namespaced
        return (api_version, kind, (namespace or "") if scoped else "", name)

    def _stamp(self, new: Obj, old: Obj | None) -> None:
        self._revision += 1
        meta = new["metadata"]
        before = old["metadata"] if old else {}
        meta["uid"] = before.get("uid") or str(uuid.uuid4())
        meta["resourceVersion"] = str(self._revision)
        meta["creationTimestamp"] = (
            before.get("creationTimestamp") or meta.get("creationTimestamp") or now_rfc3339()
        )
        generation = int(before.get("generation") or 0)
        if old is None or _spec(old) != _spec(new):
            generation += 1
        meta["generation"] = generation

    def _record(self, kind: str, obj: Obj, previous: Obj | None) -> None:
        self._history.append(WatchEvent(kind, json_copy(obj), previous, self._revision))
        self._changed.notify_all()

    def _register_crd(self, crd: Obj) -> None:
        """Serve the CRD's versions and report it Established, as a real server does."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            resource = Resource(
                spec["group"],
                version["name"],
                names["kind"],
                names["plural"],
                spec.get("scope", "Namespaced") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                ("status",)
                if (version.get("subresources") or {}).get("status") is not None
                else (),
                tuple(names.get("categories") or ()),
            )
            self._resources[(resource.api_version, resource.kind)] = resource
        crd["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
            "conditions": [
                _condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                _condition(
                    "Established", "InitialNamesAccepted", "the initial names have been accepted"
                ),
            ],
        }


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, reason: str, message: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    }


def _normalised(obj: Obj, resource: Resource) -> Obj:
    """A private copy with the namespace as the server would store it."""
    new = json_copy(obj)
    meta = new.setdefault("metadata", {})
    if resource.namespaced:
        meta["namespace"] = meta.get("namespace") or "default"
    else:
        meta.pop("namespace", None)
    return new


def _key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _content(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in STORE_FIELDS}
    body = {k: v for k, v in obj.items() if k != "metadata"}
    if obj.get("kind") == "CustomResourceDefinition":
        body.pop("status", None)  # ours, recomputed on every real change
    return {**body, "metadata": meta}


def _spec(obj: Obj) -> Obj:
    """What `generation` tracks: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


# --- selectors -------------------------------------------------------------------------------
_LABEL_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^(?P<key>{_LABEL_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_RE = re.compile(rf"^(?P<key>{_LABEL_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_LABEL_VALUE})$")
_EXISTS_RE = re.compile(rf"^(?P<neg>!?)\s*(?P<key>{_LABEL_KEY})$")

Predicate = Callable[[dict[str, str]], bool]


def _split_terms(selector: str) -> list[str]:
    """Split on commas outside parentheses (`a in (x,y),b` is two terms)."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    return [t for t in terms if t] if selector.strip() else []


def parse_label_selector(selector: str | None) -> Predicate:
    """A predicate over a labels dict; ValueError on bad syntax (the server's 400)."""
    predicates = [_label_term(term) for term in _split_terms(selector or "")]
    return lambda labels: all(p(labels) for p in predicates)


def _label_term(term: str) -> Predicate:
    if match := _SET_RE.match(term):
        key, values = match["key"], {v.strip() for v in match["values"].split(",")}
        if match["op"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_RE.match(term):
        key, value = match["key"], match["value"]
        if match["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_RE.match(term):
        key, negated = match["key"], bool(match["neg"])
        return lambda labels: (key in labels) != negated
    raise ValueError(f"unable to parse requirement: {term!r}")


# Field selectors each kind supports (beyond metadata.name/metadata.namespace), as upstream.
_FIELDS: dict[str, frozenset[str]] = {
    "Pod": frozenset(
        {
            "spec.nodeName",
            "status.phase",
            "spec.restartPolicy",
            "status.podIP",
            "spec.schedulerName",
            "spec.serviceAccountName",
        }
    ),
    "Event": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.fieldPath",
            "reason",
            "type",
            "source",
        }
    ),
    "Namespace": frozenset({"status.phase"}),
    "Secret": frozenset({"type"}),
    "Node": frozenset({"spec.unschedulable"}),
    "Job": frozenset({"status.successful"}),
}
_FIELD_RE = re.compile(r"^(?P<field>[A-Za-z0-9_.]+)\s*(?P<op>==|=|!=)\s*(?P<value>.*)$")

ObjPredicate = Callable[[Obj], bool]


def parse_field_selector(kind: str, selector: str | None) -> ObjPredicate:
    supported = {"metadata.name", "metadata.namespace"} | _FIELDS.get(kind, frozenset())
    predicates = [_field_term(term, supported) for term in _split_terms(selector or "")]
    return lambda obj: all(p(obj) for p in predicates)


def _field_term(term: str, supported: Iterable[str]) -> ObjPredicate:
    match = _FIELD_RE.match(term)
    if not match:
        raise ValueError(f"invalid selector: {term!r}; can't understand {term!r}")
    field, value, negated = match["field"], match["value"].strip(), match["op"] == "!="
    if field not in supported:
        raise ValueError(f"field label not supported: {field}")
    return lambda obj: (_field_value(obj, field) == value) != negated


def _field_value(obj: Obj, path: str) -> str:
    """The field as the server's field set renders it (missing -> "")."""
    if path == "source":  # events: source.component, else reportingComponent (as upstream)
        return _field_value(obj, "source.component") or _field_value(obj, "reportingComponent")
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def json_copy(value: _T) -> _T:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): what copy.deepcopy returns,
    about 2.3x as fast (no memo: a part shared twice is copied twice, as in JSON). Other
    types are deep-copied as before."""
    return cast(_T, _copied(value))


def _copied(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copied(v) for k, v in value.items()}
    if kind is list:
        return [_copied(v) for v in value]
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    return copy.deepcopy(value)


def object_filter(
    kind: str, label_selector: str | None, field_selector: str | None
) -> ObjPredicate:
    """Both selectors as one predicate over objects; ValueError on a bad selector."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(kind, field_selector)
    if not (label_selector or "").strip() and not (field_selector or "").strip():
        return everything  # no selector: a 10,000-pod list needs no test per object
    return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)


def everything(obj: Obj) -> bool:
    """The predicate of an empty selector."""
    return True
