"""Read-only access to the Kubernetes API through the official client, as plain dicts.

Objects stay in their wire shape (camelCase dicts) so checks, golden examples and the sim
all speak the same language. Every call has a timeout; transient failures are retried with
capped exponential backoff and jitter (tenacity) before they count as an attempt's failure.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from stackcheck.errors import UsageError
from stackcheck.polling import Deadline
from stackcheck.retry import call as retry_call
from stackcheck.stackfile import read_text_file, require_file

Obj = dict[str, Any]

# Where each workload kind lives in the API.
_KIND_PATHS = {
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "Event": "/api/v1/namespaces/{ns}/events",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
    "DaemonSet": "/apis/apps/v1/namespaces/{ns}/daemonsets",
    "ReplicaSet": "/apis/apps/v1/namespaces/{ns}/replicasets",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
}
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
PAGE_SIZE = 500


class ApiFailure(Exception):
    """An API call that failed: `reason` is one line fit for a check's message."""

    def __init__(self, reason: str, status: int | None = None, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.timed_out = timed_out  # cost a whole request timeout: retried only within the run

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in _TRANSIENT_STATUS


@dataclass(frozen=True)
class KubeTarget:
    kubeconfig: Path
    context: str | None
    request_timeout: float


def load_configuration(target: KubeTarget) -> client.Configuration:
    """The client configuration for a kubeconfig; every problem is one UsageError line."""
    path = target.kubeconfig
    _check_kubeconfig(path, target.context)
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=str(path),
            context=target.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except ConfigException as exc:
        raise UsageError(f"kubeconfig {path}: {_first_line(str(exc))}") from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as exc:
        raise UsageError(f"kubeconfig {path}: unreadable ({_first_line(str(exc))})") from None
    server = urlsplit(configuration.host or "")
    if server.scheme not in ("http", "https") or not server.hostname:
        raise UsageError(f"kubeconfig {path}: the cluster of context "
                         f"{target.context or '(current)'} has no http(s) server URL "
                         f"(got {configuration.host or 'nothing'!r})")
    configuration.retries = 0  # retries are ours: bounded, with backoff, within the deadline
    return configuration


def _check_kubeconfig(path: Path, context: str | None) -> None:
    """The problems the client would report as a traceback or a vague line, named clearly."""
    hint = " (set --kubeconfig or KUBECONFIG)"
    text = read_text_file(path, f"kubeconfig {path}", hint)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise UsageError(f"kubeconfig {path}: {where}not valid YAML{hint}") from None
    if data is None:
        raise UsageError(f"kubeconfig {path}: is empty{hint}")
    if not isinstance(data, dict):
        raise UsageError(f"kubeconfig {path}: expected a kubeconfig mapping, got "
                         f"{type(data).__name__}{hint}")
    contexts = [c.get("name") for c in data.get("contexts") or [] if isinstance(c, dict)]
    known = ", ".join(str(c) for c in contexts) or "none"
    if context is not None and context not in contexts:
        raise UsageError(f"--kube-context: context {context!r} is not in kubeconfig {path} "
                         f"(contexts: {known})")
    if not contexts:
        raise UsageError(f"kubeconfig {path}: has no contexts{hint}")
    if context is None and data.get("current-context") not in contexts:
        current = data.get("current-context")
        why = f"current-context {current!r} is not among" if current else "no current-context;"
        raise UsageError(f"kubeconfig {path}: {why} contexts: {known} (set --kube-context)")
    _check_referenced_files(path, data, context or str(data.get("current-context")))


def _check_referenced_files(path: Path, data: dict[str, Any], context: str) -> None:
    """Files the chosen context's cluster and user name must exist (relative: to the file)."""
    def entry(section: str, name: object, key: str) -> dict[str, Any]:
        for item in data.get(section) or []:
            if isinstance(item, dict) and item.get("name") == name:
                value = item.get(key)
                return value if isinstance(value, dict) else {}
        return {}

    chosen = entry("contexts", context, "context")
    referenced = [("cluster", chosen.get("cluster"), "clusters", "cluster",
                   ("certificate-authority",)),
                  ("user", chosen.get("user"), "users", "user",
                   ("client-certificate", "client-key", "tokenFile"))]
    for label, name, section, key, fields in referenced:
        values = entry(section, name, key)
        for field_name in fields:
            given = values.get(field_name)
            if isinstance(given, str) and given:
                require_file(path.parent / Path(given).expanduser(),
                             f"kubeconfig {path}: {label} {name!r}: {field_name} {given}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid"


class Kube:
    """A read-only API session; counts its requests by verb."""

    def __init__(self, configuration: client.Configuration, request_timeout: float) -> None:
        self.server = configuration.host
        self._api = client.ApiClient(configuration)
        self._timeout = request_timeout
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.list_versions: dict[str, str] = {}  # collection path -> resourceVersion last listed
        self.deadline: Deadline | None = None  # the run's: timed-out requests retry until it

    def close(self) -> None:
        self._api.close()

    # --- verbs -------------------------------------------------------------------------
    def version(self) -> Obj:
        return self._json("get", "/version")

    def get(self, path: str) -> Obj:
        return self._json("get", path)

    def list_all(self, path: str, label_selector: str | None = None,
             field_selector: str | None = None) -> list[Obj]:
        """Every item of a collection, page by page (limit/continue)."""
        return list(self._pages(path, label_selector, field_selector))

    def list_kind(self, kind: str, namespace: str, **selectors: str | None) -> list[Obj]:
        return self.list_all(_KIND_PATHS[kind].format(ns=namespace), **selectors)

    def pod_log(self, namespace: str, pod: str, container: str, lines: int) -> str:
        query = [("container", container), ("tailLines", str(lines)), ("limitBytes", "16384")]
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        return self._call("log", path, query).decode("utf-8", "replace")

    def service_proxy(self, service: str, port: int, path: str,
                      query: list[tuple[str, str]] | None = None) -> Obj:
        """GET a JSON path of an in-cluster service through the API server's proxy."""
        namespace, name = service.split("/", 1)
        resource = f"/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy{path}"
        return _decode(self._call("proxy", resource, query or []), resource)

    def wait_for_change(self, kind: str, namespace: str, seconds: float) -> None:
        """Return when the collection changes after our last list, or after `seconds`.

        A watch from the listed resourceVersion: a condition is seen as soon as it becomes
        true instead of on the next poll. Without a listed version, just wait.
        """
        path = _KIND_PATHS[kind].format(ns=namespace)
        version = self.list_versions.get(path)
        if version is None or seconds < 0.05:
            time.sleep(seconds)
            return
        query = [("watch", "1"), ("resourceVersion", version),
                 ("timeoutSeconds", str(max(1, math.ceil(seconds))))]
        with self._lock:
            self.requests["watch"] += 1
        params = self._api.param_serialize("GET", path, query_params=query,
                                           auth_settings=["BearerToken"])
        started = time.monotonic()
        try:
            response = self._api.call_api(*params, _request_timeout=(self._timeout, seconds))
            if 200 <= response.status <= 299:
                next(response.response.stream(1), None)  # the first byte is the first event
            response.response.release_conn()
        except (ApiException, urllib3.exceptions.HTTPError, StopIteration):
            pass  # a failed watch is only a shorter pause: the next attempt lists again
        leftover = seconds - (time.monotonic() - started)
        if leftover > 0 and version == self.list_versions.get(path):
            time.sleep(min(leftover, 0.05))

    # --- plumbing ----------------------------------------------------------------------
    def _pages(self, path: str, label_selector: str | None,
               field_selector: str | None) -> Iterator[Obj]:
        token = ""
        while True:
            query = [("limit", str(PAGE_SIZE))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            page = _decode(self._call("list", path, query), path)
            yield from page.get("items") or []
            meta = page.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                if meta.get("resourceVersion") and not label_selector and not field_selector:
                    self.list_versions[path] = str(meta["resourceVersion"])
                return

    def _json(self, verb: str, path: str) -> Obj:
        return _decode(self._call(verb, path, []), path)

    def _call(self, verb: str, path: str, query: list[tuple[str, str]]) -> bytes:
        """One request; 5xx/429 answers, resets and timeouts retried (stackcheck/retry.py)."""
        return retry_call(lambda: self._once(verb, path, query), fast=_fast_failure,
                          slow=_timed_out, deadline=self.deadline)

    def _once(self, verb: str, path: str, query: list[tuple[str, str]]) -> bytes:
        with self._lock:
            self.requests[verb] += 1
        params = self._api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.call_api(*params, _request_timeout=self._timeout)
            body: bytes = response.read()
        except ApiException as exc:
            raise ApiFailure(_status_reason(exc.status, exc.reason, exc.body), exc.status) from None
        except urllib3.exceptions.HTTPError as exc:
            raise ApiFailure(_network_reason(self.server, exc, self._timeout),
                             timed_out=_is_timeout(exc)) from None
        if not 200 <= response.status <= 299:
            raise ApiFailure(_status_reason(response.status, response.reason, body),
                             response.status)
        return body


def _fast_failure(exc: BaseException) -> bool:
    return isinstance(exc, ApiFailure) and exc.transient and not exc.timed_out


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, ApiFailure) and exc.timed_out


def _is_timeout(exc: urllib3.exceptions.HTTPError) -> bool:
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return isinstance(exc.reason, (urllib3.exceptions.TimeoutError, TimeoutError))
    return isinstance(exc, urllib3.exceptions.TimeoutError)


def _decode(body: bytes, what: str) -> Obj:
    try:
        data = json.loads(body)
    except ValueError:
        raise ApiFailure(f"{what}: the answer is not JSON") from None
    if not isinstance(data, dict):
        raise ApiFailure(f"{what}: the answer is not a JSON object")
    return data


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


def _network_reason(server: str, exc: Exception, timeout: float) -> str:
    text = str(exc)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        text = str(exc.reason)
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return f"{server}: request timed out after {timeout:g}s"
    if "refused" in lowered:
        return f"{server}: connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return f"{server}: host name does not resolve"
    return f"{server}: {text.split(': ', 1)[-1][:200]}"
