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
    def __init__(self, stack: Stack, settings: Settings, kube: Kube | None,
                 deadline: Deadline | None = None) -> None:
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
        if read.kind == "http_get":
            return self.settings.url_for(read.args[0]) is None
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
            return self._api().list_kind("Pod", namespace, view=PodView)

    def objects(self, kind: str, namespace: str) -> dict[str, Obj]:
        with _api_failures():
            items = self._api().list_kind(kind, namespace)
        return {o["metadata"]["name"]: o for o in items}

    def pod(self, namespace: str, name: str) -> Obj:
        with _api_failures():
            return self._api().get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def events(self, namespace: str, name: str) -> list[Obj]:
        with _api_failures():
            return self._api().list_kind("Event", namespace,
                                         field_selector=f"involvedObject.name={name}")

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
    def http_get(self, service: str, path: str) -> HttpAnswer:
        return self._http_get(join_url(self.base_url(service), path))

    def prometheus_targets(self) -> Obj:
        return self._prometheus_get("/api/v1/targets", [("state", "active")])

    def prometheus_query(self, promql: str) -> Obj:
        return self._prometheus_get("/api/v1/query", [("query", promql)])

    def prometheus_api(self, path: str) -> Obj:
        return self._prometheus_get(path, [])

    def alertmanager_alerts(self) -> list[Obj]:
        """/api/v2/alerts of the stack file's service `alertmanager` (a JSON list)."""
        service = ALERTMANAGER_SERVICE
        spec = self.stack.services.get(service)
        if spec is None:
            raise ReadFailure(f"the stack file defines no service {service!r}", transient=False)
        if self.settings.url_for(service) is None and spec.proxied is not None:
            with _api_failures():
                return self._api().service_proxy_list(spec.proxied, spec.port, ALERTS_V2)
        url = join_url(self.base_url(service), ALERTS_V2)
        answer = self._http_get(url)
        if answer.status != 200:
            raise ReadFailure(f"GET {url}: HTTP {answer.status} {answer.reason}")
        try:
            alerts = json.loads(answer.body)
        except ValueError:
            alerts = None
        if not isinstance(alerts, list):
            raise ReadFailure(f"GET {url}: the answer is not a JSON list")
        return alerts

    def base_url(self, service: str) -> str:
        given = self.settings.url_for(service)
        if given:
            return given
        spec = self.stack.services[service]
        return f"{spec.scheme}://{self.node_address()}:{spec.port}"

    def node_address(self) -> str:
        if self.settings.node_address:
            return self.settings.node_address
        nodes: list[Obj] = self._cached(model.nodes())
        for wanted in ("ExternalIP", "InternalIP"):
            for node in nodes:
                for address in node.get("status", {}).get("addresses") or []:
                    if address.get("type") == wanted:
                        return str(address["address"])
        raise ReadFailure("no node has an ExternalIP or InternalIP: set --node-address")

    def _prometheus_get(self, path: str, query: list[tuple[str, str]]) -> Obj:
        service = self.stack.prometheus_service or "prometheus"
        spec = self.stack.services[service]
        if self.settings.url_for(service) is None and spec.proxied is not None:
            with _api_failures():
                return self._api().service_proxy(spec.proxied, spec.port, path, query)
        url = join_url(self.base_url(service), path)
        answer = self._http_get(url, query)
        if answer.status != 200:
            raise ReadFailure(f"GET {url}: HTTP {answer.status} {answer.reason}")
        try:
            return dict(json.loads(answer.body))
        except ValueError:
            raise ReadFailure(f"GET {url}: the answer is not a JSON object") from None

    def _http_get(self, url: str, query: list[tuple[str, str]] | None = None) -> HttpAnswer:
        """GET without following redirects; 5xx/429 answers, resets and timeouts retried
        (stackcheck/retry.py). A 5xx that persists is the answer the check judges."""
        try:
            return retry_call(lambda: self._http_once(url, query), transient=_http_transient,
                              timed_out=_http_timed_out, deadline=self.deadline)
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

