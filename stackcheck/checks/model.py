"""The check model: what a check is, what it reads, what it returns, and whom it asks.

A `Check` is a frozen record: its id, the claim it tests, a hint, the reads it needs
(`Read`, declared as data) and a pure `evaluate(readings) -> Result`. The runner
(stackcheck/runner.py) resolves the reads through a `Reader`, evaluates, and retries until the
run's deadline; prefetching and watching are derived from the declared reads.

Checks depend on this module and on nothing that reads: the readers (stackcheck/reading.py
over kube.py and web.py) implement `Reader` and know no check.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = dict[str, Any]


class Status(enum.Enum):
    """A check's result, from best to worst: a warning never fails the run unless asked to
    (--fail-on warning); a check with a warning and a failure is failed."""

    PASSED = "passed"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Read:
    """One read a check needs: `kind` names the `Reader` method, `args` its arguments.
    Equal reads are one request per attempt, whichever checks declare them."""

    kind: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.kind}({', '.join(self.args)})"


# the kinds of read (each a method of Reader, same name and arguments)
def version() -> Read:
    return Read("version")


def namespaces() -> Read:
    return Read("namespaces")


def nodes() -> Read:
    return Read("nodes")


def pods(namespace: str) -> Read:
    return Read("pods", (namespace,))


def objects(kind: str, namespace: str) -> Read:
    return Read("objects", (kind, namespace))


def http_get(service: str, path: str, sample: int = 0) -> Read:
    """One answer of an endpoint; samples > 0 are further answers, each its own request
    (a page that differs per backend, e.g. productpage per reviews pod)."""
    return Read("http_get", (service, path) + ((str(sample),) if sample else ()))


def prometheus_targets() -> Read:
    return Read("prometheus_targets")


def prometheus_query(promql: str) -> Read:
    return Read("prometheus_query", (promql,))


def prometheus_api(path: str) -> Read:
    """A JSON path of Prometheus's API without parameters (/api/v1/alerts, /api/v1/rules)."""
    return Read("prometheus_api", (path,))


def alertmanager_alerts() -> Read:
    """Alertmanager's /api/v2/alerts (the stack file's service `alertmanager`)."""
    return Read("alertmanager_alerts")


@dataclass(frozen=True)
class HttpAnswer:
    """An endpoint's answer (redirects not followed)."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class ReadFailure(Exception):
    """A read got no usable answer: `reason` is one line; `transient` when a later attempt
    may succeed (timeouts, 5xx, refused), not for 401/403."""

    def __init__(self, reason: str, transient: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Reader(Protocol):
    """What checks may read. Every method either answers or raises ReadFailure."""

    def version(self) -> Obj: ...  # the API server's /version
    def namespaces(self) -> dict[str, Obj]: ...  # by name
    def nodes(self) -> list[Obj]: ...
    def pods(self, namespace: str) -> list[Obj]: ...
    def objects(self, kind: str, namespace: str) -> dict[str, Obj]: ...  # by name
    def http_get(
        self,
        service: str,
        path: str,  # a stack file service; `sample` only
        sample: str = "0",
    ) -> HttpAnswer: ...  # makes another answer a distinct read
    def prometheus_targets(self) -> Obj: ...  # /api/v1/targets?state=active
    def prometheus_query(self, promql: str) -> Obj: ...  # /api/v1/query
    def prometheus_api(self, path: str) -> Obj: ...  # e.g. /api/v1/alerts, /api/v1/rules
    def alertmanager_alerts(self) -> list[Obj]: ...  # Alertmanager's /api/v2/alerts
    # for the evidence of a failed check (not declared: read only once it has failed)
    def pod(self, namespace: str, name: str) -> Obj: ...
    def events(self, namespace: str, name: str) -> list[Obj]: ...
    def pod_log(self, namespace: str, name: str, container: str, lines: int) -> str: ...


Readings = Mapping[Read, Any]  # each declared read with what the reader answered


@dataclass(frozen=True)
class Evidence:
    """Something to attach to the report: a name, its text and its media type (the text is
    valid in that type: JSON is summarised, never cut)."""

    name: str
    text: str
    media_type: str = "text/plain"
    # attached whatever the result: only for acceptance evidence a stakeholder reads on a
    # green run too (the golden-signal table); all other evidence explains a failure
    on_pass: bool = False


@dataclass(frozen=True)
class Result:
    """What an evaluation found. `failures` and `warnings` name the objects at fault;
    `evidence` is attached when the result is not passed, with a description of each of
    `describe_pods` ((namespace, name): read only then, see diagnostics.py)."""

    summary: str
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    describe_pods: tuple[tuple[str, str], ...] = ()
    retry: bool = True  # False: a later attempt cannot change it (401, 403)
    # (file, line, message): where in git a failure or warning is to blame (drift)
    at: tuple[tuple[str, int, str], ...] = ()

    @property
    def status(self) -> Status:
        if self.failures:
            return Status.FAILED
        return Status.WARNING if self.warnings else Status.PASSED

    @property
    def reasons(self) -> tuple[str, ...]:
        """What is wrong, failures first; the summary when nothing is."""
        return self.failures + self.warnings or (self.summary,)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def failed(reason: str, retry: bool = True) -> Result:
    return Result(reason, failures=(reason,), retry=retry)


@dataclass(frozen=True)
class Check:
    """One claim about the stack, how to test it and what to do when it fails."""

    id: str  # stable: the fault catalog, reports and README refer to it
    kind: str  # the id without its argument, e.g. "pods.healthy": the report's story
    feature: str  # the report's grouping: Cluster, Pods, Workloads, Mesh, Bookinfo, ...
    claim: str
    hint: str
    reads: tuple[Read, ...]
    # out of repr and eq: a function's address would change the report's history id
    evaluate: Callable[[Readings], Result] = field(repr=False, compare=False)
    fatal: bool = False  # when it fails, every check that needs the API is skipped


def declared(checks: Sequence[Check]) -> list[Read]:
    """Every read the checks declare, once, in their order."""
    return list(dict.fromkeys(read for check in checks for read in check.reads))
