"""ApiServer: the Kubernetes REST API over an ObjectStore, served by cheroot (a WSGI app
built with werkzeug's Request/Response).

Enough of the real thing for the official python client, its dynamic client and kubectl:
discovery, get/list/watch (selectors, pagination), create/replace/patch/server-side apply,
delete, pods/log, services/proxy, bearer-token authentication, RBAC for ServiceAccount
tokens, and errors as real `Status` objects. The `api_*` fields of SimSpec inject faults;
they are read on every request so a test may change them while the server runs.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import logging
import random
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from werkzeug.wrappers import Request, Response

from stackcheck.sim import fields, openapi, rbac, tables
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.store import (
    REVIEW_KINDS,
    AlreadyExists,
    Conflict,
    Expired,
    NotFound,
    ObjectStore,
    Resource,
    StoreError,
    WatchEvent,
    everything,
    now_rfc3339,
    object_filter,
)
from stackcheck.sim.tls import write_serving_files
from stackcheck.sim.version import VERSION

Obj = dict[str, Any]
log = logging.getLogger(__name__)

ADMIN_USER = "stackcheck-admin"
NEW_EVENTS = "events.k8s.io/v1"
HEALTH_PATHS = ("/healthz", "/readyz", "/livez")
APPLY = "application/apply-patch+yaml"
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"
PROXY_TIMEOUT = (3.0, 30.0)  # connect, read
WATCH_DEFAULT_SECONDS = 1800  # upstream picks 30-60 min when the client gives none
WATCH_TICK = 0.5  # how often a watch notices the server stopping
PAGE_SNAPSHOTS = 256  # list snapshots kept for continue tokens
SERVER_THREADS = 64  # requests served at once; an open watch holds one
KEEP_ALIVE_SECONDS = 30  # an idle kept-alive connection, or a silent client, is closed then
SOMAXCONN = Path("/proc/sys/net/core/somaxconn")
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "authorization",
    }
)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """Answered as a `kind: Status` object."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: Obj | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details, self.headers = details, headers or {}

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    def response(self) -> Response:
        return _json(self.status(), self.code, self.headers)


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(
        404, f'{resource.qualified} "{name}" not found', "NotFound", _details(resource, name)
    )


def no_such_path() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "the server does not allow this method on the requested resource",
        "MethodNotAllowed",
        {},
    )


def invalid(resource: Resource, name: str, field: str, problem: str) -> ApiError:
    details = {
        **_details(resource, name),
        "kind": resource.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field}],
    }
    return ApiError(
        422, f'{resource.kind} "{name}" is invalid: {field}: {problem}', "Invalid", details
    )


def _details(resource: Resource, name: str) -> Obj:
    details: Obj = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def _json(body: Obj, code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_compact(body), code, headers=headers, mimetype="application/json")


def _compact(body: Any) -> str:
    """JSON as kube-apiserver writes it (Go's encoding/json): no space after , and :."""
    return json.dumps(body, separators=(",", ":"))


# --- routing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """What a request path names. `kind`: health, discovery, resource or unknown."""

    kind: str
    path: str
    group: str = ""
    version: str = ""
    resource: Resource | None = None
    plural: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    tail: str = ""  # the proxied path after `/proxy`


def parse_route(store: ObjectStore, path: str) -> Route:
    if path.rstrip("/") in HEALTH_PATHS or path.startswith(tuple(p + "/" for p in HEALTH_PATHS)):
        return Route("health", path)
    parts = path.strip("/").split("/")
    if (
        path in ("/version", "/version/", "/api", "/api/", "/apis", "/apis/")
        or parts[0] == "openapi"
    ):
        return Route("discovery", path)
    if parts[0] == "api" and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[0] == "apis" and len(parts) == 2:
        return Route("discovery", path, group=parts[1])
    else:
        return Route("unknown", path)
    if not rest:
        return Route("discovery", path, group, version)
    return _resource_route(store, path, group, version, rest)


def _resource_route(
    store: ObjectStore, path: str, group: str, version: str, rest: list[str]
) -> Route:
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        scoped = store.resource_for_plural(group, version, rest[2])
        if scoped is not None and scoped.namespaced:
            namespace, rest = rest[1], rest[2:]
    resource = store.resource_for_plural(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    tail = "/" + "/".join(rest[3:]) if len(rest) > 3 else ""
    if sub == "proxy" and not tail:
        tail = "/" if path.endswith("/") else ""
    return Route("resource", path, group, version, resource, rest[0], namespace, name, sub, tail)


# --- patches ---------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (null deletes, objects merge, everything else replaces)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(doc: Any, operations: list[Obj]) -> Any:
    """RFC 6902 JSON patch; ValueError on a bad operation or a failed `test`."""
    doc = copy.deepcopy(doc)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "test":
            if _pointer_get(doc, path) != op.get("value"):
                raise ValueError(f"testing value {path} failed")
        elif kind == "remove":
            doc = _pointer_remove(doc, path)
        elif kind in ("add", "replace"):
            if kind == "replace":
                _pointer_get(doc, path)  # must exist
                doc = _pointer_remove(doc, path)
            doc = _pointer_add(doc, path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            value = _pointer_get(doc, op.get("from", ""))
            if kind == "move":
                doc = _pointer_remove(doc, op.get("from", ""))
            doc = _pointer_add(doc, path, copy.deepcopy(value))
        else:
            raise ValueError(f"unexpected operation {kind!r}")
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _step(container: Any, token: str) -> Any:
    if isinstance(container, dict):
        if token not in container:
            raise ValueError(f"path component {token!r} not found")
        return container[token]
    if isinstance(container, list) and token.isdigit() and int(token) < len(container):
        return container[int(token)]
    raise ValueError(f"path component {token!r} not found")


def _pointer_get(doc: Any, path: str) -> Any:
    for token in _pointer(path):
        doc = _step(doc, token)
    return doc


def _pointer_add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = (
        _pointer_get(
            doc, "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1])
        )
        if tokens[:-1]
        else doc
    )
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (
        last == "-" or (last.isdigit() and int(last) <= len(parent))
    ):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise ValueError(f"cannot add at {path!r}")
    return doc


def _pointer_remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise ValueError("cannot remove the whole document")
    parent = (
        _pointer_get(
            doc, "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1])
        )
        if tokens[:-1]
        else doc
    )
    _step(parent, tokens[-1])
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[int(tokens[-1])]
    return doc


# --- the server ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Page:
    items: list[bytes]  # each item's JSON, as the list answers it
    resource_version: str


class _WatchCache:
    """Lists served from memory, as kube-apiserver serves them from its watch cache: per
    kind, the objects and their JSON (encoded once per change), kept current from the
    store's events. A list costs no deep copy of the store, so 10,000 pods list quickly."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        # (apiVersion, kind) -> (revision seen, {(namespace, name): (object, JSON)})
        self._kinds: dict[tuple[str, str], tuple[int, dict[tuple[str, str], tuple[Obj, bytes]]]]
        self._kinds = {}
        # (apiVersion, kind) -> its keys in etcd order, kept until the kind changes (the real
        # cache keeps its items ordered; sorting 10,000 keys per list cost ~10 ms)
        self._order: dict[tuple[str, str], list[tuple[str, str]]] = {}

    def warm(self) -> None:
        for resource in self.store.resources():
            self.items(resource, "", everything)

    def items(self, resource: Resource, namespace: str, matches: Any) -> list[bytes]:
        """The JSON of the matching objects, ordered by (namespace, name) like etcd keys."""
        with self._lock:
            entries = self._current(resource)
            kind = (resource.api_version, resource.kind)
            order = self._order.get(kind)
            if order is None:
                order = self._order[kind] = sorted(entries)
            keys = order if not namespace else [k for k in order if k[0] == namespace]
            if matches is everything:
                return [entries[k][1] for k in keys]
            return [entries[k][1] for k in keys if matches(entries[k][0])]

    def _current(self, resource: Resource) -> dict[tuple[str, str], tuple[Obj, bytes]]:
        kind = (resource.api_version, resource.kind)
        typed = not _builtin(resource)
        cached = self._kinds.get(kind)
        if cached is not None:
            revision, entries = cached
            try:
                events = self.store.events_after(
                    revision, 0, lambda e: (e.api_version, e.kind) == kind
                )
            except Expired:
                cached = None
            else:
                for event in events:
                    meta = event.object["metadata"]
                    key = (meta.get("namespace", ""), meta["name"])
                    if event.type == "DELETED":
                        entries.pop(key, None)
                        self._order.pop(kind, None)
                    else:
                        if key not in entries:
                            self._order.pop(kind, None)
                        entries[key] = (event.object, _encoded(event.object, typed))
                    revision = event.resource_version
                self._kinds[kind] = (revision, entries)
        if cached is None:
            revision = int(self.store.resource_version)  # before listing: misses nothing
            entries = {
                (o["metadata"].get("namespace", ""), o["metadata"]["name"]): (o, _encoded(o, typed))
                for o in self.store.list_objects(*kind)
            }
            self._kinds[kind] = (revision, entries)
            self._order.pop(kind, None)
        return entries


class ApiServer:
    """Start with `start()` (returns the base URL), stop with `stop()` (idempotent)."""

    def __init__(self, store: ObjectStore, spec: SimSpec, token: str) -> None:
        self.store, self.spec, self.token = store, spec, token
        # requests by verb (get, list, watch, create, update, patch, delete, proxy, log,
        # discovery, health); "continue" counts the lists that fetched a later page
        self.counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._tokens: dict[str, rbac.ServiceAccountUser] = {}
        self._proxies: dict[tuple[str, str, int], str] = {}
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self._cache = _WatchCache(store)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.base_url = ""
        self.ca_pem: bytes | None = None  # with TLS: the CA that signed the serving certificate
        self.ca_file: Path | None = None  # the same, as a file (for clients that want one)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, port: int = 0, tls: bool = False) -> str:
        """Serve on 127.0.0.1 (`port` 0: a free one). `tls`: https with a throwaway CA
        (`ca_pem`), for kubectl, which sends tokens over TLS only."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        # cheroot, not werkzeug's development server: connections are kept alive between
        # requests (HTTP/1.1), as kube-apiserver keeps them, with TCP_NODELAY as Go sets it
        server = wsgi.Server(
            ("127.0.0.1", port),
            self._wsgi,
            numthreads=SERVER_THREADS,
            server_name="sim-apiserver",
            timeout=KEEP_ALIVE_SECONDS,
            shutdown_timeout=2,
            request_queue_size=listen_backlog(),
        )
        server.version = ""  # no Server header: kube-apiserver sends none
        if tls:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="stackcheck-sim-tls-")
            files = write_serving_files(Path(self._tls_dir.name))
            server.ssl_adapter = BuiltinSSLAdapter(str(files.cert_file), str(files.key_file))
            self.ca_pem, self.ca_file = files.ca_pem, files.ca_file
        server.prepare()
        self._server = server
        self._thread = threading.Thread(target=server.serve, name="sim-apiserver", daemon=True)
        self._thread.start()
        self._cache.warm()  # like a real server, lists are served from a warm cache
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{server.bind_addr[1]}"
        return self.base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()  # open watches end within WATCH_TICK
        server.stop()
        if thread is not None:
            thread.join(timeout=10)
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    # --- registration ----------------------------------------------------------------------
    def register_service_proxy(
        self, namespace: str, service: str, port: int, target_url: str
    ) -> None:
        with self._lock:
            self._proxies[(namespace, service, int(port))] = target_url.rstrip("/")

    def register_token(self, token: str, namespace: str, serviceaccount: str) -> None:
        """Authenticate `token` as the ServiceAccount; RBAC objects decide what it may do."""
        with self._lock:
            self._tokens[token] = rbac.ServiceAccountUser(namespace, serviceaccount)

    # --- request pipeline -------------------------------------------------------------------
    def _wsgi(self, environ: Obj, start_response: Any) -> Any:
        response = self._respond(Request(environ))
        if not response.is_streamed:
            return response(environ, start_response)

        def headers_now(status: str, headers: Any, exc_info: Any = None) -> Any:
            write = start_response(status, headers, exc_info)
            write(b"")  # a watch's headers go out at once, as kube-apiserver flushes them
            return write

        return response(environ, headers_now)

    def _respond(self, request: Request) -> Response:
        route = parse_route(self.store, request.path)
        self._count(_count_verb(request, route))
        spec = self.spec
        if spec.api_delay_seconds > 0:
            time.sleep(spec.api_delay_seconds)
        if route.kind == "health":
            return Response("ok", mimetype="text/plain")
        try:
            self._inject_faults(spec)
            user = self._authenticate(request, spec)
            self._authorize(user, request, route, spec)
            if route.resource is not None and route.resource.kind in REVIEW_KINDS:
                return self._review(request, route, route.resource, user)
            return self._dispatch(request, route)
        except ApiError as error:
            return error.response()
        except Exception as exc:  # a bug of ours answers like the real server's panics
            log.exception("sim apiserver: %s %s", request.method, request.path)
            return ApiError(500, f"Internal error occurred: {exc}").response()

    def _count(self, verb: str) -> None:
        with self._counts_lock:
            self.counts[verb] += 1

    @staticmethod
    def _inject_faults(spec: SimSpec) -> None:
        if spec.api_error_status is not None:
            code = spec.api_error_status
            raise ApiError(code, _fault_message(code), headers=_retry_after(code))
        if spec.api_transient_error_rate > 0 and random.random() < spec.api_transient_error_rate:
            code = random.choice((500, 503, 429))
            raise ApiError(
                code,
                _fault_message(code),
                headers=_retry_after(code),
                details={"retryAfterSeconds": 1} if code == 429 else None,
            )

    def _authenticate(self, request: Request, spec: SimSpec) -> rbac.ServiceAccountUser | None:
        """None is the admin; a ServiceAccountUser is subject to RBAC."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        with self._lock:
            user = self._tokens.get(token)
        known = scheme.lower() == "bearer" and (
            secrets.compare_digest(token, self.token) or user is not None
        )
        if spec.api_bad_token or not known:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return user

    def _authorize(
        self, user: rbac.ServiceAccountUser | None, request: Request, route: Route, spec: SimSpec
    ) -> None:
        username = user.username if user else ADMIN_USER
        attributes = _attributes(request, route)
        if (
            user is not None
            and not spec.api_forbidden
            and rbac.allowed(self.store, user, attributes)
        ):
            return
        if user is None and not spec.api_forbidden:
            return
        what = route.resource.qualified if route.resource else route.plural
        message = attributes.forbidden_reason(username)
        if not attributes.is_resource:
            raise ApiError(403, f"forbidden: {message}", "Forbidden", {})
        subject = f'{what} "{route.name}"' if route.name else what
        details: Obj = {"kind": route.plural}
        if route.name:
            details["name"] = route.name
        if route.group:
            details["group"] = route.group
        raise ApiError(403, f"{subject} is forbidden: {message}", "Forbidden", details)

    # --- dispatch ----------------------------------------------------------------------------
    def _dispatch(self, request: Request, route: Route) -> Response:
        if route.kind == "discovery":
            return self._discovery(route)
        resource = route.resource
        if route.kind != "resource" or resource is None:
            raise no_such_path()
        if route.namespace == "" and resource.namespaced and route.name:
            raise no_such_path()  # /api/v1/pods/x: a namespaced object needs its namespace
        if route.subresource:
            return self._subresource(request, route, resource)
        method = request.method
        if not route.name:
            if method == "GET":
                return self._list_or_watch(request, route, resource)
            if method == "POST" and (route.namespace or not resource.namespaced):
                return self._create(request, route, resource)
            raise method_not_allowed()
        handlers = {
            "GET": self._get,
            "PUT": self._replace,
            "PATCH": self._patch,
            "DELETE": self._delete,
        }
        if method not in handlers:
            raise method_not_allowed()
        return handlers[method](request, route, resource)

    def _subresource(self, request: Request, route: Route, resource: Resource) -> Response:
        if route.subresource not in resource.subresources:
            raise no_such_path()
        if route.subresource == "log":
            if request.method != "GET":
                raise method_not_allowed()
            return self._pod_log(request, route, resource)
        if route.subresource == "proxy" and resource.kind == "Service":
            return self._service_proxy(request, route, resource)
        if route.subresource == "status":
            if request.method == "GET":
                return self._get(request, route, resource)
            if request.method in ("PUT", "PATCH"):
                return self._write_status(request, route, resource)
            raise method_not_allowed()
        raise no_such_path()

    # --- self-subject reviews ---------------------------------------------------------------
    def _review(
        self,
        request: Request,
        route: Route,
        resource: Resource,
        user: rbac.ServiceAccountUser | None,
    ) -> Response:
        """Who am I, what may I do: answered from the token and RBAC, never stored."""
        if request.method != "POST" or route.name or route.subresource:
            raise method_not_allowed()
        body = _body(request)
        if (
            body.get("apiVersion", resource.api_version) != resource.api_version
            or body.get("kind", resource.kind) != resource.kind
        ):
            raise ApiError(
                400,
                f"the API version in the data ({body.get('apiVersion')}) does "
                f"not match the expected API version ({resource.api_version})",
                "BadRequest",
            )
        body.update(apiVersion=resource.api_version, kind=resource.kind)
        spec = body.get("spec") or {}
        if resource.kind == "SelfSubjectReview":
            status: Obj = {"userInfo": _user_info(user)}
        elif resource.kind == "SelfSubjectRulesReview":
            found = rbac.rules(self.store, user, str(spec.get("namespace") or ""))
            status = {
                "resourceRules": [r for r in found if "nonResourceURLs" not in r],
                "nonResourceRules": [r for r in found if "nonResourceURLs" in r],
                "incomplete": False,
            }
        else:
            status = {"allowed": self._may(user, spec)}
        body["metadata"] = {"creationTimestamp": None}
        return _json({**body, "status": status}, 201)

    def _may(self, user: rbac.ServiceAccountUser | None, spec: Obj) -> bool:
        if user is None:
            return True
        res, other = spec.get("resourceAttributes"), spec.get("nonResourceAttributes") or {}
        if res:
            attributes = rbac.Attributes(
                verb=str(res.get("verb", "")),
                group=str(res.get("group", "")),
                resource=str(res.get("resource", "")),
                subresource=str(res.get("subresource", "")),
                namespace=str(res.get("namespace", "")),
                name=str(res.get("name", "")),
            )
        else:
            attributes = rbac.Attributes(
                verb=str(other.get("verb", "")), path=str(other.get("path", ""))
            )
        return rbac.allowed(self.store, user, attributes)

    # --- discovery -----------------------------------------------------------------------------
    def _discovery(self, route: Route) -> Response:
        path = route.path.rstrip("/")
        if path == "/version":
            return _json(VERSION)
        if path == "/api":
            address = self.base_url.split("://", 1)[-1]
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": address}
                    ],
                }
            )
        if path == "/apis":
            return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": self._groups()})
        if route.group and not route.version:
            group = next((g for g in self._groups() if g["name"] == route.group), None)
            if group is None:
                raise no_such_path()
            return _json({"kind": "APIGroup", "apiVersion": "v1", **group})
        if route.version:
            return self._resource_list(route.group, route.version)
        return self._openapi(path)

    def _openapi(self, path: str) -> Response:
        """`/openapi/v3` and its per-group-version documents (see openapi.py); v2 is 404."""
        parts = path.strip("/").split("/")
        if parts[:2] != ["openapi", "v3"]:
            raise no_such_path()
        resources = self.store.resources()
        if len(parts) == 2:
            return _json(openapi.root(resources))
        rest = parts[2:]
        if rest[:1] == ["api"] and len(rest) == 2:
            found = openapi.document(resources, "", rest[1])
        elif rest[:1] == ["apis"] and len(rest) == 3:
            found = openapi.document(resources, rest[1], rest[2])
        else:
            found = None
        if found is None:
            raise no_such_path()
        return _json(found)

    def _groups(self) -> list[Obj]:
        versions: dict[str, list[str]] = {}
        for resource in self.store.resources():
            if resource.group and resource.version not in versions.setdefault(resource.group, []):
                versions[resource.group].append(resource.version)
        groups = []
        for name, found in versions.items():
            found.sort(key=_version_rank)
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in found]
            groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
        return groups

    def _resource_list(self, group: str, version: str) -> Response:
        served = [r for r in self.store.resources() if (r.group, r.version) == (group, version)]
        if not served:
            raise no_such_path()
        entries: list[Obj] = []
        for resource in sorted(served, key=lambda r: r.plural):
            entries.append(_resource_entry(resource))
            entries.extend(_subresource_entry(resource, sub) for sub in resource.subresources)
        group_version = f"{group}/{version}" if group else version
        return _json(
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": entries,
            }
        )

    # --- reads -----------------------------------------------------------------------------
    def _get(self, request: Request, route: Route, resource: Resource) -> Response:
        if resource.api_version == NEW_EVENTS:
            found = self.store.get_object("v1", "Event", route.namespace, route.name)
            found = None if found is None else events_api_view(found)
        else:
            found = self.store.get_object(
                resource.api_version, resource.kind, route.namespace, route.name
            )
        if found is None:
            raise not_found(resource, route.name)
        if tables.wants_table(request.headers.get("Accept", "")):
            return self._table(request, resource, [found], found["metadata"]["resourceVersion"])
        return _json(found)

    def _table(
        self, request: Request, resource: Resource, objects: list[Obj], resource_version: str
    ) -> Response:
        columns = None if _builtin(resource) else self._printer_columns(resource)
        return _json(
            tables.table(
                resource.api_version,
                resource.kind,
                objects,
                resource_version,
                request.args.get("includeObject", "Metadata"),
                columns,
                builtin=_builtin(resource),
            )
        )

    def _printer_columns(self, resource: Resource) -> list[Obj]:
        crd = self.store.get_object(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            f"{resource.plural}.{resource.group}",
        )
        for version in ((crd or {}).get("spec") or {}).get("versions") or []:
            if version.get("name") == resource.version:
                return list(version.get("additionalPrinterColumns") or [])
        return []

    def _list_or_watch(self, request: Request, route: Route, resource: Resource) -> Response:
        args = request.args
        try:
            matches = object_filter(
                resource.kind, args.get("labelSelector"), args.get("fieldSelector")
            )
        except ValueError as exc:
            raise ApiError(400, str(exc), "BadRequest") from None
        if args.get("watch", "").lower() in ("true", "1"):
            return self._watch(request, route, resource)
        if resource.api_version == NEW_EVENTS:  # the same events, in events.k8s.io's shape
            version = self.store.resource_version
            found = [
                events_api_view(e)
                for e in self.store.list_objects("v1", "Event", route.namespace or None)
                if matches(e)
            ]
            return _json(
                {
                    "kind": "EventList",
                    "apiVersion": NEW_EVENTS,
                    "metadata": {"resourceVersion": version},
                    "items": [_without_type(e) for e in found],
                }
            )
        if tables.wants_table(request.headers.get("Accept", "")):
            version = self.store.resource_version  # one page: kubectl's chunks need no token
            objects = [
                o
                for o in self.store.list_objects(
                    resource.api_version, resource.kind, route.namespace or None
                )
                if matches(o)
            ]
            return self._table(request, resource, objects, version)
        token, limit = args.get("continue", ""), _int_arg(args.get("limit"), "limit", 0)
        if token:
            self._count("continue")  # also counted as a list: pages beyond the first
            page, offset = self._snapshot(token)
        else:
            version = self.store.resource_version  # before listing: a watch from it misses nothing
            items = self._cache.items(resource, route.namespace, matches)
            page, offset = _Page(items, version), 0
        return Response(self._list_body(resource, page, offset, limit), mimetype="application/json")

    def _list_body(self, resource: Resource, page: _Page, offset: int, limit: int) -> bytes:
        end = offset + limit if limit > 0 else len(page.items)
        chosen = page.items[offset:end]
        meta: Obj = {"resourceVersion": page.resource_version}
        if end < len(page.items):
            meta["continue"] = self._remember(page, end)
            meta["remainingItemCount"] = len(page.items) - end
        head = _compact(
            {"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": meta}
        )
        return head[:-1].encode() + b',"items":[' + b",".join(chosen) + b"]}"

    def _remember(self, page: _Page, offset: int) -> str:
        """A continue token: the list snapshot is kept so later pages stay consistent."""
        with self._lock:
            key = next((k for k, v in self._pages.items() if v is page), None) or uuid.uuid4().hex
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > PAGE_SNAPSHOTS:
                self._pages.popitem(last=False)
        raw = json.dumps({"rv": page.resource_version, "id": key, "start": offset})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def _snapshot(self, token: str) -> tuple[_Page, int]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded))
            key, offset = str(data["id"]), int(data["start"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ApiError(400, f"continue key is not valid: {token!r}", "BadRequest") from None
        with self._lock:
            page = self._pages.get(key)
        if page is None:
            raise ApiError(
                410,
                "The provided continue parameter is too old to display a "
                "consistent list result. You can start a new list without the "
                "continue parameter.",
                "Expired",
                {},
            )
        return page, offset

    def _watch(self, request: Request, route: Route, resource: Resource) -> Response:
        args = request.args
        matches = object_filter(resource.kind, args.get("labelSelector"), args.get("fieldSelector"))
        seconds = _int_arg(args.get("timeoutSeconds"), "timeoutSeconds", WATCH_DEFAULT_SECONDS)
        asked = args.get("resourceVersion", "")
        initial: list[Obj] = []
        if asked in ("", "0"):  # upstream: start with the current state as ADDED events
            revision = int(self.store.resource_version)
            initial = [
                o
                for o in self.store.list_objects(
                    resource.api_version, resource.kind, route.namespace or None
                )
                if matches(o)
            ]
        else:
            revision = _int_arg(asked, "resourceVersion", 0)
        shape = (
            self._table_rows(request, resource)
            if tables.wants_table(request.headers.get("Accept", ""))
            else None
        )
        stream = self._watch_stream(
            resource, route.namespace, matches, revision, initial, time.monotonic() + seconds, shape
        )
        return Response(stream, mimetype="application/json", direct_passthrough=True)

    def _table_rows(self, request: Request, resource: Resource) -> Any:
        """For `kubectl get -w`: each event's object as a one-row Table, the columns in the
        first only (kubectl prints the header once)."""
        first = [True]
        columns = None if _builtin(resource) else self._printer_columns(resource)

        def shape(obj: Obj) -> Obj:
            table = tables.table(
                resource.api_version,
                resource.kind,
                [obj],
                obj["metadata"].get("resourceVersion", ""),
                request.args.get("includeObject", "Metadata"),
                columns,
                builtin=_builtin(resource),
            )
            if not first[0]:
                table["columnDefinitions"] = []
            first[0] = False
            return table

        return shape

    def _watch_stream(
        self,
        resource: Resource,
        namespace: str,
        matches: Any,
        revision: int,
        initial: list[Obj],
        deadline: float,
        shape: Any = None,
    ) -> Iterator[bytes]:
        shape = shape or (lambda obj: obj)
        for obj in initial:
            yield _line({"type": "ADDED", "object": shape(obj)})

        def wanted(event: WatchEvent) -> bool:
            return (event.api_version, event.kind) == (resource.api_version, resource.kind) and (
                not namespace or event.object["metadata"].get("namespace") == namespace
            )

        while not self._stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            try:
                events = self.store.events_after(revision, min(left, WATCH_TICK), wanted)
            except Expired as exc:
                yield _line({"type": "ERROR", "object": ApiError(410, str(exc)).status()})
                return
            for event in events:
                revision = event.resource_version
                kind = _selected_type(event, matches)
                if kind is not None:
                    yield _line({"type": kind, "object": shape(event.object)})

    def _pod_log(self, request: Request, route: Route, resource: Resource) -> Response:
        pod = self.store.get_object("v1", "Pod", route.namespace, route.name)
        if pod is None:
            raise not_found(resource, route.name)
        container = _log_container(pod, request.args.get("container", ""))
        text = self.store.logs.get((route.namespace, route.name, container))
        if request.args.get("previous", "").lower() in ("true", "1"):
            if not _terminated_before(pod, container):
                raise ApiError(
                    400,
                    f'previous terminated container "{container}" in pod "{route.name}" not found',
                    "BadRequest",
                )
            # a crash-looping container fails the same way on every run
            text = self.store.logs.get((route.namespace, route.name, container), "")
        elif text is None:
            waiting = _waiting_reason(pod, container)
            if waiting:
                raise ApiError(
                    400,
                    f'container "{container}" in pod "{route.name}" is waiting to start: {waiting}',
                    "BadRequest",
                )
            text = ""
        tail = _int_arg(request.args.get("tailLines"), "tailLines", -1)
        if tail >= 0:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-tail:]) if tail else ""
        data = text.encode()
        limit = _int_arg(request.args.get("limitBytes"), "limitBytes", 0)
        if limit > 0:
            data = data[:limit]
        return Response(data, mimetype="text/plain")

    def _service_proxy(self, request: Request, route: Route, resource: Resource) -> Response:
        service, port_text = _proxy_name(route.name)
        service_obj = self.store.get_object("v1", "Service", route.namespace, service)
        port = _proxy_port(service_obj, port_text)
        with self._lock:
            if port is None:  # `{name}` alone: the one registered port of the service
                port = next(
                    (
                        p
                        for (ns, svc, p) in self._proxies
                        if (ns, svc) == (route.namespace, service)
                    ),
                    None,
                )
            target = self._proxies.get((route.namespace, service, port or -1))
        if target is None:
            if service_obj is None:
                raise not_found(resource, service)
            raise ApiError(503, f'no endpoints available for service "{route.name}"')
        return _forward(request, target, route)

    # --- writes ----------------------------------------------------------------------------
    def _create(self, request: Request, route: Route, resource: Resource) -> Response:
        obj = self._checked_body(_body(request), route, resource, creating=True)
        if resource.namespaced:
            self._require_namespace(route.namespace)
        if _dry_run(request):
            return _json(_preview(obj, None), 201)
        try:
            return _json(self.store.create(_managed(obj, request, "Update")), 201)
        except AlreadyExists:
            raise ApiError(
                409,
                f'{resource.qualified} "{obj["metadata"]["name"]}" already exists',
                "AlreadyExists",
                _details(resource, obj["metadata"]["name"]),
            ) from None

    def _replace(self, request: Request, route: Route, resource: Resource) -> Response:
        obj = self._checked_body(_body(request), route, resource)
        existing = self._existing(route, resource)
        if _dry_run(request):
            return _json(_preview(obj, existing))
        return _json(self._update(_managed(obj, request, "Update", existing), resource))

    def _patch(self, request: Request, route: Route, resource: Resource) -> Response:
        existing = self.store.get_object(
            resource.api_version, resource.kind, route.namespace, route.name
        )
        is_apply = request.mimetype == APPLY
        if existing is None and not is_apply:
            raise not_found(resource, route.name)
        patched = self._patched(request, existing, route, resource)
        obj = self._checked_body(patched, route, resource, creating=existing is None)
        if existing is None and resource.namespaced:
            self._require_namespace(route.namespace)
        code = 201 if existing is None else 200
        applied = _yaml_body(request) if is_apply else None
        if applied is not None and existing is not None:
            self._check_conflicts(request, applied, existing)
        if _dry_run(request):
            return _json(_preview(obj, existing), code)
        obj = _managed(obj, request, "Apply" if is_apply else "Update", existing, applied)
        if existing is None:
            return _json(self.store.apply(obj), code)
        return _json(self._update(obj, resource))

    @staticmethod
    def _check_conflicts(request: Request, applied: Obj, existing: Obj) -> None:
        """A field another manager owns, applied with a different value: 409 unless
        `force=true` (then the applier takes it over)."""
        if request.args.get("force", "").lower() in ("true", "1"):
            return
        found = fields.conflicts(applied, existing, request.args.get("fieldManager", ""))
        if found:
            message, details = fields.conflict_status(found)
            raise ApiError(409, message, "Conflict", details)

    def _patched(
        self, request: Request, existing: Obj | None, route: Route, resource: Resource
    ) -> Obj:
        """The object the patch asks for, per Content-Type."""
        kind = request.mimetype
        if kind == APPLY:
            if not request.args.get("fieldManager"):
                raise ApiError(
                    422,
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                    "Required value: is required for apply patch",
                    "Invalid",
                )
            body = _yaml_body(request)
            # SSA, simplified: the applied config merged into the live object (lists are
            # replaced, fields the manager dropped are kept); conflicts: _check_conflicts.
            return body if existing is None else dict(merge_patch(existing, body))
        if kind in MERGE_PATCHES:
            # Strategic merge patch treated as JSON merge patch: same for maps, but lists
            # are replaced rather than merged by their patchMergeKey.
            return dict(merge_patch(existing, _json_body(request, dict)))
        if kind == JSON_PATCH:
            try:
                result = json_patch(existing, _json_body(request, list))
            except (ValueError, TypeError) as exc:
                raise ApiError(
                    422,
                    f"the server rejected our request due to an error in our request: {exc}",
                    "Invalid",
                ) from None
            if not isinstance(result, dict):
                raise ApiError(422, "the patched document is not an object", "Invalid")
            return result
        raise ApiError(
            415,
            f"the body of the request was in an unknown format - accepted media "
            f"types include: {JSON_PATCH}, {', '.join(MERGE_PATCHES)}, {APPLY}",
            "UnsupportedMediaType",
        )

    def _write_status(self, request: Request, route: Route, resource: Resource) -> Response:
        """Writes to /status change only the status, as upstream."""
        existing = self._existing(route, resource)
        if request.method == "PUT":
            wanted = self._checked_body(_body(request), route, resource)
        else:
            wanted = self._patched(request, existing, route, resource)
        obj = {**existing, "status": wanted.get("status", existing.get("status"))}
        if _dry_run(request):
            return _json(obj)
        return _json(self._update(obj, resource))

    def _delete(self, request: Request, route: Route, resource: Resource) -> Response:
        existing = self._existing(route, resource)
        if not _dry_run(request):
            self.store.remove(resource.api_version, resource.kind, route.namespace, route.name)
        return _json(existing)  # upstream answers the deleted object for immediate deletion

    def _existing(self, route: Route, resource: Resource) -> Obj:
        found = self.store.get_object(
            resource.api_version, resource.kind, route.namespace, route.name
        )
        if found is None:
            raise not_found(resource, route.name)
        return found

    def _update(self, obj: Obj, resource: Resource) -> Obj:
        name = obj["metadata"]["name"]
        try:
            return self.store.update(obj)
        except NotFound:
            raise not_found(resource, name) from None
        except Conflict:
            raise ApiError(
                409,
                f'Operation cannot be fulfilled on {resource.qualified} "{name}": '
                "the object has been modified; please apply your changes to the "
                "latest version and try again",
                "Conflict",
                _details(resource, name),
            ) from None
        except StoreError as exc:
            raise ApiError(500, f"Internal error occurred: {exc}") from None

    def _require_namespace(self, namespace: str) -> None:
        if self.store.get_object("v1", "Namespace", None, namespace) is None:
            raise ApiError(
                404,
                f'namespaces "{namespace}" not found',
                "NotFound",
                {"name": namespace, "kind": "namespaces"},
            )

    def _checked_body(
        self, body: Obj, route: Route, resource: Resource, creating: bool = False
    ) -> Obj:
        """The body with type and namespace filled from the URL; 400/422 like upstream."""
        obj = copy.deepcopy(body)
        if (
            obj.get("apiVersion", resource.api_version) != resource.api_version
            or obj.get("kind", resource.kind) != resource.kind
        ):
            raise ApiError(
                400,
                f"the API version in the data ({obj.get('apiVersion')}) does not "
                f"match the expected API version ({resource.api_version})",
                "BadRequest",
            )
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object", "BadRequest")
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != route.namespace:
                raise ApiError(
                    400,
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request",
                    "BadRequest",
                )
            meta["namespace"] = route.namespace
        if creating and not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name") or ""
        if route.name and name and name != route.name:
            raise ApiError(
                400,
                f"the name of the object ({name}) does not match the name on "
                f"the URL ({route.name})",
                "BadRequest",
            )
        if not name and route.name:
            meta["name"] = name = route.name
        _validate_name(resource, name)
        return obj


# --- helpers -----------------------------------------------------------------------------------
def _count_verb(request: Request, route: Route) -> str:
    if route.kind in ("discovery", "unknown"):
        return "discovery"
    if route.kind == "health":
        return "health"
    if route.subresource in ("log", "proxy"):
        return route.subresource
    method = request.method
    if method == "GET":
        if route.name:
            return "get"
        return "watch" if request.args.get("watch", "").lower() in ("true", "1") else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, method.lower()
    )


def _attributes(request: Request, route: Route) -> rbac.Attributes:
    """The RBAC view of a request: proxy verbs follow the HTTP method, logs are `get`."""
    if route.kind != "resource":
        return rbac.Attributes(verb=request.method.lower(), path=route.path)
    verb = _count_verb(request, route)
    if route.subresource == "proxy" or (route.subresource and verb in ("log",)):
        verb = {
            "GET": "get",
            "HEAD": "get",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }.get(request.method, "get")
    return rbac.Attributes(
        verb=verb,
        group=route.group,
        resource=route.plural,
        subresource=route.subresource,
        namespace=route.namespace,
        name=route.name,
    )


def _fault_message(code: int) -> str:
    return {
        429: "Too many requests, please try again later.",
        500: "Internal error occurred: injected by the sim",
        503: "the server is currently unable to handle the request",
    }.get(code, f"injected failure {code}")


def _retry_after(code: int) -> dict[str, str]:
    return {"Retry-After": "1"} if code in (429, 503) else {}


def _version_rank(version: str) -> tuple[int, int, int]:
    """v1 before v1beta1 before v1alpha1, higher majors first (upstream priority order)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    stability = {None: 0, "beta": 1, "alpha": 2}[match[2]]
    return (stability, -int(match[1]), -int(match[3] or 0))


_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _resource_entry(resource: Resource) -> Obj:
    verbs = ["create"] if resource.kind in REVIEW_KINDS else _VERBS
    entry: Obj = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": verbs,
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    return entry


def _subresource_entry(resource: Resource, sub: str) -> Obj:
    verbs = {
        "log": ["get"],
        "status": ["get", "patch", "update"],
        "scale": ["get", "patch", "update"],
        "exec": ["create", "get"],
        "proxy": ["create", "delete", "get", "patch", "update"],
        "finalize": ["update"],
    }.get(sub, ["get"])
    kind = {
        "scale": "Scale",
        "exec": "PodExecOptions",
        "log": "Pod",
        "proxy": f"{resource.kind}ProxyOptions",
    }.get(sub, resource.kind)
    return {
        "name": f"{resource.plural}/{sub}",
        "singularName": "",
        "namespaced": resource.namespaced,
        "kind": kind,
        "verbs": verbs,
    }


def _line(event: Obj) -> bytes:
    return _compact(event).encode() + b"\n"


def _selected_type(event: WatchEvent, matches: Any) -> str | None:
    """The event type a selector-filtered watcher sees (entering/leaving the selection
    reads as ADDED/DELETED, as upstream)."""
    now = event.type != "DELETED" and matches(event.object)
    before = event.previous is not None and matches(event.previous)
    if event.type == "DELETED":
        return "DELETED" if before or matches(event.object) else None
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED" if event.previous is not None else event.type
    return "DELETED" if before else None


def listen_backlog() -> int:
    """The listen backlog kube-apiserver's Go listener asks for: the kernel's somaxconn
    (golang/go src/net/sock_linux.go maxListenerBacklog, go1.22: 4096 on Linux >= 5.4),
    syscall.SOMAXCONN 128 when unreadable or 0. cheroot's default of 5 overflowed with 16
    reads at once: 1 s stalls on TCP's SYN retry."""
    try:
        value = int(SOMAXCONN.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 128
    return value if value > 0 else 128


def _builtin(resource: Resource) -> bool:
    return not resource.group or "." not in resource.group or resource.group.endswith(".k8s.io")


def _encoded(obj: Obj, typed: bool) -> bytes:
    """An object's JSON as a list item (built-in kinds' items carry no apiVersion/kind)."""
    return _compact(obj if typed else _without_type(obj)).encode()


def _without_type(obj: Obj) -> Obj:
    """Upstream lists of built-in kinds omit each item's apiVersion/kind."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def _int_arg(value: str | None, name: str, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(
            400, f"{name}: invalid value {value!r}: must be an integer", "BadRequest"
        ) from None


def _dry_run(request: Request) -> bool:
    return "All" in request.args.getlist("dryRun")


def _body(request: Request) -> Obj:
    body: Obj = _json_body(request, dict)
    return body


def _json_body(request: Request, shape: type[Any]) -> Any:
    try:
        data = json.loads(request.get_data() or b"null")
    except ValueError as exc:
        raise ApiError(
            400, f"the body of the request could not be decoded: {exc}", "BadRequest"
        ) from None
    if not isinstance(data, shape):
        raise ApiError(
            400, f"the body of the request must be a JSON {shape.__name__}", "BadRequest"
        )
    return data


class _Yaml12Loader(yaml.SafeLoader):
    """YAML as Go's sigs.k8s.io/yaml reads it: only true/false are booleans (PyYAML's
    YAML 1.1 would turn a `y:` or `on:` key into True)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _yaml_body(request: Request) -> Obj:
    try:
        data = yaml.load(request.get_data() or b"", Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        raise ApiError(400, f"error decoding YAML: {exc}", "BadRequest") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the apply configuration must be an object", "BadRequest")
    return data


def _validate_name(resource: Resource, name: str) -> None:
    if not name:
        raise invalid(
            resource, "", "metadata.name", "Required value: name or generateName is required"
        )
    if resource.group == "rbac.authorization.k8s.io":
        ok = "/" not in name and name not in (".", "..")  # RBAC allows `system:...` names
    else:
        ok = len(name) <= 253 and bool(DNS_SUBDOMAIN.match(name))
    if not ok:
        raise invalid(
            resource,
            name,
            "metadata.name",
            f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist '
            "of lower case alphanumeric characters, '-' or '.', and must start and "
            "end with an alphanumeric character",
        )


def _managed(
    obj: Obj,
    request: Request,
    operation: str,
    existing: Obj | None = None,
    applied: Obj | None = None,
) -> Obj:
    """managedFields after this write (fields.py): an Apply owns the fields it applied, an
    Update the fields it changed. The store ignores managedFields when detecting changes."""
    manager = request.args.get("fieldManager") or _agent(request)
    result = copy.deepcopy(obj)
    result["metadata"]["managedFields"] = fields.managed_entries(
        existing, obj, manager, operation, applied, obj["apiVersion"], now_rfc3339()
    )
    return result


def _agent(request: Request) -> str:
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/")[0].split(" ")[0] or "unknown"


def _preview(obj: Obj, existing: Obj | None) -> Obj:
    """What a dry-run write would store: server fields from the live object or fresh."""
    result = copy.deepcopy(obj)
    meta, before = result["metadata"], (existing or {}).get("metadata") or {}
    meta["uid"] = before.get("uid") or str(uuid.uuid4())
    meta["creationTimestamp"] = before.get("creationTimestamp") or now_rfc3339()
    meta["resourceVersion"] = before.get("resourceVersion", "")
    meta["generation"] = before.get("generation", 1)
    return result


def _log_container(pod: Obj, asked: str) -> str:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    name = pod["metadata"]["name"]
    if not asked:
        if len(names) == 1:
            return str(names[0])
        choices = (
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
        if init:
            choices += f" or one of the init containers: [{' '.join(init)}]"
        raise ApiError(400, choices, "BadRequest")
    if asked not in names + init:
        raise ApiError(400, f"container {asked} is not valid for pod {name}", "BadRequest")
    return asked


_EVENT_FIELDS = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
)


def events_api_view(event: Obj) -> Obj:
    """A core/v1 Event as events.k8s.io/v1 serves it (one storage, two shapes)."""
    view: Obj = {"apiVersion": NEW_EVENTS, "kind": "Event"}
    renamed = dict(_EVENT_FIELDS)
    for key, value in event.items():
        if key in ("apiVersion", "kind") or value in (None, "", {}):
            continue
        view[renamed.get(key, key)] = value
    return view


def _terminated_before(pod: Obj, container: str) -> bool:
    """Whether the container ran before its current instance (the kubelet keeps one)."""
    status = pod.get("status") or {}
    return any(
        entry.get("name") == container and bool((entry.get("lastState") or {}).get("terminated"))
        for entry in (status.get("containerStatuses") or [])
        + (status.get("initContainerStatuses") or [])
    )


def _user_info(user: rbac.ServiceAccountUser | None) -> Obj:
    if user is None:  # the admin token: a kubeadm-like admin in system:masters
        return {"username": ADMIN_USER, "groups": ["system:masters", "system:authenticated"]}
    return {"username": user.username, "uid": user.uid, "groups": list(user.groups)}


def _waiting_reason(pod: Obj, container: str) -> str:
    """Why a never-started container has no log (the kubelet's 400), or ""."""
    status = pod.get("status") or {}
    for entry in (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or []
    ):
        if entry.get("name") != container:
            continue
        waiting = (entry.get("state") or {}).get("waiting")
        if waiting and not (entry.get("lastState") or {}).get("terminated"):
            return str(waiting.get("reason") or "ContainerCreating")
    return ""


def _proxy_location(location: str, target: str, prefix: str) -> str:
    """Redirects the target sends to itself stay inside the proxy, as upstream rewrites."""
    parts, base = urlsplit(location), urlsplit(target)
    if parts.netloc and parts.netloc != base.netloc:
        return location
    if not parts.path.startswith("/"):
        return location
    rewritten = prefix + parts.path
    return rewritten + (f"?{parts.query}" if parts.query else "")


# --- service proxy ------------------------------------------------------------------------
def _proxy_name(name: str) -> tuple[str, str]:
    """`svc`, `svc:port`, `http:svc:port`, `https:svc:port` -> (service, port text)."""
    parts = name.split(":")
    if len(parts) == 3:
        return parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    return name, ""


def _proxy_port(service: Obj | None, text: str) -> int | None:
    if text.isdigit():
        return int(text)
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    for entry in ports:
        if not text or entry.get("name") == text:
            return int(entry["port"])
    return None


def _forward(request: Request, target: str, route: Route) -> Response:
    prefix = f"/api/v1/namespaces/{route.namespace}/services/{route.name}/proxy"
    url = target + (route.tail or "/")
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in HOP_HEADERS and k.lower() != "accept-encoding"
    }
    try:
        answer = requests.request(
            request.method,
            url,
            headers=headers,
            data=request.get_data() or None,
            timeout=PROXY_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        where = urlsplit(target).netloc
        why = "i/o timeout" if isinstance(exc, requests.Timeout) else "connect: connection refused"
        raise ApiError(503, f"error trying to reach service: dial tcp {where}: {why}") from None
    out_headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS]
    out_headers = [
        (k, _proxy_location(v, target, prefix) if k.lower() == "location" else v)
        for k, v in out_headers
    ]
    return Response(answer.content, answer.status_code, headers=out_headers)
