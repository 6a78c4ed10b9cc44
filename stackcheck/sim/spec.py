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
    # linkerd-heartbeat Jobs that ended Succeeded and are still there; the chart keeps
    # none (successfulJobsHistoryLimit: 0), so only a run just finished shows one
    heartbeat_jobs: int = 0
    restart_counts: dict[str, int] = field(default_factory=dict)  # workload -> restartCount
    # workload -> restarts that ended days ago (OOMKilled soon after start), running since
    old_restarts: dict[str, int] = field(default_factory=dict)
    # CronJobs whose last run failed (each try exits 1: linkerd-heartbeat without egress)
    failed_cronjobs: set[str] = field(default_factory=set)
    scaled_replicas: dict[str, int] = field(default_factory=dict)  # live spec.replicas
    # Deployment -> pods of it the kubelet evicted under memory pressure, still there
    # (Failed, reason Evicted): the ReplicaSet runs replacements, unless the Deployment is in
    # unreplaced_evictions (no replacement made: kube-controller-manager down)
    evicted_pods: dict[str, int] = field(default_factory=dict)
    unreplaced_evictions: set[str] = field(default_factory=set)
    # Deployments whose rollout stalls past its deadline (Progressing=False, none updated)
    stuck_rollouts: set[str] = field(default_factory=set)
    # scale: a meshed Deployment `load-generator` in bookinfo with this many healthy replicas
    # (no metrics server and no scrape target each: Prometheus's targets stay bounded)
    extra_pods: int = 0
    # placement: the seed's kubeadm cluster, the tainted control-plane node alone (no workers)
    control_plane_only: bool = False
    # workloads rendered without the control-plane nodeSelector and toleration (no values)
    unplaced_workloads: set[str] = field(default_factory=set)
    # drift (content.py): "Kind/name" -> {path: value} set on the object as applied, as a
    # `kubectl patch` would; a path as drift reports it (`spec.template.spec.containers
    # [name=details].image`), value None removes the field
    drifted_fields: dict[str, dict[str, object]] = field(default_factory=dict)
    stray_objects: list[dict[str, object]] = field(default_factory=list)  # applied as well
    # --- HTTP endpoints ---
    # Where productpage's hostPort answers: only on the address of the node that runs the pod
    # (the real semantics); True: on every node's address, like a NodePort
    host_port_on_every_node: bool = False
    # the CNI has no portmap plugin: a hostPort is accepted but nothing is bound (refused)
    host_port_unbound: bool = False
    productpage_status: int = 200
    productpage_errors: set[str] = field(default_factory=set)  # {"details", "reviews"}
    productpage_padding: int = 0  # extra bytes appended to the page body
    grafana_anonymous: bool = False  # `/` answers 200 without login
    grafana_redirect: str = "/login"
    grafana_database: str = "ok"
    # --- Prometheus ---
    prometheus_down: bool = False
    missing_scrape_pools: set[str] = field(default_factory=set)  # PodMonitor names dropped
    # PodMonitors deployed without the `release: prometheus` label
    unlabelled_podmonitors: set[str] = field(default_factory=set)
    # kube-prometheus-stack's podMonitorSelectorNilUsesHelmValues; None: as our values say
    podmonitor_selector_nil_uses_helm_values: bool | None = None
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
    # --- Linkerd identity (sim/identity.py, the controller's injector) ---
    trust_anchor_days_left: float = 3650.0  # negative: expired that many days ago
    stale_anchor_workloads: set[str] = field(default_factory=set)  # injected before a rotation
    previous_trust_anchor_pem: str = ""  # the anchor before the rotation (the stack fills it)
    proxy_versions: dict[str, str] = field(default_factory=dict)  # workload -> proxy version
    issuer_external: bool = False  # cert-manager's issuer: scheme kubernetes.io/tls, no crtPEM
    # --- alerting (sim/alertmanager.py, the rules of sim/prometheus.py) ---
    watchdog_unrouted: bool = False  # Prometheus has no Alertmanager to send alerts to
    firing_critical: bool = False  # KubeSchedulerDown fires (kubeadm binds it to 127.0.0.1)
    prometheus_reload_failed: bool = False  # a rejected config reload after start
    rule_error: bool = False  # a recording rule fails on every evaluation
    operator_rejected: int = 0  # PodMonitors prometheus-operator reports as rejected
    # --- golden signals (sim/metrics.py: inbound responses per workload) ---
    error_shares: dict[str, float] = field(default_factory=dict)  # workload -> 5xx share
    latency_factors: dict[str, float] = field(default_factory=dict)  # workload -> slower by
    no_traffic: bool = False  # request counters stand still (no traffic generator load)
    plaintext_workloads: set[str] = field(default_factory=set)  # inbound without mTLS
    # app ports under the user's own Server, HTTPRoute and AuthorizationPolicies (metrics.py)
    own_route_workloads: set[str] = field(default_factory=set)
    # --- redaction tests: strings planted where a careless reporter would leak them ---
    planted_secrets: list[str] = field(default_factory=list)
