"""StackReader: the one `Reader` (checks/model.py) of a run: the Kubernetes API (kube.py),
the stack file's HTTP endpoints (web.py) and Prometheus (through the API server's service
proxy where the stack file says so). It knows no check; it reads and answers, or raises
ReadFailure. Caching, prefetching and retries until the deadline are the runner's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from stackcheck.checks import model
from stackcheck.checks.model import HttpAnswer, Obj, Read, ReadFailure
from stackcheck.checks.pods import PodList
from stackcheck.kube import ApiFailure, Kube
from stackcheck.podview import PodView
from stackcheck.polling import Deadline
from stackcheck.retry import TRANSIENT_STATUS
from stackcheck.retry import call as retry_call
from stackcheck.settings import Settings
from stackcheck.stackfile import Stack
from stackcheck.web import WebClient, WebFailure, join_url

CONNECTIONS = 8  # per endpoint host: the runner's concurrent reads
ALERTMANAGER_SERVICE = "alertmanager"  # the stack file's name for it
ALERTS_V2 = "/api/v2/alerts"


class StackReader:
    def __init__(
        self, stack: Stack, settings: Settings, kube: Kube | None, deadline: Deadline | None = None
    ) -> None:
        self.stack = stack
        self.settings = settings
        self.kube = kube
        self.http = WebClient(settings.request_timeout, CONNECTIONS)
        self.deadline = deadline  # the run's: timed-out requests retry until it
        self.http_requests = 0
        self._lock = threading.Lock()
        self._cached: Callable[[Read], Any] = lambda read: getattr(self, read.kind)(*read.args)

    def read_through(self, cached: Callable[[Read], Any]) -> None:
        """Reads this reader needs for another (the nodes behind an endpoint's address) go
        through `cached` (the runner's cache of the attempt) instead of the API."""
        self._cached = cached

    def close(self) -> None:
        self.http.close()
        if self.kube is not None:
            self.kube.close()

    def needs_api(self, read: Read) -> bool:
        """Whether a read goes through the Kubernetes API (a check whose reads all do not
        runs even when the API does not answer)."""
        if read.kind == "http_get":  # the API locates it, unless an address is given
            return self.settings.url_for(read.args[0]) is None and not (
                self.settings.node_address and read.args[0] in self.stack.services
            )
        if read.kind in ("prometheus_targets", "prometheus_query", "prometheus_api"):
            service = self.stack.prometheus_service or "prometheus"
            return self.settings.url_for(service) is None
        if read.kind == "alertmanager_alerts":
            return self.settings.url_for(ALERTMANAGER_SERVICE) is None
        return True

    # --- the Kubernetes API --------------------------------------------------------------
    def version(self) -> Obj:
        with _api_failures():
            return self._api().version()

    def namespaces(self) -> dict[str, Obj]:
        with _api_failures():
            items = self._api().list_all("/api/v1/namespaces")
        return {n["metadata"]["name"]: n for n in items}

    def nodes(self) -> list[Obj]:
        with _api_failures():
            return self._api().list_all("/api/v1/nodes")

    def pods(self, namespace: str) -> list[Obj]:
        """Decoded to PodView (podview.py): dicts of the fields checks and evidence read."""
        with _api_failures():
            return PodList(self._api().list_kind("Pod", namespace, view=PodView))

    def objects(self, kind: str, namespace: str) -> dict[str, Obj]:
        with _api_failures():
            items = self._api().list_kind(kind, namespace)
        return {o["metadata"]["name"]: o for o in items}

    def pod(self, namespace: str, name: str) -> Obj:
        with _api_failures():
            return self._api().get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def events(self, namespace: str, name: str) -> list[Obj]:
        with _api_failures():
            return self._api().list_kind(
                "Event", namespace, field_selector=f"involvedObject.name={name}"
            )

    def pod_log(self, namespace: str, name: str, container: str, lines: int) -> str:
        with _api_failures():
            return self._api().pod_log(namespace, name, container, lines)

    def wait_for_change(self, collections: Sequence[tuple[str, str]], seconds: float) -> None:
        """Until one of the (kind, namespace) collections changes after our last list of
        it, or `seconds` pass (kube.Kube.wait_for_change)."""
        if self.kube is None or not collections:
            _sleep(seconds)
            return
        self.kube.wait_for_change(collections, seconds)

    def _api(self) -> Kube:
        if self.kube is None:
            raise ApiFailure("no Kubernetes API configured")
        return self.kube

    # --- HTTP endpoints and Prometheus ---------------------------------------------------
    def http_get(self, service: str, path: str, sample: str = "0") -> HttpAnswer:
        """One answer (each `sample` is its own request: see model.http_get)."""
        base, why = self.located(service)
        url = join_url(base, path)
        try:
            return self._http_get(url)
        except ReadFailure as exc:
            raise ReadFailure(
                f"{exc.reason} ({why})" if why else exc.reason, exc.transient
            ) from None

    def prometheus_targets(self) -> Obj:
        return self._prometheus_get("/api/v1/targets", [("state", "active")])

    def prometheus_query(self, promql: str) -> Obj:
        return self._prometheus_get("/api/v1/query", [("query", promql)])

    def prometheus_api(self, path: str) -> Obj:
        return self._prometheus_get(path, [])

    def alertmanager_alerts(self) -> list[Obj]:
        """/api/v2/alerts of the stack file's service `alertmanager` (a JSON list)."""
        if ALERTMANAGER_SERVICE not in self.stack.services:
            raise ReadFailure(
                f"the stack file defines no service {ALERTMANAGER_SERVICE!r}", transient=False
            )
        alerts: list[Obj] = self._service_json(ALERTMANAGER_SERVICE, ALERTS_V2, [], list)
        return alerts

    def base_url(self, service: str) -> str:
        return self.located(service)[0]

    def located(self, service: str) -> tuple[str, str]:
        """(base URL, why that address): the URL option; else --node-address; else a
        hostPort at the hostIP of a Ready pod declaring it, a NodePort at a Ready node's
        ExternalIP, else its InternalIP."""
        given = self.settings.url_for(service)
        if given:
            return given, ""
        spec = self.stack.services[service]
        if self.settings.node_address:
            address, why = self.settings.node_address, "--node-address"
        elif spec.via == "hostPort":
            address, why = self.host_port_address(spec.port)
        else:
            address, why = self.node_port_address()
        return f"{spec.scheme}://{address}:{spec.port}", why

    def node_address(self) -> str:
        return self.settings.node_address or self.node_port_address()[0]

    def node_port_address(self) -> tuple[str, str]:
        """A NodePort answers on every node: a Ready node's ExternalIP, else its InternalIP
        (nodes in list order; one not Ready only when none is)."""
        nodes: list[Obj] = self._cached(model.nodes())
        ready = [n for n in nodes if _node_ready(n)]
        for wanted in ("ExternalIP", "InternalIP"):
            for node in ready or nodes:
                for address in node.get("status", {}).get("addresses") or []:
                    if address.get("type") == wanted:
                        name = node.get("metadata", {}).get("name", "?")
                        state = "" if node in ready else ", no node is Ready"
                        return str(address["address"]), f"{wanted} of node {name}{state}"
        raise ReadFailure("no node has an ExternalIP or InternalIP: set --node-address")

    def host_port_address(self, port: int) -> tuple[str, str]:
        """A hostPort answers only on the node running its pod: the hostIP of a Ready pod
        (in the stack's namespaces) whose containers declare it."""
        declaring = []
        for namespace in self.stack.namespaces:
            pods: list[Obj] = self._cached(model.pods(namespace))
            declaring += [p for p in pods if _declares_host_port(p, port)]
        for pod in sorted(declaring, key=lambda p: not _pod_ready(p)):
            host_ip = (pod.get("status") or {}).get("hostIP")
            if host_ip and _pod_ready(pod):
                meta = pod.get("metadata") or {}
                node = (pod.get("spec") or {}).get("nodeName", "?")
                return str(host_ip), (
                    f"hostIP of pod {meta.get('namespace')}/{meta.get('name')}: node {node}"
                )
        names = ", ".join(
            f"{(p.get('metadata') or {}).get('namespace')}/{(p.get('metadata') or {}).get('name')}"
            for p in declaring[:3]
        )
        found = f"pods declaring it are not Ready: {names}" if declaring else "no pod declares it"
        raise ReadFailure(
            f"hostPort {port}: {found} (namespaces "
            f"{', '.join(self.stack.namespaces)}); set --node-address or the "
            "service's URL option"
        )

    def _prometheus_get(self, path: str, query: list[tuple[str, str]]) -> Obj:
        answer: Obj = self._service_json(
            self.stack.prometheus_service or "prometheus", path, query, dict
        )
        return answer

    def _service_json(
        self,
        service: str,
        path: str,
        query: list[tuple[str, str]],
        shape: type[dict[str, Any]] | type[list[Any]],
    ) -> Any:
        """A JSON `shape` (object or list) from a stack file service: through the API
        server's service proxy unless its URL option is given, else by HTTP."""
        spec = self.stack.services[service]
        if self.settings.url_for(service) is None and spec.proxied is not None:
            with _api_failures():
                api = self._api()
                if shape is list:
                    return api.service_proxy_list(spec.proxied, spec.port, path, query)
                return api.service_proxy(spec.proxied, spec.port, path, query)
        url = join_url(self.base_url(service), path)
        answer = self._http_get(url, query)
        if answer.status != 200:
            raise ReadFailure(f"GET {url}: HTTP {answer.status} {answer.reason}")
        try:
            data = json.loads(answer.body)
        except ValueError:
            data = None
        if not isinstance(data, shape):
            kind = "list" if shape is list else "object"
            raise ReadFailure(f"GET {url}: the answer is not a JSON {kind}")
        return data

    def _http_get(self, url: str, query: list[tuple[str, str]] | None = None) -> HttpAnswer:
        """GET without following redirects; 5xx/429 answers, resets and timeouts retried
        (stackcheck/retry.py). A 5xx that persists is the answer the check judges."""
        try:
            return retry_call(
                lambda: self._http_once(url, query),
                transient=_http_transient,
                timed_out=_http_timed_out,
                deadline=self.deadline,
            )
        except _Transient as exc:
            return exc.answer
        except WebFailure as exc:
            raise ReadFailure(f"GET {url}: {exc.reason}") from None

    def _http_once(self, url: str, query: list[tuple[str, str]] | None) -> HttpAnswer:
        with self._lock:
            self.http_requests += 1
        answer = self.http.get(url, query)
        if answer.status in TRANSIENT_STATUS:
            raise _Transient(answer)
        return answer


def _node_ready(node: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )


def _pod_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _declares_host_port(pod: Obj, port: int) -> bool:
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    return any(
        int(p.get("hostPort") or 0) == port for c in containers for p in c.get("ports") or []
    )


@contextmanager
def _api_failures() -> Iterator[None]:
    try:
        yield
    except ApiFailure as exc:
        raise ReadFailure(exc.reason, transient=exc.transient) from None


def _sleep(seconds: float) -> None:
    threading.Event().wait(seconds)


def _http_transient(exc: BaseException) -> bool:
    return isinstance(exc, _Transient) or (isinstance(exc, WebFailure) and not exc.timed_out)


def _http_timed_out(exc: BaseException) -> bool:
    return isinstance(exc, WebFailure) and exc.timed_out


class _Transient(Exception):
    def __init__(self, answer: HttpAnswer) -> None:
        super().__init__(f"HTTP {answer.status}")
        self.answer = answer
