"""Checks as data: each a claim about the stack, the probe that tests it, and a hint.

`build_checks(stack)` turns the stack file into the full, ordered list of checks; `suites/`
selects from it by id prefix. Probes are methods of `stackcheck.probes.Probes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stackcheck.stackfile import Stack

if TYPE_CHECKING:
    from stackcheck.probes import Probes

DOCS = "https://linkerd.io/2/tasks/troubleshooting/"


@dataclass(frozen=True)
class Evidence:
    """Something to attach to the report: a name, its text and its media type."""

    name: str
    text: str
    media_type: str = "text/plain"


@dataclass(frozen=True)
class Verdict:
    """One probe's result. `problems` name the faulty objects; `diagnose` fetches evidence
    (events, logs, bodies) only once the check has finally failed."""

    ok: bool
    summary: str = ""
    problems: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    final: bool = False  # no point retrying (e.g. 401, 403)
    diagnose: Callable[[], tuple[Evidence, ...]] | None = field(default=None, compare=False)

    @property
    def reason(self) -> str:
        return "; ".join(self.problems) or self.summary


@dataclass(frozen=True)
class Check:
    id: str
    feature: str  # the report's grouping: Cluster, Pods, Workloads, Mesh, Bookinfo, ...
    claim: str
    # out of repr: a function's address would change the report's history id every run
    probe: Callable[[Probes], Verdict] = field(repr=False)
    hint: str
    fatal: bool = False  # when it fails, every check that needs the cluster is skipped
    needs_api: bool = True

    @property
    def group(self) -> str:
        return self.id.split("[", 1)[0]


def build_checks(stack: Stack) -> list[Check]:
    checks = [_api_check()]
    checks += [_pods_check(ns, stack.max_restarts) for ns in stack.namespaces]
    checks += [_component_check(c.name, c.namespace) for c in stack.components if c.workloads]
    checks += [_injection_check(ns) for ns in stack.meshed_namespaces]
    checks += [_proxies_check(ns) for ns in stack.meshed_namespaces]
    checks += [_endpoint_check(e.name, e.hint, stack) for e in stack.endpoints]
    checks += [_scrape_check(j.job, j.min_targets, j.hint) for j in stack.scrape_jobs]
    checks += [_query_check(q.name, q.hint) for q in stack.queries]
    return checks


def _api_check() -> Check:
    return Check(
        "api.reachable", "Cluster", "the Kubernetes API server answers with these credentials",
        lambda p: p.api_reachable(),
        "check --kubeconfig/--kube-context, that the server is up, and that the credentials "
        "may get/list namespaces (manifests/rbac/verifier-readonly.yml)",
        fatal=True,
    )


def _pods_check(ns: str, max_restarts: int) -> Check:
    return Check(
        f"pods.healthy[{ns}]", "Pods",
        f"every pod in namespace {ns} is Running and Ready (at most {max_restarts} restarts)",
        lambda p: p.pods_healthy(ns),
        f"kubectl -n {ns} describe pod <pod>; kubectl -n {ns} logs <pod> -c <container> "
        "--previous; CrashLoopBackOff: read the last logs; Pending: read the FailedScheduling "
        "event; ImagePullBackOff: check the image name and tag",
    )


def _component_check(name: str, ns: str) -> Check:
    return Check(
        f"component.healthy[{name}]", "Workloads",
        f"every workload of {name} exists in namespace {ns} with its replicas available",
        lambda p: p.component_healthy(name),
        f"kubectl -n {ns} get deploy,sts,ds,cronjob; a missing workload means the install "
        "step of this component failed or was skipped (see scripts/deploy-observability-stack.sh)",
    )


def _injection_check(ns: str) -> Check:
    return Check(
        f"mesh.injection[{ns}]", "Mesh", f"namespace {ns} asks Linkerd to inject its pods",
        lambda p: p.injection(ns),
        f"kubectl annotate namespace {ns} linkerd.io/inject=enabled, then restart its "
        f"workloads (kubectl -n {ns} rollout restart deploy); see {DOCS}",
    )


def _proxies_check(ns: str) -> Check:
    return Check(
        f"mesh.proxies[{ns}]", "Mesh", f"every pod in namespace {ns} runs a ready linkerd-proxy",
        lambda p: p.proxies(ns),
        "pods created before injection was enabled, or while linkerd-proxy-injector was "
        f"down, have no proxy: kubectl -n {ns} rollout restart deploy; linkerd check --proxy "
        f"-n {ns}; see {DOCS}",
    )


def _endpoint_check(name: str, hint: str, stack: Stack) -> Check:
    endpoint = next(e for e in stack.endpoints if e.name == name)
    return Check(
        f"endpoint[{name}]", _feature_of(endpoint.service),
        f"{endpoint.service} {endpoint.path} answers {endpoint.expect.status} as expected",
        lambda p: p.endpoint(name),
        hint or f"open {endpoint.path} on {endpoint.service} and compare with stack.yml",
        needs_api=False,
    )


def _feature_of(service: str) -> str:
    return {"productpage": "Bookinfo", "grafana": "Grafana", "prometheus": "Prometheus"}.get(
        service, service.capitalize())


def _scrape_check(job: str, min_targets: int, hint: str) -> Check:
    return Check(
        f"prometheus.scrape-job[{job}]", "Prometheus",
        f"Prometheus scrapes job {job} with at least {min_targets} target(s) up",
        lambda p: p.scrape_job(job),
        hint or "the PodMonitors in manifests/observability/linkerd-podmonitors.yml must carry "
        "the label release: prometheus (or the *SelectorNilUsesHelmValues values be false); "
        "a down target's lastError says why",
    )


def _query_check(name: str, hint: str) -> Check:
    return Check(
        f"prometheus.query[{name}]", "Prometheus", f"Prometheus has data for {name}",
        lambda p: p.query(name), hint or "check that traffic flows and proxies are scraped",
    )
