"""Read-only access to the Kubernetes API.

Objects stay in their wire shape (camelCase dicts; lists may be decoded to a msgspec view of
the fields wanted, see list_all) so checks, golden examples and the sim
all speak the same language. Every call has a timeout; transient failures are retried with
capped exponential backoff and jitter (stackcheck/retry.py) before they count as an
attempt's failure.

Requests go through one thread-safe urllib3 pool, so checks may read concurrently. The
kubeconfig is read here when it is plain (a server, a CA, a token or a client certificate:
the sim's, kind's, most admins'); anything else (exec plugins, auth providers, proxies,
basic auth) goes through the official client's loader, imported only then: importing the
official client costs about 0.3 s, as much as a whole verification run of a small stack.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import gc
import json
import math
import os
import re
import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit

import msgspec
import urllib3
import yaml

from stackcheck.errors import UsageError
from stackcheck.polling import Deadline
from stackcheck.retry import TRANSIENT_STATUS
from stackcheck.retry import call as retry_call
from stackcheck.stackfile import read_text_file, require_file, yaml_load

Obj = dict[str, Any]

# Where each workload kind lives in the API.
_KIND_PATHS = {
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "Event": "/api/v1/namespaces/{ns}/events",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
    # drift (checks/drift.py): what our manifests and values declare
    "Service": "/api/v1/namespaces/{ns}/services",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "PodMonitor": "/apis/monitoring.coreos.com/v1/namespaces/{ns}/podmonitors",
}
PAGE_SIZE = 500
POOL_SIZE = 16  # connections kept per host: concurrent reads plus a few watches
# kubeconfig keys the plain reader understands; any other key: the official loader
_PLAIN_CLUSTER = frozenset(
    {
        "server",
        "certificate-authority",
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "extensions",
    }
)
_PLAIN_USER = frozenset(
    {
        "token",
        "tokenFile",
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
        "extensions",
    }
)


class ApiFailure(Exception):
    """An API call that failed: `reason` is one line fit for a check's message."""

    def __init__(
        self, reason: str, status: int | None = None, timed_out: bool = False, final: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.timed_out = timed_out  # cost a whole request timeout: retried only within the run
        self.final = final  # no retry can help (a TLS certificate refused by either side)

    @property
    def transient(self) -> bool:
        return not self.final and (self.status is None or self.status in TRANSIENT_STATUS)


@dataclass(frozen=True)
class KubeTarget:
    kubeconfig: Path
    context: str | None
    request_timeout: float


@dataclass
class Configuration:
    """Where the API server is and how to authenticate; attribute names as the official
    client's `Configuration` (`api_key["authorization"]` is `Bearer <token>`)."""

    host: str
    api_key: dict[str, str] = field(default_factory=dict)
    context: str | None = None  # the kubeconfig context in use (the chosen or current one)
    ssl_ca_cert: str | None = None  # a CA bundle file
    ca_data: str | None = None  # PEM text
    cert_file: str | None = None
    key_file: str | None = None
    verify_ssl: bool = True
    tls_server_name: str | None = None
    proxy: str | None = None
    basic_auth: str | None = None  # "user:password"
    refresh: Callable[[], dict[str, str]] | None = None  # a fresh api_key (exec plugins)
    # the TLS context built when the configuration was checked, reused by every session
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def load_configuration(target: KubeTarget) -> Configuration:
    """The client configuration for a kubeconfig; every problem is one UsageError line."""
    path = target.kubeconfig
    data = _check_kubeconfig(path, target.context)
    configuration = _plain_configuration(path, data, target.context)
    if configuration is None:
        configuration = _official_configuration(path, target.context)
    configuration.context = target.context or data.get("current-context")
    server = urlsplit(configuration.host or "")
    if server.scheme not in ("http", "https") or not server.hostname:
        raise UsageError(
            f"kubeconfig {path}: the cluster of context "
            f"{target.context or '(current)'} has no http(s) server URL "
            f"(got {configuration.host or 'nothing'!r})"
        )
    try:
        if server.scheme == "https":
            configuration.ssl_context = _ssl_context(configuration)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise UsageError(
            f"kubeconfig {path}: TLS settings unusable ({_first_line(str(exc))})"
        ) from None
    return configuration


def _official_configuration(path: Path, context: str | None) -> Configuration:
    """Through the official client's loader: exec plugins, auth providers and the rest."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    official = client.Configuration()
    try:
        config.load_kube_config(
            config_file=str(path),
            context=context,
            client_configuration=official,
            persist_config=False,
        )
    except ConfigException as exc:
        raise UsageError(f"kubeconfig {path}: {_first_line(str(exc))}") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:
        raise UsageError(f"kubeconfig {path}: unreadable ({_first_line(str(exc))})") from None
    hook: Callable[[Any], None] | None = official.refresh_api_key_hook

    def authorization() -> dict[str, str]:
        # The loader files the header's value (a token or basic auth) under "BearerToken"
        # (older clients: "authorization"); ours is always "authorization".
        keys = official.api_key or {}
        value = keys.get("BearerToken") or keys.get("authorization")
        return {"authorization": value} if value else {}

    def refresh() -> dict[str, str]:
        if hook is not None:
            hook(official)
        return authorization()

    basic = f"{official.username}:{official.password}" if official.username else None
    return Configuration(
        host=official.host or "",
        api_key=authorization(),
        ssl_ca_cert=official.ssl_ca_cert,
        cert_file=official.cert_file,
        key_file=official.key_file,
        verify_ssl=bool(official.verify_ssl),
        tls_server_name=official.tls_server_name,
        proxy=official.proxy,
        basic_auth=basic,
        refresh=refresh if hook is not None else None,
    )


def _plain_configuration(
    path: Path, data: dict[str, Any], context: str | None
) -> Configuration | None:
    """A kubeconfig (`data`, parsed from `path`) with only a server, CA, token or client
    certificate, read directly; None for anything else (the official loader then reads it
    and reports its problems)."""
    try:
        chosen = _entry(data, "contexts", context or data.get("current-context"), "context")
        cluster = _entry(data, "clusters", chosen.get("cluster"), "cluster")
        user = _entry(data, "users", chosen.get("user"), "user")
        if not cluster or set(cluster) - _PLAIN_CLUSTER or set(user) - _PLAIN_USER:
            return None
        server = cluster.get("server")
        if not isinstance(server, str) or not server:
            return None
        base = path.parent
        token = user.get("token")
        if user.get("tokenFile"):
            token = (
                (base / Path(user["tokenFile"]).expanduser()).read_text(encoding="utf-8").strip()
            )
        return Configuration(
            host=server.rstrip("/"),
            api_key={"authorization": f"Bearer {token}"} if token else {},
            ssl_ca_cert=_file(base, cluster.get("certificate-authority")),
            ca_data=_data(cluster.get("certificate-authority-data")),
            cert_file=_file(base, user.get("client-certificate"))
            or _data_file(user.get("client-certificate-data")),
            key_file=_file(base, user.get("client-key")) or _data_file(user.get("client-key-data")),
            verify_ssl=not cluster.get("insecure-skip-tls-verify", False),
            tls_server_name=cluster.get("tls-server-name") or None,
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _entry(data: Any, section: str, name: object, key: str) -> dict[str, Any]:
    for item in data.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get(key)
            return value if isinstance(value, dict) else {}
    return {}


def _file(base: Path, given: object) -> str | None:
    return str(base / Path(given).expanduser()) if isinstance(given, str) and given else None


def _data(given: object) -> str | None:
    if not isinstance(given, str) or not given:
        return None
    try:
        return base64.b64decode(given, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("invalid base64 data") from None


_DATA_DIR: list[Path] = []


def _data_file(given: object) -> str | None:
    """Inline certificate data as a private temporary file (ssl loads chains from files)."""
    text = _data(given)
    if text is None:
        return None
    if not _DATA_DIR:
        _DATA_DIR.append(Path(tempfile.mkdtemp(prefix="stackcheck-kube-")))
        atexit.register(shutil.rmtree, _DATA_DIR[0], True)
    with tempfile.NamedTemporaryFile("w", dir=_DATA_DIR[0], delete=False, suffix=".pem") as handle:
        handle.write(text)
    return handle.name


def _ssl_context(configuration: Configuration) -> ssl.SSLContext:
    """One context per configuration. The system CAs (~17 ms to load) only when they can
    matter: verification on and no CA of the kubeconfig's own."""
    if configuration.verify_ssl or configuration.ssl_ca_cert or configuration.ca_data:
        context = ssl.create_default_context(
            cafile=configuration.ssl_ca_cert, cadata=configuration.ca_data
        )
    else:  # create_default_context's settings, without the CAs nothing would check against
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        keylog = os.environ.get("SSLKEYLOGFILE")
        if keylog and not sys.flags.ignore_environment:
            context.keylog_filename = keylog
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


def _pool(configuration: Configuration) -> urllib3.PoolManager:
    options: dict[str, Any] = {"num_pools": 4, "maxsize": POOL_SIZE, "retries": False}
    if configuration.host.startswith("https:"):  # the one checked at load, else a new one
        options["ssl_context"] = configuration.ssl_context or _ssl_context(configuration)
    if configuration.tls_server_name:
        options["server_hostname"] = configuration.tls_server_name
    manager = (
        urllib3.ProxyManager(configuration.proxy, **options)
        if configuration.proxy
        else urllib3.PoolManager(**options)
    )
    if not configuration.verify_ssl:
        manager.pool_classes_by_scheme = {
            **manager.pool_classes_by_scheme,
            "https": _UnverifiedPool,
        }
    return manager


class _UnverifiedPool(urllib3.HTTPSConnectionPool):
    """HTTPS without certificate checks, which the kubeconfig asked for explicitly
    (insecure-skip-tls-verify): no InsecureRequestWarning on every request (pytest runs
    with warnings as errors, and a process-wide filter would not survive its resets)."""

    def _validate_conn(self, conn: Any) -> None:
        urllib3.HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


def _check_kubeconfig(path: Path, context: str | None) -> dict[str, Any]:
    """The kubeconfig, parsed; the problems the client would report as a traceback or a
    vague line are named clearly."""
    hint = " (set --kubeconfig or KUBECONFIG)"
    text = read_text_file(path, f"kubeconfig {path}", hint)
    try:
        data = yaml_load(text, mode="lenient")  # kubectl accepts anchors: so do we
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UsageError(f"kubeconfig {path}: {where}not valid YAML{hint}") from None
    if data is None:
        raise UsageError(f"kubeconfig {path}: is empty{hint}")
    if not isinstance(data, dict):
        raise UsageError(
            f"kubeconfig {path}: expected a kubeconfig mapping, got {type(data).__name__}{hint}"
        )
    contexts = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]
    known = ", ".join(str(c) for c in contexts) or "none"
    if context is not None and context not in contexts:
        raise UsageError(
            f"--kube-context: context {context!r} is not in kubeconfig {path} (contexts: {known})"
        )
    if not contexts:
        raise UsageError(f"kubeconfig {path}: has no contexts{hint}")
    if context is None and data.get("current-context") not in contexts:
        current = data.get("current-context")
        why = f"current-context {current!r} is not among" if current else "no current-context;"
        raise UsageError(f"kubeconfig {path}: {why} contexts: {known} (set --kube-context)")
    _check_referenced_files(path, data, context or str(data.get("current-context")))
    return data


def _check_referenced_files(path: Path, data: dict[str, Any], context: str) -> None:
    """The chosen context's cluster and user exist (a missing user would run anonymously:
    401s that look like the cluster's fault), and so do the files they name (relative: to
    the kubeconfig)."""
    chosen = _entry(data, "contexts", context, "context")
    for key, section in (("cluster", "clusters"), ("user", "users")):
        name = chosen.get(key)
        names = [item.get("name") for item in data.get(section) or [] if isinstance(item, dict)]
        if name and name not in names:
            known = ", ".join(sorted(str(n) for n in names)) or "none"
            raise UsageError(
                f"kubeconfig {path}: context {context!r} names {key} {name!r}, "
                f"which is not among its {section} ({known})"
            )
    referenced = [
        ("cluster", chosen.get("cluster"), "clusters", "cluster", ("certificate-authority",)),
        (
            "user",
            chosen.get("user"),
            "users",
            "user",
            ("client-certificate", "client-key", "tokenFile"),
        ),
    ]
    for label, name, section, key, fields in referenced:
        values = _entry(data, section, name, key)
        for field_name in fields:
            given = values.get(field_name)
            if isinstance(given, str) and given:
                require_file(
                    path.parent / Path(given).expanduser(),
                    f"kubeconfig {path}: {label} {name!r}: {field_name} {given}",
                )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid"


class Kube:
    """A read-only API session; counts its requests by verb. Thread-safe."""

    def __init__(self, configuration: Configuration, request_timeout: float) -> None:
        self.server = configuration.host.rstrip("/")
        self.context = configuration.context
        self._configuration = configuration
        self._pool = _pool(configuration)
        self._timeout = request_timeout
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.list_versions: dict[str, str] = {}  # collection path -> resourceVersion last listed
        self.deadline: Deadline | None = None  # the run's: timed-out requests retry until it

    def close(self) -> None:
        self._pool.clear()

    # --- verbs -------------------------------------------------------------------------
    def version(self) -> Obj:
        return self._json("get", "/version")

    def get(self, path: str) -> Obj:
        return self._json("get", path)

    def list_all(
        self,
        path: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        view: type | None = None,
    ) -> list[Obj]:
        """Every item of a collection, page by page (limit/continue). With `view` (a
        msgspec Struct or TypedDict of the fields wanted, such as podview.PodView), items
        are decoded to it; an answer that does not fit it, whole."""
        with _COLLECTOR.reading() as keep:
            items = list(self._pages(path, label_selector, field_selector, view))
            if len(items) > PAGE_SIZE:
                keep()
        return items

    def list_kind(
        self,
        kind: str,
        namespace: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        view: type | None = None,
    ) -> list[Obj]:
        return self.list_all(
            _KIND_PATHS[kind].format(ns=namespace), label_selector, field_selector, view
        )

    def pod_log(self, namespace: str, pod: str, container: str, lines: int) -> str:
        query = [("container", container), ("tailLines", str(lines)), ("limitBytes", "16384")]
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        return self._call("log", path, query).decode("utf-8", "replace")

    def service_proxy(
        self, service: str, port: int, path: str, query: list[tuple[str, str]] | None = None
    ) -> Obj:
        """GET a JSON path of an in-cluster service through the API server's proxy."""
        resource = _proxied(service, port, path)
        return _decode(self._call("proxy", resource, query or []), resource)

    def service_proxy_list(
        self, service: str, port: int, path: str, query: list[tuple[str, str]] | None = None
    ) -> list[Obj]:
        """As `service_proxy`, for paths answering a JSON list (Alertmanager's
        `/api/v2/alerts`)."""
        resource = _proxied(service, port, path)
        return _decode_list(self._call("proxy", resource, query or []), resource)

    def wait_for_change(self, collections: Sequence[tuple[str, str]], seconds: float) -> None:
        """Return when one of the (kind, namespace) collections changes after our last list
        of it, or after `seconds`.

        Watches from the listed resourceVersions (one per collection, concurrently): a
        condition is seen as soon as it becomes true instead of on the next poll. A
        collection never listed is not watched; with none, or when every watch fails, this
        is a plain sleep.
        """
        watches = [
            (path, version)
            for kind, namespace in collections
            if (version := self.list_versions.get(path := _KIND_PATHS[kind].format(ns=namespace)))
            is not None
        ]
        if not watches or seconds < 0.05:
            time.sleep(seconds)
            return
        changed, done = threading.Event(), threading.Event()
        opened: list[urllib3.BaseHTTPResponse] = []
        guard = threading.Lock()

        def watch(path: str, version: str) -> None:
            response = self._open_watch(path, version, seconds)
            if response is None:
                return
            with guard:
                opened.append(response)
                if done.is_set():
                    _cancel(response)
            try:
                if response.read(1):  # the first byte is the first event
                    changed.set()
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                pass  # ended or cancelled: only a shorter pause
            finally:
                with guard:
                    opened.remove(response)
                    response.close()

        threads = [
            threading.Thread(target=watch, args=w, name="stackcheck-watch", daemon=True)
            for w in watches
        ]
        for thread in threads:
            thread.start()
        changed.wait(seconds)
        with guard:
            done.set()
            for response in opened:
                _cancel(response)
        for thread in threads:
            thread.join(timeout=self._timeout)

    def _open_watch(
        self, path: str, version: str, seconds: float
    ) -> urllib3.BaseHTTPResponse | None:
        query = [
            ("watch", "1"),
            ("resourceVersion", version),
            ("timeoutSeconds", str(max(1, math.ceil(seconds)))),
        ]
        with self._lock:
            self.requests["watch"] += 1
        try:
            response = self._pool.request(
                "GET",
                self._url(path, query),
                headers=self._headers(),
                redirect=False,
                timeout=urllib3.Timeout(connect=self._timeout, read=seconds + 1.0),
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            return None
        if not 200 <= response.status <= 299:
            response.close()
            return None
        return response

    # --- plumbing ----------------------------------------------------------------------
    def _pages(
        self, path: str, label_selector: str | None, field_selector: str | None, view: type | None
    ) -> Iterator[Obj]:
        """Page after page (limit/continue). The next page is requested as soon as its
        token is read from the head of the current one, so that the server prepares and
        sends it while this one is decoded."""

        def fetch(token: str) -> bytes:
            query = [("limit", str(PAGE_SIZE))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            return self._call("list", path, query)

        body = fetch("")
        while True:
            early = _continue_token(body)
            following = _in_background(partial(fetch, early)) if early else None
            page = _decode_page(body, path, view)
            yield from page.get("items") or []
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                if meta.get("resourceVersion") and not label_selector and not field_selector:
                    with self._lock:
                        self.list_versions[path] = str(meta["resourceVersion"])
                return
            body = following.result() if following is not None and token == early else fetch(token)

    def _json(self, verb: str, path: str) -> Obj:
        return _decode(self._call(verb, path, []), path)

    def _call(self, verb: str, path: str, query: list[tuple[str, str]]) -> bytes:
        """One request; 5xx/429 answers, resets and timeouts retried (stackcheck/retry.py)."""
        return retry_call(
            lambda: self._once(verb, path, query),
            transient=_fast_failure,
            timed_out=_timed_out,
            deadline=self.deadline,
        )

    def _once(self, verb: str, path: str, query: list[tuple[str, str]]) -> bytes:
        with self._lock:
            self.requests[verb] += 1
        try:
            response = self._pool.request(
                "GET",
                self._url(path, query),
                headers=self._headers(),
                redirect=False,
                timeout=urllib3.Timeout(connect=self._timeout, read=self._timeout),
            )
        except urllib3.exceptions.HTTPError as exc:
            tls = _tls_error(exc)
            if tls is not None:
                raise ApiFailure(
                    _tls_reason(self.server, tls, self._configuration), final=_tls_final(tls)
                ) from None
            raise ApiFailure(
                _network_reason(self.server, exc, self._timeout, self._configuration.proxy),
                timed_out=_is_timeout(exc),
            ) from None
        body: bytes = response.data
        if not 200 <= response.status <= 299:
            raise ApiFailure(
                _status_reason(response.status, response.reason, body), response.status
            )
        return body

    def _url(self, path: str, query: list[tuple[str, str]]) -> str:
        return self.server + path + (f"?{urlencode(query)}" if query else "")

    def _headers(self) -> dict[str, str]:
        configuration = self._configuration
        if configuration.refresh is not None:
            with self._lock:
                configuration.api_key = configuration.refresh()
        headers = {"Accept": "application/json", "User-Agent": "stackcheck"}
        authorization = configuration.api_key.get("authorization")
        if authorization:
            headers["Authorization"] = authorization
        elif configuration.basic_auth:
            headers.update(urllib3.make_headers(basic_auth=configuration.basic_auth))
        return headers


class _CollectorPause:
    """Performance only: no cyclic garbage collection while lists are read, and a large one
    frozen out of the collector's way once read.

    A 10,000-pod list is millions of new dicts and lists. The collector, set off by
    allocations, walked the growing heap again and again while it was decoded (1.6 s of
    2 s), and walked it whole again in each later pass over the old generation, up to the
    process's end (another second). None of these objects is garbage while the list is
    kept, so: the collector is off while any list is read, back on (if it was on) after
    the last one; and after a list of more than one page, what was read meanwhile goes to
    the permanent generation (gc.freeze, as the startup objects: fixtures/session.py),
    which the collector skips. Reference counting frees those objects as before when the
    list is dropped (forget); only a reference cycle that became garbage during such a read
    (none of ours does) would then stay until the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._was_enabled = False
        self._freeze = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[Callable[[], None]]:
        """While reading a list; call what it yields to have it frozen afterwards."""
        with self._lock:
            if self._readers == 0:
                self._was_enabled, self._freeze = gc.isenabled(), False
            self._readers += 1
            gc.disable()
        try:
            yield self._keep
        finally:
            with self._lock:
                self._readers -= 1
                if self._readers == 0:
                    if self._freeze:
                        gc.freeze()
                    if self._was_enabled:
                        gc.enable()

    def _keep(self) -> None:
        with self._lock:
            self._freeze = True


_COLLECTOR = _CollectorPause()


def _continue_token(body: bytes) -> str | None:
    """A list's continue token read from its head (the API server writes `metadata` before
    `items`) without decoding the items; None when the head does not say."""
    end = body.find(b'"items"', 0, 8192)
    if end < 0:
        return None
    try:
        head = json.loads(body[:end].rstrip().rstrip(b",") + b"}")
    except ValueError:
        return None
    token = (head.get("metadata") or {}).get("continue") if isinstance(head, dict) else None
    return str(token) if token else None


def _in_background(call: Callable[[], bytes]) -> Future[bytes]:
    """`call()` on its own thread (bounded by its request timeouts); its result or error."""
    future: Future[bytes] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="stackcheck-page", daemon=True).start()
    return future


def _cancel(response: urllib3.BaseHTTPResponse) -> None:
    """Unblock a watch read from another thread (urllib3 >= 2.3), if still open."""
    with contextlib.suppress(ValueError, RuntimeError, OSError, AttributeError):
        response.shutdown()


def _fast_failure(exc: BaseException) -> bool:
    return isinstance(exc, ApiFailure) and exc.transient and not exc.timed_out


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, ApiFailure) and exc.timed_out


def _is_timeout(exc: urllib3.exceptions.HTTPError) -> bool:
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return isinstance(exc.reason, (urllib3.exceptions.TimeoutError, TimeoutError))
    return isinstance(exc, urllib3.exceptions.TimeoutError)


def _proxied(service: str, port: int, path: str) -> str:
    namespace, name = service.split("/", 1)
    return f"/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy{path}"


def _json(body: bytes, what: str) -> Any:
    try:
        return _loads(body)
    except ValueError:
        raise ApiFailure(f"{what}: the answer is not JSON") from None


def _decode(body: bytes, what: str) -> Obj:
    data = _json(body, what)
    if not isinstance(data, dict):
        raise ApiFailure(f"{what}: the answer is not a JSON object")
    return data


def _decode_list(body: bytes, what: str) -> list[Obj]:
    data = _json(body, what)
    if not isinstance(data, list):
        raise ApiFailure(f"{what}: the answer is not a JSON list")
    return data


def _loads(body: bytes) -> Any:
    """JSON by msgspec: about 4 times json's speed, which a 10,000-pod list (~94 MB) costs in
    decoding. What msgspec refuses and json reads (NaN, a lone surrogate, a BOM) is read by
    json as before."""
    try:
        return _JSON.decode(body)
    except msgspec.DecodeError:
        return json.loads(body)


_JSON = msgspec.json.Decoder()
_Item = TypeVar("_Item")


class _ListPage(msgspec.Struct, Generic[_Item]):
    """A list answer as a view decodes it: its metadata whole, each item to the view."""

    metadata: dict[str, Any] = {}
    items: list[_Item] | None = None


@cache
def _page_decoder(view: type) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_ListPage[view])  # type: ignore[valid-type]


def _decode_page(body: bytes, what: str, view: type | None) -> Obj:
    """A list page; with a view, its items are the view's (they hold its fields only).
    msgspec skips the rest without building it: a pod's env, volumes and managedFields are
    most of its bytes, and most of the time a 10,000-pod list took to decode and to free.
    An answer that does not fit the view (an item not an object, a field of another type)
    is decoded whole, its items dicts."""
    if view is not None:
        try:
            page = _page_decoder(view).decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        else:
            return {"metadata": page.metadata, "items": page.items or []}
    return _decode(body, what)


def _status_reason(status: int | None, reason: str | None, body: bytes | str | None) -> str:
    """'HTTP 403 Forbidden: pods is forbidden: ...' from a Status body when there is one."""
    text = f"HTTP {status} {reason or ''}".rstrip()
    message = ""
    if body:
        raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(raw)
            message = parsed.get("message", "") if isinstance(parsed, dict) else ""
        except ValueError:
            message = raw.strip().splitlines()[0][:200] if raw.strip() else ""
    return f"{text}: {message}" if message else text


def _through_proxy(exc: BaseException) -> bool:
    """urllib3's ProxyError under its wrappers: the proxy itself failed."""
    seen: list[BaseException] = [exc]
    for current in seen[:8]:
        if isinstance(current, urllib3.exceptions.ProxyError):
            return True
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        seen += [n for n in nested if isinstance(n, BaseException) and n not in seen]
    return False


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl error under urllib3's wrappers (SSLError, MaxRetryError, ProtocolError)."""
    seen: list[BaseException] = [exc]
    for current in seen:
        if isinstance(current, ssl.SSLError):
            return current
        nested = [
            getattr(current, "reason", None),
            *current.args,
            current.__cause__,
            current.__context__,
        ]
        seen += [n for n in nested if isinstance(n, BaseException) and n not in seen][:4]
        if len(seen) > 12:
            break
    return None


# OpenSSL's words for a TLS hello answered by a plain HTTP server (1.1, 3.0; 3.2 and later)
_PLAIN_HTTP = (
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
)


def _plain_http(error: ssl.SSLError) -> bool:
    text = f"{error.reason or ''} {error}".upper().replace(" ", "_")
    return any(word in text for word in _PLAIN_HTTP)


def _tls_final(error: ssl.SSLError) -> bool:
    """A certificate refused by us (verification) or by the server (an alert naming the
    certificate), or a server that does not speak TLS: the same on every try. A connection
    closed mid-handshake may pass."""
    reason = str(error.reason or "")
    return (
        isinstance(error, ssl.SSLCertVerificationError)
        or _plain_http(error)
        or ("ALERT" in reason and ("CERTIFICATE" in reason or "UNKNOWN_CA" in reason))
    )


def _tls_reason(server: str, error: ssl.SSLError, configuration: Configuration) -> str:
    """One line naming the side that refused, instead of OpenSSL's '[SSL: X] x (_ssl.c:N)'."""
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = str(error.verify_message or "certificate verify failed").rstrip(".")
        return (
            f"{server}: TLS: certificate verify failed: {detail} (check the kubeconfig's "
            f"certificate-authority, tls-server-name and server against the server's "
            f"certificate)"
        )
    text = re.sub(r"^\[[^]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(error.strerror or error))
    reason = str(error.reason or "")
    text = text or reason or "handshake failed"
    if _plain_http(error):
        return (
            f"{server}: TLS: the server answered in plain HTTP, not TLS (is it an http:// "
            f"server? then say so in the kubeconfig's server URL; else check the port)"
        )
    if not configuration.cert_file:
        hint = (
            "the server requires a client certificate; the kubeconfig's user has none"
            if "CERTIFICATE_REQUIRED" in reason
            else "does the server require a client certificate? the kubeconfig's user has none"
        )
    elif "ALERT" in reason:
        hint = "the server refused the kubeconfig's client certificate"
    elif isinstance(error, ssl.SSLEOFError) or "EOF" in reason:  # the alert may be lost
        hint = (
            "the server closed the connection: does it accept the kubeconfig's client certificate?"
        )
    else:
        return f"{server}: TLS: {text}"
    return f"{server}: TLS: {text} ({hint})"


def _network_reason(server: str, exc: Exception, timeout: float, proxy: str | None = None) -> str:
    text = str(exc)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        text = str(exc.reason)
    lowered = text.lower()
    if proxy and _through_proxy(exc):  # what failed is the proxy, not the API server
        why = (
            "connection refused"
            if "refused" in lowered
            else f"request timed out after {timeout:g}s"
            if "timed out" in lowered
            else text.split(": ", 1)[-1][:200]
        )
        return f"{server}: the kubeconfig's proxy-url {proxy} cannot be reached: {why}"
    if "timed out" in lowered or "timeout" in lowered:
        return f"{server}: request timed out after {timeout:g}s"
    if "refused" in lowered:
        return f"{server}: connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return f"{server}: host name does not resolve"
    return f"{server}: {text.split(': ', 1)[-1][:200]}"
