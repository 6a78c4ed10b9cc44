"""Probes: read the cluster, the HTTP endpoints and Prometheus, then judge with checks/*.

Reads are shared between checks within a run (one list per namespace and kind, one GET per
Prometheus path and endpoint), and dropped before a retry so that every attempt sees fresh
state. Once the API answers, every read the stack file's checks need is started at once on
a small thread pool (`prefetch`), so independent reads overlap instead of queueing behind
each other; a check asking for a read in flight waits for it instead of repeating it. The
number of API requests of a run thus depends on namespaces and endpoints, not on pods
(lists are paginated, so only their page count grows with the pods).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from stackcheck.checks import Check, Evidence, Verdict
from stackcheck.checks.http import HttpAnswer, http_problems
from stackcheck.checks.judgement import PodJudgement, judge_pod, mesh_problem
from stackcheck.checks.mesh import injection_problem
from stackcheck.checks.podview import Pod, PodView, as_pod
from stackcheck.checks.prom import query_problems, scrape_job_problems
from stackcheck.checks.workloads import workload_problem
from stackcheck.diagnostics import http_evidence, pod_evidence
from stackcheck.kube import ApiFailure, Kube
from stackcheck.polling import Deadline
from stackcheck.retry import TRANSIENT_STATUS
from stackcheck.retry import call as retry_call
from stackcheck.settings import Settings
from stackcheck.stackfile import Stack
from stackcheck.web import WebClient, WebFailure, join_url

Obj = dict[str, Any]
_Judged = tuple[int, Pod, PodJudgement]  # a pod's position in its list, the pod, its judgement
MAX_DIAGNOSED_PODS = 5
READERS = 8  # concurrent reads of a prefetch
WATCHED_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "CronJob"})


class Probes:
    def __init__(self, stack: Stack, settings: Settings, kube: Kube | None) -> None:
        self.stack = stack
        self.settings = settings
        self.kube = kube
        self._cache: dict[tuple[str, ...], Future[Any]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by forget(): prefetches of older ones are dropped
        self._pool: ThreadPoolExecutor | None = None
        self.http = WebClient(settings.request_timeout, READERS)
        self.http_requests = 0
        self.deadline: Deadline | None = None  # the run's: timed-out requests retry until it
        # the report's environment counts the nodes after the run: read them with the rest
        # (set where this process writes that report)
        self.prefetch_nodes = False

    def close(self) -> None:
        """Connections and threads end; the reads are left to the process's end, which
        follows (pytest's): freeing a 10,000-pod list object by object cost ~40 ms, for
        memory the OS takes back at once. Lists of more than a page sit in the collector's
        permanent generation (kube._CollectorPause), so pytest's last collections skip them."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()
        if self.kube is not None:
            self.kube.close()

    def forget(self) -> None:
        """Drop every cached read: the next attempt sees the cluster as it is now."""
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def prefetch(self) -> None:
        """Start every read the stack file's checks need, concurrently (see module doc)."""
        reads: list[Callable[[], object]] = [partial(self.pods, ns)
                                             for ns in self.stack.namespaces]
        reads += [partial(self.objects, kind, ns) for kind, ns in dict.fromkeys(
            (w.kind, c.namespace) for c in self.stack.components for w in c.workloads)]
        reads += [partial(self._endpoint_answer, e.name) for e in self.stack.endpoints]
        if self.stack.scrape_jobs:
            reads.append(self._targets)
        reads += [partial(self._query, q.promql) for q in self.stack.queries]
        if self.prefetch_nodes:
            reads.append(self.nodes)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(READERS, thread_name_prefix="stackcheck-read")
            pool, generation = self._pool, self._generation
        for read in reads:
            pool.submit(self._warm, read, generation)

    def _warm(self, read: Callable[[], object], generation: int) -> None:
        if generation != self._generation:
            return  # forgotten meanwhile: the next attempt reads for itself
        with contextlib.suppress(Exception):  # the check needing this read reports it
            read()

    def requires_api(self, check: Check) -> bool:
        if check.needs_api:
            return True
        endpoint = next((e for e in self.stack.endpoints if f"endpoint[{e.name}]" == check.id),
                        None)
        return endpoint is not None and self.settings.url_for(endpoint.service) is None

    def pause(self, check: Check, seconds: float) -> None:
        """Wait between attempts: on watches of what the check reads (its namespace's pods,
        and a component's workload kinds), returning as soon as one changes; else sleep."""
        watched = self._watched(check)
        if watched is None or self.kube is None:
            time.sleep(seconds)
            return
        namespace, kinds = watched
        self.kube.wait_for_change(kinds, namespace, seconds)

    def _watched(self, check: Check) -> tuple[str, tuple[str, ...]] | None:
        argument = check.id.partition("[")[2].rstrip("]")
        if check.group in ("pods.healthy", "mesh.proxies"):
            return argument, ("Pod",)
        if check.group == "component.healthy":
            component = self.stack.component(argument)
            kinds = sorted({w.kind for w in component.workloads} & WATCHED_KINDS)
            return component.namespace, ("Pod", *kinds)
        return None

    # --- cached reads --------------------------------------------------------------------
    def _cached(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        """One read per key until forget(); concurrent askers wait for the one in flight.
        A failed read is not kept: the failure goes to those waiting, the next asker
        reads again. Every read is bounded by the request timeout (and its retries)."""
        with self._lock:
            future = self._cache.get(key)
            mine = future is None
            if future is None:
                future = self._cache[key] = Future()
        if mine:
            try:
                future.set_result(read())
            except BaseException as exc:
                with self._lock:
                    if self._cache.get(key) is future:
                        del self._cache[key]
                future.set_exception(exc)
        return future.result()

    def _api(self) -> Kube:
        if self.kube is None:
            raise ApiFailure("no Kubernetes API configured")
        return self.kube

    def namespaces(self) -> dict[str, Obj]:
        items = self._cached(("namespaces",), lambda: self._api().list_all("/api/v1/namespaces"))
        return {n["metadata"]["name"]: n for n in items}

    def pods(self, ns: str) -> list[Pod]:
        """The namespace's pods, as PodView: the fields the checks read."""
        result: list[Pod] = self._cached(("pods", ns), lambda: self._api().list_kind(
            "Pod", ns, view=PodView))
        return result

    def objects(self, kind: str, ns: str) -> dict[str, Obj]:
        items = self._cached((kind, ns), lambda: self._api().list_kind(kind, ns))
        return {o["metadata"]["name"]: o for o in items}

    def _judged(self, ns: str) -> list[tuple[Pod, PodJudgement]]:
        """pods(ns), each with its judgement: judged once for the checks that read it."""
        max_restarts = self.stack.max_restarts
        result: list[tuple[Pod, PodJudgement]] = self._cached(("judged", ns), lambda: [
            (pod, judge_pod(pod, max_restarts)) for pod in self.pods(ns)])
        return result

    def _pods_by_owner(self, ns: str) -> dict[tuple[str, str] | None, list[_Judged]]:
        """pods(ns) by owning workload, each with its position in the list and its
        judgement: every component of a namespace picks its pods from one pass over them."""
        def index() -> dict[tuple[str, str] | None, list[_Judged]]:
            found: dict[tuple[str, str] | None, list[_Judged]] = {}
            for i, (pod, judged) in enumerate(self._judged(ns)):
                found.setdefault(judged.owner, []).append((i, pod, judged))
            return found

        result: dict[tuple[str, str] | None, list[_Judged]] = self._cached(
            ("owners", ns), index)
        return result

    def proxy_versions(self, ns: str) -> list[Any]:
        """The linkerd.io/proxy-version annotation of each of pods(ns) (None: none)."""
        return [judged.proxy_version for _, judged in self._judged(ns)]

    def version(self) -> Obj:
        """The server's /version (cached like any read)."""
        result: Obj = self._cached(("version",), lambda: self._api().version())
        return result

    def nodes(self) -> list[Obj]:
        result: list[Obj] = self._cached(("nodes",),
                                         lambda: self._api().list_all("/api/v1/nodes"))
        return result

    # --- probes --------------------------------------------------------------------------
    def api_reachable(self) -> Verdict:
        try:
            version = self.version()
            names = self.namespaces()
        except ApiFailure as exc:
            return Verdict(False, problems=(exc.reason,), final=not exc.transient)
        self.prefetch()
        missing = [ns for ns in self.stack.namespaces if ns not in names]
        summary = f"{self._api().server} answers, Kubernetes {version.get('gitVersion', '?')}"
        evidence = (Evidence("server version", json.dumps(version, indent=2), "application/json"),)
        if missing:
            return Verdict(False, summary, tuple(f"namespace {ns} does not exist"
                                                 for ns in missing), evidence)
        return Verdict(True, summary, evidence=evidence)

    def pods_healthy(self, ns: str) -> Verdict:
        pods = self.pods(ns)
        if not pods:
            return Verdict(False, problems=(f"namespace {ns} has no pods",))
        bad = [(p, j.health) for p, j in self._judged(ns) if j.health]
        summary = f"{len(pods) - len(bad)}/{len(pods)} pods healthy in {ns}"
        return Verdict(not bad, summary, tuple(why for _, why in bad),
                       diagnose=self._pod_diagnosis([p for p, _ in bad]))

    def component_healthy(self, name: str) -> Verdict:
        component = self.stack.component(name)
        ns = component.namespace
        problems = [why for w in component.workloads
                    if (why := workload_problem(w, ns, self.objects(w.kind, ns).get(w.name)))]
        owned = {(w.kind, w.name) for w in component.workloads}
        mine = sorted((at for owner, pods in self._pods_by_owner(ns).items()
                       if _owns(owned, owner) for at in pods), key=lambda at: at[0])
        bad = [pod for _, pod, judged in mine if judged.health]
        problems += [judged.health for _, _, judged in mine if judged.health]
        count = len(component.workloads)
        summary = f"{count} workload{'' if count == 1 else 's'} of {name} available"
        return Verdict(not problems, summary, tuple(problems), diagnose=self._pod_diagnosis(bad))

    def injection(self, ns: str) -> Verdict:
        try:
            problem = injection_problem(self.namespaces().get(ns), ns)
        except ApiFailure as exc:
            return Verdict(False, problems=(exc.reason,))
        return Verdict(problem is None, f"namespace {ns} annotated",
                       () if problem is None else (problem,))

    def proxies(self, ns: str) -> Verdict:
        pods = self.pods(ns)
        if not pods:
            return Verdict(False, problems=(f"namespace {ns} has no pods",))
        bad = [(p, why) for p, j in self._judged(ns) if (why := mesh_problem(p, j))]
        summary = f"{len(pods) - len(bad)}/{len(pods)} pods meshed in {ns}"
        return Verdict(not bad, summary, tuple(why for _, why in bad),
                       diagnose=self._pod_diagnosis([p for p, _ in bad]))

    def endpoint(self, name: str) -> Verdict:
        endpoint = next(e for e in self.stack.endpoints if e.name == name)
        try:
            answer = self._endpoint_answer(name)
        except ApiFailure as exc:
            return Verdict(False, problems=(exc.reason,))
        problems = http_problems(endpoint.expect, answer)
        summary = f"GET {answer.url} -> {answer.status}, {len(answer.body)} bytes"
        return Verdict(not problems, summary, tuple(problems), (http_evidence(answer),))

    def scrape_job(self, job: str) -> Verdict:
        expected = next(j for j in self.stack.scrape_jobs if j.job == job)
        try:
            answer = self._targets()
            problems = scrape_job_problems(expected, answer)
        except (ApiFailure, ValueError) as exc:
            return Verdict(False, problems=(_reason(exc),))
        mine = [t for t in answer["data"]["activeTargets"]
                if (t.get("labels") or {}).get("job") == job]
        evidence = Evidence(f"targets of job {job}", json.dumps(mine, indent=2)[:65536],
                            "application/json")
        return Verdict(not problems, f"{len(mine)} target(s) for job {job}", tuple(problems),
                       (evidence,))

    def query(self, name: str) -> Verdict:
        expected = next(q for q in self.stack.queries if q.name == name)
        try:
            answer = self._query(expected.promql)
            problems = query_problems(expected, answer)
        except (ApiFailure, ValueError) as exc:
            return Verdict(False, problems=(_reason(exc),))
        evidence = Evidence(f"query {name}", json.dumps(answer, indent=2)[:65536],
                            "application/json")
        return Verdict(not problems, expected.promql, tuple(problems), (evidence,))

    def _endpoint_answer(self, name: str) -> HttpAnswer:
        endpoint = next(e for e in self.stack.endpoints if e.name == name)
        answer: HttpAnswer = self._cached(
            ("endpoint", name),
            lambda: self._http_get(join_url(self.base_url(endpoint.service), endpoint.path)))
        return answer

    def _targets(self) -> Obj:
        """Prometheus's active targets, read once for every scrape-job check."""
        answer: Obj = self._cached(("prometheus", "targets"), lambda: self.prometheus_get(
            "/api/v1/targets", [("state", "active")]))
        return answer

    def _query(self, promql: str) -> Obj:
        answer: Obj = self._cached(("prometheus", "query", promql), lambda: self.prometheus_get(
            "/api/v1/query", [("query", promql)]))
        return answer

    # --- endpoints -----------------------------------------------------------------------
    def base_url(self, service: str) -> str:
        given = self.settings.url_for(service)
        if given:
            return given
        spec = self.stack.services[service]
        return f"{spec.scheme}://{self.node_address()}:{spec.port}"

    def node_address(self) -> str:
        if self.settings.node_address:
            return self.settings.node_address
        nodes = self.nodes()
        for wanted in ("ExternalIP", "InternalIP"):
            for node in nodes:
                for address in node.get("status", {}).get("addresses") or []:
                    if address.get("type") == wanted:
                        return str(address["address"])
        raise ApiFailure("no node has an ExternalIP or InternalIP: set --node-address")

    def prometheus_get(self, path: str, query: list[tuple[str, str]]) -> Obj:
        service = self.stack.prometheus_service or "prometheus"
        spec = self.stack.services[service]
        if self.settings.url_for(service) is None and spec.proxied is not None:
            return self._api().service_proxy(spec.proxied, spec.port, path, query)
        url = join_url(self.base_url(service), path)
        answer = self._http_get(url, query)
        if answer.status != 200:
            raise ApiFailure(f"GET {url}: HTTP {answer.status} {answer.reason}")
        try:
            return dict(json.loads(answer.body))
        except ValueError:
            raise ApiFailure(f"GET {url}: the answer is not a JSON object") from None

    def _http_get(self, url: str, query: list[tuple[str, str]] | None = None) -> HttpAnswer:
        """GET without following redirects; 5xx/429 answers, resets and timeouts retried
        (stackcheck/retry.py). A 5xx that persists is the answer the check judges."""
        try:
            answer = retry_call(lambda: self._http_once(url, query), fast=_http_fast,
                                slow=_http_timeout, deadline=self.deadline)
        except _Transient as exc:
            return exc.answer
        except WebFailure as exc:
            raise ApiFailure(f"GET {url}: {exc.reason}") from None
        return answer

    def _http_once(self, url: str, query: list[tuple[str, str]] | None) -> HttpAnswer:
        self.http_requests += 1
        answer = self.http.get(url, query)
        if answer.status in TRANSIENT_STATUS:
            raise _Transient(answer)
        return answer

    # --- diagnostics ---------------------------------------------------------------------
    def _pod_diagnosis(self, pods: list[Pod]) -> Callable[[], tuple[Evidence, ...]] | None:
        if not pods or self.kube is None:
            return None
        kube = self.kube
        return lambda: tuple(pod_evidence(kube, as_pod(p)) for p in pods[:MAX_DIAGNOSED_PODS])


def _http_fast(exc: BaseException) -> bool:
    return isinstance(exc, _Transient) or (isinstance(exc, WebFailure) and not exc.timed_out)


def _http_timeout(exc: BaseException) -> bool:
    return isinstance(exc, WebFailure) and exc.timed_out


class _Transient(Exception):
    def __init__(self, answer: HttpAnswer) -> None:
        super().__init__(f"HTTP {answer.status}")
        self.answer = answer


def _owns(owned: set[tuple[str, str]], owner: tuple[str, str] | None) -> bool:
    """A workload's pods; a Job's count for its CronJob (Jobs are `<cronjob>-<schedule>`)."""
    if owner is None:
        return False
    if owner in owned:
        return True
    return owner[0] == "Job" and any(kind == "CronJob" and owner[1].startswith(name + "-")
                                     for kind, name in owned)


def _reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, ApiFailure) else str(exc)
