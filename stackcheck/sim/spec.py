"""What the simulated stack looks like: healthy by default, each field a way to break it.

Every component of the sim (controller, injector, endpoints, Prometheus, API server) reads
only the fields that concern it. Faults (see `faults.py`) are named edits of this record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PodFault(StrEnum):
    """A state forced on every pod of one workload."""

    CRASH_LOOP = "CrashLoopBackOff"
    IMAGE_PULL = "ImagePullBackOff"
    PENDING = "Pending"
    NOT_READY = "NotReady"  # Running, readiness probe failing
    PROXY_NOT_READY = "ProxyNotReady"  # app ready, linkerd-proxy not ready


@dataclass
class SimSpec:
    # --- cluster objects (controller / injector) ---
    native_sidecars: bool = False  # linkerd-proxy as an init container with restartPolicy Always
    pod_faults: dict[str, PodFault] = field(default_factory=dict)  # workload name -> fault
    missing_workloads: set[str] = field(default_factory=set)  # workload names never created
    replicas_short: dict[str, int] = field(default_factory=dict)  # workload -> replicas missing
    injector_down: bool = False  # pods created while the injector is down get no proxy
    unannotated_namespaces: set[str] = field(default_factory=set)  # inject annotation removed
    heartbeat_jobs: int = 1  # linkerd-heartbeat CronJob pods that ended Succeeded
    restart_counts: dict[str, int] = field(default_factory=dict)  # workload -> restartCount
    # scale: a meshed Deployment `load-generator` in bookinfo with this many healthy replicas
    # (no metrics server and no scrape target each: Prometheus's targets stay bounded)
    extra_pods: int = 0
    # placement: the seed's kubeadm cluster, the tainted control-plane node alone (no workers)
    control_plane_only: bool = False
    # workloads rendered without the control-plane nodeSelector and toleration (no values)
    unplaced_workloads: set[str] = field(default_factory=set)
    # --- HTTP endpoints ---
    # Where productpage's hostPort answers. The real semantics is False: only on the address of
    # the node that runs the pod. True (every node's address, like a NodePort) until the suite
    # locates hostPorts by the pod's status.hostIP (issue 11); then flip it.
    host_port_on_every_node: bool = True
    productpage_status: int = 200
    productpage_errors: set[str] = field(default_factory=set)  # {"details", "reviews"}
    productpage_padding: int = 0  # extra bytes appended to the page body
    grafana_anonymous: bool = False  # `/` answers 200 without login
    grafana_redirect: str = "/login"
    grafana_database: str = "ok"
    # --- Prometheus ---
    prometheus_down: bool = False
    missing_scrape_pools: set[str] = field(default_factory=set)  # PodMonitor names dropped
    targets_down: set[str] = field(default_factory=set)  # PodMonitor names whose targets fail
    proxy_metrics: bool = True  # proxies expose request_total series
    # --- API server ---
    api_error_status: int | None = None  # every request answers this code (500, 503)
    api_delay_seconds: float = 0.0  # added to every request
    api_bad_token: bool = False  # the kubeconfig's token is rejected (401)
    api_forbidden: bool = False  # the token is valid but RBAC denies everything (403)
    api_refused: bool = False  # the kubeconfig points at a closed port
    api_transient_error_rate: float = 0.0  # share of requests answering 500/503/429 at random
    http_transient_error_rate: float = 0.0  # same for the HTTP endpoints
    # --- redaction tests: strings planted where a careless reporter would leak them ---
    planted_secrets: list[str] = field(default_factory=list)
