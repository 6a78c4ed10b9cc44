"""linkerd-proxy admin endpoints, simulated: one small HTTP server per meshed pod.

Each binds the pod's address (`127.<b>.x.y`, routed to lo by Linux) on the admin port 4191
and serves `/metrics`, `/ready` and `/live` like the proxy does. The exposition carries the
labels the proxy itself sets (`direction`, `authority`, `target_addr`, `tls`, `client_id`,
`srv_*`, `dst_*` ...); `namespace`, `pod`, `deployment` are NOT in it: on a real cluster they
are target labels added by the scrape config's relabelling (see `prometheus.py`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from stackcheck.sim.endpoints import ServerThread, is_serving
from stackcheck.sim.spec import SimSpec

PROXY_ADMIN_PORT = 4191
TEXT_FORMAT = "text/plain; version=0.0.4"
LATENCY_BUCKETS_MS = (
    1,
    2,
    3,
    4,
    5,
    10,
    20,
    30,
    40,
    50,
    100,
    200,
    300,
    400,
    500,
    1000,
    2000,
    3000,
    4000,
    5000,
    10000,
    20000,
    30000,
    40000,
    50000,
)

# who calls whom in Bookinfo (by service); everything else only answers probes
_CALLS: dict[str, tuple[str, ...]] = {
    "traffic-generator": ("productpage",),
    "productpage": ("details", "reviews"),
    "reviews-v2": ("ratings",),
    "reviews-v3": ("ratings",),
}
_APP_PORTS = {
    "linkerd-destination": 8086,
    "linkerd-identity": 8080,
    "linkerd-proxy-injector": 8443,
    "metrics-api": 8085,
    "tap": 8089,
    "tap-injector": 8443,
    "web": 8084,
}
_NO_INBOUND_HTTP = {"traffic-generator"}
# who sends requests unasked: callers that take no HTTP requests (the traffic generator)
_SOURCES = frozenset(who for who in _CALLS if who in _NO_INBOUND_HTTP)
# the path each service is called on (tests/data/facts/bookinfo.yml call-paths; the traffic
# generator GETs /productpage)
CALL_PATHS = {
    "productpage": "/productpage",
    "details": "/details/0",
    "reviews": "/reviews/0",
    "ratings": "/ratings/0",
}
# proxy-init sends no inbound connection on these ports to the proxy (its control and admin
# ports, and the chart's ignoreInboundPorts): tests/data/facts/linkerd-proxy.yml
SKIPPED_INBOUND_PORTS = frozenset({4190, 4191, 4567, 4568})
DEFAULT_PROBE_PERIOD_SECONDS = 10.0
# the default server and its routes and authorizations (policy controller's defaults)
DEFAULT_SERVER = {"srv_group": "", "srv_kind": "default", "srv_name": "all-unauthenticated"}
PROBE_ROUTE = {
    "route_group": "",
    "route_kind": "default",
    "route_name": "probe",
    "authz_group": "",
    "authz_kind": "default",
    "authz_name": "probe",
}
DEFAULT_ROUTE = {
    "route_group": "",
    "route_kind": "default",
    "route_name": "default",
    "authz_group": "",
    "authz_kind": "default",
    "authz_name": "all-unauthenticated",
}
PLAINTEXT = {"tls": "no_identity", "no_tls_reason": "no_tls_from_remote"}
# A user's own policy for an app port (SimSpec.own_route_workloads): a Server, one HTTPRoute
# matching every path, and two AuthorizationPolicies (meshed callers; the kubelet's network).
# The policy controller then serves that route alone, no default or probe route, and labels
# Linkerd's resources by group, lower-case kind (the route: its own kind) and name
# (tests/data/facts/linkerd-proxy.yml: server-http-routes, policy-resource-labels).
POLICY_GROUP = "policy.linkerd.io"


def own_policy(service: str, probe: bool) -> dict[str, str]:
    """The srv/route/authz labels of a request on the user's own route (names are ours)."""
    return {
        "srv_group": POLICY_GROUP,
        "srv_kind": "server",
        "srv_name": f"{service}-http",
        "route_group": POLICY_GROUP,
        "route_kind": "HTTPRoute",
        "route_name": f"{service}-all-paths",
        "authz_group": POLICY_GROUP,
        "authz_kind": "authorizationpolicy",
        "authz_name": f"{service}-{'kubelet' if probe else 'meshed-clients'}",
    }


@dataclass(frozen=True)
class HttpProbe:
    """A kubelet HTTP probe of an app container that reaches the pod's inbound proxy."""

    port: int
    path: str
    period_seconds: float


def http_probes(pod: dict[str, Any]) -> tuple[HttpProbe, ...]:
    """The pod's HTTP liveness and readiness probes on ports the proxy receives (a startup
    probe stops once it succeeds, so it adds nothing to a running pod's traffic)."""
    found = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        for key in ("livenessProbe", "readinessProbe"):
            action = (container.get(key) or {}).get("httpGet")
            if not action or str(action.get("scheme", "HTTP")).upper() != "HTTP":
                continue
            port = _probe_port(action.get("port"), container)
            if port is None or port in SKIPPED_INBOUND_PORTS:
                continue
            period = float(container[key].get("periodSeconds") or DEFAULT_PROBE_PERIOD_SECONDS)
            found.append(HttpProbe(port, str(action.get("path") or "/"), period))
    return tuple(found)


def _probe_port(port: object, container: dict[str, Any]) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    for named in container.get("ports") or []:
        if named.get("name") == port:
            return int(named["containerPort"])
    return int(port) if isinstance(port, str) and port.isdigit() else None


@dataclass(frozen=True)
class ProxyTarget:
    namespace: str
    pod: str
    workload_kind: str
    workload_name: str
    pod_ip: str
    port: int = PROXY_ADMIN_PORT

    @property
    def address(self) -> str:
        return f"{self.pod_ip}:{self.port}"

    @property
    def key(self) -> str:
        """The pod for its proxy admin port; `pod:port` for a controller's admin-http port."""
        return self.pod if self.port == PROXY_ADMIN_PORT else f"{self.pod}:{self.port}"


def service_of(workload: str) -> str:
    """Bookinfo convention: workload `reviews-v2` is behind service `reviews`."""
    return re.sub(r"-v\d+$", "", workload)


@dataclass(frozen=True)
class MeshPod:
    """A pod as the mesh sees it: its workload, and whether its Service sends it requests
    (a Service's endpoints list only Ready pods, and Linkerd's destination controller
    passes on only Ready endpoints: tests/data/facts/linkerd-proxy.yml)."""

    namespace: str
    pod: str
    workload: str
    serving: bool
    probes: tuple[HttpProbe, ...] = ()


@dataclass(frozen=True)
class Mesh:
    """Who sends and receives application traffic, derived from the pods' state: the
    sources (the traffic generator) when they serve, then every serving pod of a Service
    an active pod calls. A pod that does not serve gets no requests and so sends none."""

    pods: tuple[MeshPod, ...]
    active: frozenset[tuple[str, str]]  # (namespace, pod)

    @classmethod
    def of(cls, pods: Iterable[MeshPod]) -> Mesh:
        everyone = tuple(pods)
        serving = [p for p in everyone if p.serving]
        active = {(p.namespace, p.pod) for p in serving if p.workload in _SOURCES}
        while True:
            called = {
                (p.namespace, callee)
                for p in serving
                if (p.namespace, p.pod) in active
                for callee in _callees(p.workload)
            }
            more = {
                (p.namespace, p.pod)
                for p in serving
                if (p.namespace, service_of(p.workload)) in called
            } - active
            if not more:
                return cls(everyone, frozenset(active))
            active |= more

    def is_active(self, namespace: str, pod: str) -> bool:
        return (namespace, pod) in self.active

    def is_serving(self, namespace: str, pod: str) -> bool:
        return any(p.serving for p in self.pods if (p.namespace, p.pod) == (namespace, pod))

    def probes_of(self, namespace: str, pod: str) -> tuple[HttpProbe, ...]:
        """The kubelet probes a serving pod's proxy sees (a pod that is not Ready fails
        its readiness probe: those answers are not simulated)."""
        for p in self.pods:
            if (p.namespace, p.pod) == (namespace, pod) and p.serving:
                return p.probes
        return ()

    def has_endpoints(self, namespace: str, service: str) -> bool:
        """The Service has a Ready pod (whether or not it has a proxy)."""
        return any(
            p.serving and p.namespace == namespace and service_of(p.workload) == service
            for p in self.pods
        )


def mesh_pods(pods: Iterable[dict[str, Any]]) -> list[MeshPod]:
    """The mesh's view of Kubernetes pods (as the sim's controller wrote them)."""
    return [
        MeshPod(
            p["metadata"]["namespace"],
            p["metadata"]["name"],
            workload_of(p),
            is_serving(p),
            http_probes(p),
        )
        for p in pods
    ]


def workload_of(pod: dict[str, Any]) -> str:
    """The pod's workload: the injector's `linkerd.io/proxy-<kind>` label, else its owner
    (a ReplicaSet less its pod-template-hash), else the pod itself."""
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    for kind in ("deployment", "statefulset", "daemonset", "job", "cronjob"):
        if labels.get(f"linkerd.io/proxy-{kind}"):
            return str(labels[f"linkerd.io/proxy-{kind}"])
    owners = meta.get("ownerReferences") or []
    if not owners:
        return str(meta["name"])
    owner = str(owners[0].get("name", ""))
    suffix = f"-{labels.get('pod-template-hash', '')}"
    if owners[0].get("kind") == "ReplicaSet" and owner.endswith(suffix) and suffix != "-":
        return owner[: -len(suffix)]
    return owner


def proxy_running(pod: dict[str, Any]) -> bool:
    """Its linkerd-proxy container runs (so its admin port answers): in a crash-looping or
    not-ready pod, and in one whose app image cannot be pulled, the proxy still runs."""
    status = pod.get("status") or {}
    containers = (status.get("containerStatuses") or []) + (
        status.get("initContainerStatuses") or []
    )
    return any(
        c.get("name") == "linkerd-proxy" and "running" in (c.get("state") or {}) for c in containers
    )


def _callees(workload: str) -> tuple[str, ...]:
    return _CALLS.get(workload) or _CALLS.get(service_of(workload), ())


def _app_port(target: ProxyTarget) -> int:
    return _APP_PORTS.get(target.workload_name, 9080)


def _identity(namespace: str, workload: str) -> str:
    account = f"bookinfo-{service_of(workload)}" if namespace == "bookinfo" else workload
    if workload in _NO_INBOUND_HTTP:
        account = "default"
    return f"{account}.{namespace}.serviceaccount.identity.linkerd.cluster.local"


def _labels(labels: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{key}="{escape(value)}"' for key, value in labels.items())


@dataclass
class _Flow:
    """One stream of requests a proxy sees: its labels and a rate."""

    labels: dict[str, str]
    tcp_labels: dict[str, str]
    rps: float
    app_inbound: bool = False  # application traffic into this pod (what SimSpec faults shape)
    probe: bool = False  # the kubelet's probes: they go on whatever the traffic generator does


@dataclass(frozen=True)
class TrafficShape:
    """How one workload's inbound application traffic behaves (SimSpec's golden faults)."""

    error_share: float = 0.0  # share of responses that are 500s
    latency_factor: float = 1.0  # every latency multiplied by this
    plaintext: bool = False  # callers reach it without mTLS
    frozen: bool = False  # no traffic: counters stand still
    own_route: bool = False  # its app port is under the user's own Server and HTTPRoute


def traffic_shape(spec: SimSpec, workload: str) -> TrafficShape:
    return TrafficShape(
        spec.error_shares.get(workload, 0.0),
        spec.latency_factors.get(workload, 1.0),
        workload in spec.plaintext_workloads,
        spec.no_traffic,
        workload in spec.own_route_workloads,
    )


INBOUND_RPS = 5.0  # enough requests per 1 s scrape (SCRAPE_INTERVAL) for stable rates and quantiles
OUTBOUND_RPS = 0.5  # per endpoint a caller reaches


def _active(target: ProxyTarget, mesh: Mesh | None) -> bool:
    """Without a mesh view (unit tests), every proxy sees traffic."""
    return mesh is None or mesh.is_active(target.namespace, target.pod)


def _endpoint(callee: ProxyTarget, mesh: Mesh | None) -> bool:
    return mesh is None or mesh.is_serving(callee.namespace, callee.pod)


def unreachable_services(target: ProxyTarget, mesh: Mesh | None) -> list[str]:
    """The Services this (active) pod calls that have no Ready endpoint: its proxy fails
    those requests itself (failfast), recording no request_total/response_total for them."""
    if mesh is None or not mesh.is_active(target.namespace, target.pod):
        return []
    return [
        service
        for service in _callees(target.workload_name)
        if not mesh.has_endpoints(target.namespace, service)
    ]


def _flows(
    target: ProxyTarget, everyone: list[ProxyTarget], mesh: Mesh | None = None
) -> list[_Flow]:
    flows: list[_Flow] = []
    port = _app_port(target)
    local = f"{target.pod_ip}:{port}"
    server = dict(DEFAULT_SERVER)  # v2.210.4 labels a server by group, kind, name only
    if target.workload_name not in _NO_INBOUND_HTTP and _active(target, mesh):
        callers = [
            who for who, callees in _CALLS.items() if service_of(target.workload_name) in callees
        ]
        caller = callers[0] if callers else "default"
        authority = (
            f"{service_of(target.workload_name)}.{target.namespace}.svc.cluster.local:{port}"
        )
        client_id = _identity(target.namespace, caller)
        inbound = {
            "direction": "inbound",
            "authority": authority,
            "target_addr": local,
            "target_ip": target.pod_ip,
            "target_port": str(port),
            "tls": "true",
            "client_id": client_id,
            **server,
            **_route(target, port, mesh),
        }
        tcp = {
            "direction": "inbound",
            "peer": "src",
            "target_addr": local,
            "tls": "true",
            "client_id": client_id,
            **server,
        }
        flows.append(_Flow(inbound, tcp, INBOUND_RPS, app_inbound=True))
    flows += _probe_flows(target, mesh, server)
    if not _active(target, mesh):
        return flows  # no requests in, none out
    for callee_service in _callees(target.workload_name):
        for callee in everyone:
            if callee.namespace != target.namespace:
                continue
            if service_of(callee.workload_name) != callee_service:
                continue
            if not _endpoint(callee, mesh):
                continue
            callee_port = _app_port(callee)
            addr = f"{callee.pod_ip}:{callee_port}"
            server_id = _identity(callee.namespace, callee.workload_name)
            outbound = {
                "direction": "outbound",
                "authority": f"{callee_service}.{callee.namespace}.svc.cluster.local:{callee_port}",
                "target_addr": addr,
                "target_ip": callee.pod_ip,
                "target_port": str(callee_port),
                "tls": "true",
                "server_id": server_id,
                "dst_control_plane_ns": "linkerd",
                "dst_deployment": callee.workload_name,
                "dst_namespace": callee.namespace,
                "dst_pod": callee.pod,
                "dst_service": callee_service,
                "dst_serviceaccount": server_id.split(".", 1)[0],
            }
            tcp = {
                "direction": "outbound",
                "peer": "dst",
                "target_addr": addr,
                "tls": "true",
                "server_id": server_id,
                "dst_namespace": callee.namespace,
                "dst_deployment": callee.workload_name,
            }
            flows.append(_Flow(outbound, tcp, OUTBOUND_RPS))
    return flows


def _route(target: ProxyTarget, port: int, mesh: Mesh | None) -> dict[str, str]:
    """The route and authorization labels of the callers' requests: a GET of one of the
    pod's probe paths matches the probe route (Bookinfo's callers GET its probe paths)."""
    if mesh is None:
        return DEFAULT_ROUTE
    path = CALL_PATHS.get(service_of(target.workload_name))
    probed = {p.path for p in mesh.probes_of(target.namespace, target.pod) if p.port == port}
    return PROBE_ROUTE if path in probed else DEFAULT_ROUTE


def _probe_flows(target: ProxyTarget, mesh: Mesh | None, server: dict[str, str]) -> list[_Flow]:
    """The kubelet's probes, one flow per probed port at the sum of its probes' rates:
    plaintext GETs of the pod's own address (so no `authority` label), on the probe route."""
    rates: dict[int, float] = {}
    for probe in mesh.probes_of(target.namespace, target.pod) if mesh else ():
        rates[probe.port] = rates.get(probe.port, 0.0) + 1.0 / probe.period_seconds
    flows = []
    for port, rps in sorted(rates.items()):
        local = f"{target.pod_ip}:{port}"
        labels = {
            "direction": "inbound",
            "target_addr": local,
            "target_ip": target.pod_ip,
            "target_port": str(port),
            **PLAINTEXT,
            **server,
            **PROBE_ROUTE,
        }
        tcp = {"direction": "inbound", "peer": "src", "target_addr": local, **PLAINTEXT, **server}
        flows.append(_Flow(labels, tcp, rps, probe=True))
    return flows


def _shaped(flow: _Flow, shape: TrafficShape, service: str) -> _Flow:
    """The user's own route: callers and the kubelet's probes on it. A plaintext caller:
    the proxy sees no TLS and no client identity (the labels the proxy sets for
    `tls="no_identity"`, as on its probe traffic)."""
    if shape.own_route and (flow.app_inbound or flow.probe):
        policy = own_policy(service, flow.probe)
        server = {k: v for k, v in policy.items() if k.startswith("srv_")}
        labels, tcp = {**flow.labels, **policy}, {**flow.tcp_labels, **server}
        flow = _Flow(labels, tcp, flow.rps, flow.app_inbound, flow.probe)
    if not (flow.app_inbound and shape.plaintext):
        return flow
    labels = {k: v for k, v in flow.labels.items() if k != "client_id"}
    tcp = {k: v for k, v in flow.tcp_labels.items() if k != "client_id"}
    return _Flow({**labels, **PLAINTEXT}, {**tcp, **PLAINTEXT}, flow.rps, flow.app_inbound)


def _bucket_share(le: float, factor: float) -> float:
    """Share of answers at or under `le` ms: most in 5-50 ms (times `factor`), a few slower."""
    scaled = le / factor
    return min(1.0, max(0.0, (scaled - 2) / 48.0)) if scaled < 100 else 1.0


def _count(flow: _Flow, seconds: float, elapsed: float) -> float:
    """A flow's requests so far. The probes' counter is fractional: at 0.1/s it would move
    once in 10 s, less than a young sim's first scrapes span, where a real cluster's probes
    have run far longer than the golden window."""
    if flow.probe:
        return round(10 + flow.rps * elapsed, 3)
    return 10 + int(flow.rps * seconds)


def _in_bucket(flow: _Flow, answered: float, share: float) -> float:
    return answered * share if flow.probe else int(answered * share)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _responses(flow: _Flow, count: float, shape: TrafficShape) -> list[tuple[str, str, float]]:
    """(status code, classification, count) of a flow's responses so far."""
    share = shape.error_share if flow.app_inbound else 0.0
    failed = int(count * share)
    out = [("200", "success", count - failed)]
    return [*out, ("500", "failure", failed)] if share > 0 else out


def render_metrics(
    target: ProxyTarget,
    everyone: list[ProxyTarget],
    started_wall: float,
    elapsed: float,
    traffic: bool = True,
    shape: TrafficShape = TrafficShape(),
    mesh: Mesh | None = None,
) -> str:
    """The proxy's `/metrics` text after `elapsed` seconds (counters grow with time, unless
    `shape.frozen`); `shape` forms the inbound application traffic; `mesh` says which pods
    serve and see traffic (None: all of them)."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    if traffic:
        service = service_of(target.workload_name)
        flows = [_shaped(flow, shape, service) for flow in _flows(target, everyone, mesh)]
        seconds = 0.0 if shape.frozen else elapsed
        counts = [_count(flow, seconds, elapsed) for flow in flows]
        family("request_total", "counter", "Total count of HTTP requests.")
        for flow, count in zip(flows, counts, strict=True):
            out.append(f"request_total{{{_labels(flow.labels)}}} {_number(count)}")
        family(
            "response_latency_ms",
            "histogram",
            "Elapsed times between a request's headers "
            "being received and its response stream completing",
        )
        for flow, count in zip(flows, counts, strict=True):
            flow_factor = shape.latency_factor if flow.app_inbound else 1.0
            for status, _, answered in _responses(flow, count, shape):
                labels = {**flow.labels, "status_code": status}
                for le in LATENCY_BUCKETS_MS:
                    bucket = _labels({**labels, "le": str(le)})
                    share = _bucket_share(le, flow_factor)
                    in_bucket = _number(_in_bucket(flow, answered, share))
                    out.append(f"response_latency_ms_bucket{{{bucket}}} {in_bucket}")
                out.append(
                    f"response_latency_ms_bucket{{{_labels({**labels, 'le': '+Inf'})}}} "
                    f"{_number(answered)}"
                )
                out.append(
                    f"response_latency_ms_sum{{{_labels(labels)}}} "
                    f"{int(answered * 17 * flow_factor)}"
                )
                out.append(f"response_latency_ms_count{{{_labels(labels)}}} {_number(answered)}")
        family("response_total", "counter", "Total count of HTTP responses")
        for flow, count in zip(flows, counts, strict=True):
            for status, classification, answered in _responses(flow, count, shape):
                labels = {
                    **flow.labels,
                    "status_code": status,
                    "classification": classification,
                    "error": "",
                }
                out.append(f"response_total{{{_labels(labels)}}} {_number(answered)}")
        family("tcp_open_total", "counter", "Total count of opened connections")
        for flow in flows:
            out.append(f"tcp_open_total{{{_labels(flow.tcp_labels)}}} {1 + int(elapsed / 60)}")
        family("tcp_open_connections", "gauge", "Number of currently-open connections")
        for flow in flows:
            out.append(f"tcp_open_connections{{{_labels(flow.tcp_labels)}}} 1")
        unreachable = len(unreachable_services(target, mesh))
        if unreachable:
            family(
                "outbound_http_errors_total",
                "counter",
                "Outbound HTTP requests the proxy failed itself (no response from an endpoint).",
            )
            # per Service without endpoints: the requests queued when its balancer entered
            # failfast (answered 504), then every request while in failfast (shed, 503)
            shed = unreachable * int(OUTBOUND_RPS * seconds)
            out.append(f'outbound_http_errors_total{{error="failfast"}} {unreachable}')
            out.append(f'outbound_http_errors_total{{error="loadshed"}} {shed}')
    family(
        "process_start_time_seconds",
        "gauge",
        "Time that the process started (in seconds since the UNIX epoch)",
    )
    out.append(f"process_start_time_seconds {int(started_wall)}")
    family(
        "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."
    )
    out.append(f"process_cpu_seconds_total {0.05 + elapsed * 0.002:.3f}")
    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
    out.append("process_resident_memory_bytes 12582912")
    family("process_open_fds", "gauge", "Number of open file descriptors.")
    out.append("process_open_fds 24")
    return "\n".join(out) + "\n"


class ProxyMetricsServers:
    """One admin server per proxy target; `start(targets)` / `stop()` are idempotent."""

    def __init__(self, spec: SimSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._servers: dict[str, ServerThread] = {}
        self._targets: list[ProxyTarget] = []
        self._down: set[str] = set()
        self._mesh: Mesh | None = None
        self._lock = threading.Lock()
        self._started_at = clock()
        self._started_wall = time.time()

    @property
    def targets(self) -> list[ProxyTarget]:
        return list(self._targets)

    def url(self, pod: str) -> str:
        return self._servers[pod].url

    def start(
        self, targets: list[ProxyTarget], pods: list[MeshPod] | None = None
    ) -> dict[str, str]:
        """Serve each target at `pod_ip:port`; returns pod name -> admin base URL. `pods`:
        every pod's state, which decides who sends and receives traffic (None: everyone)."""
        with self._lock:
            if self._servers:
                return {pod: server.url for pod, server in self._servers.items()}
            self._targets = list(targets)
            self._mesh = None if pods is None else Mesh.of(pods)
            self._started_at = self._clock()
            self._started_wall = time.time()
        started: dict[str, ServerThread] = {}
        try:
            for target in targets:
                server = ServerThread(
                    self._app_for(target),
                    host=target.pod_ip,
                    port=target.port,
                    keep_alive=False,
                    name=f"proxy-admin:{target.pod}",
                )
                server.start()
                started[target.key] = server
        except OSError:
            _stop_all(started.values())
            raise
        with self._lock:
            self._servers = started
        return {pod: server.url for pod, server in started.items()}

    def set_down(self, pods: Iterable[str]) -> None:
        """These pods' admin servers answer 500 from now on (others recover)."""
        with self._lock:
            self._down = set(pods)

    def stop(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        _stop_all(servers)

    def _app_for(self, target: ProxyTarget) -> Callable[..., Iterable[bytes]]:
        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            response = self._respond(target, Request(environ))
            return response(environ, start_response)

        return app

    def _respond(self, target: ProxyTarget, request: Request) -> Response:
        with self._lock:
            down = target.pod in self._down
        if down:
            return Response("proxy admin unavailable\n", status=500, content_type="text/plain")
        if request.path == "/metrics":
            # controller admin-http ports expose process metrics, not proxy traffic
            traffic = self.spec.proxy_metrics and target.port == PROXY_ADMIN_PORT
            proxies = [t for t in self._targets if t.port == PROXY_ADMIN_PORT]
            body = render_metrics(
                target,
                proxies,
                self._started_wall,
                self._clock() - self._started_at,
                traffic=traffic,
                shape=traffic_shape(self.spec, target.workload_name),
                mesh=self._mesh,
            )
            return Response(body, content_type=TEXT_FORMAT)
        if request.path == "/ready":
            return Response("ready\n", content_type="text/plain")
        if request.path == "/live":
            return Response("live\n", content_type="text/plain")
        return Response("not found\n", status=404, content_type="text/plain")


def _stop_all(servers: Iterable[ServerThread]) -> None:
    """Stop servers concurrently: each shutdown waits up to one poll interval."""
    threads = [threading.Thread(target=server.stop, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10.0)
