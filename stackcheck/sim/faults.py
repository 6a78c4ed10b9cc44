"""The fault catalog: named ways to break the simulated stack, and the check each must fail.

A fault with no `fails` is a must-pass variant: a realistic shape a naive check gets wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stackcheck.sim.spec import PodFault, SimSpec

Edit = Callable[[SimSpec], None]

TRANSIENT_RATE = 0.05
# The control plane's workloads (chart linkerd-control-plane), placed by its values.
LINKERD_CONTROL_PLANE = (
    "linkerd-identity",
    "linkerd-destination",
    "linkerd-proxy-injector",
    "linkerd-heartbeat",
)
# Known values the redaction test searches the whole reports/ tree for (must find none).
PLANTED_SECRETS = ("sc-planted-Zq8vN3xK7pLw2", "sc-planted-Hf4tR9mB1cYe6")


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    edit: Edit
    fails: tuple[str, ...] = ()  # check ids that must fail; empty: the suite must pass
    # text the failure message must contain: it names the object that must fail, so that
    # another object failing does not pass for this one
    must_mention: str = ""
    suite_args: tuple[str, ...] = ()  # extra CLI options the scenario needs
    # check ids that must end as a warning (naming `must_mention`) while the run passes
    warns: tuple[str, ...] = ()


def _evicted_unreplaced(workload: str) -> Edit:
    def edit(spec: SimSpec) -> None:
        spec.evicted_pods[workload] = 1
        spec.unreplaced_evictions.add(workload)

    return edit


def _pod(workload: str, fault: PodFault) -> Edit:
    return lambda spec: spec.pod_faults.__setitem__(workload, fault)


def _set(**fields: object) -> Edit:
    def edit(spec: SimSpec) -> None:
        for key, value in fields.items():
            setattr(spec, key, value)

    return edit


def _add(field_name: str, item: str) -> Edit:
    return lambda spec: getattr(spec, field_name).add(item)


def _all(*edits: Edit) -> Edit:
    def edit(spec: SimSpec) -> None:
        for one in edits:
            one(spec)

    return edit


BOOKINFO_DEPLOYMENTS = (
    "productpage-v1",
    "details-v1",
    "ratings-v1",
    "reviews-v1",
    "reviews-v2",
    "reviews-v3",
)


def _drift(ref: str, path: str, value: object) -> Edit:
    return lambda spec: spec.drifted_fields.setdefault(ref, {}).__setitem__(path, value)


_CONTAINER = "spec.template.spec.containers"
STRAY_PVC: dict[str, object] = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "storage-prometheus-grafana-0", "namespace": "monitoring"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
}
# issue 15: the live cluster patched away from git; each fails its drift check naming the path
DRIFT_FAULTS: tuple[Fault, ...] = (
    Fault(
        "drift-image",
        "details-v1 was patched to image 1.19.1 (git pins 1.20.2)",
        _drift(
            "Deployment/details-v1",
            f"{_CONTAINER}[name=details].image",
            "docker.io/istio/examples-bookinfo-details-v1:1.19.1",
        ),
        ("drift.manifests[bookinfo]",),
        f"Deployment bookinfo/details-v1: {_CONTAINER}[name=details].image",
    ),
    Fault(
        "drift-replicas",
        "the traffic generator was scaled to 3 (git says 1)",
        _drift("Deployment/traffic-generator", "spec.replicas", 3),
        ("drift.manifests[traffic-generator]",),
        "Deployment bookinfo/traffic-generator: spec.replicas: git 1, live 3",
    ),
    Fault(
        "drift-node-selector",
        "ratings-v1's nodeSelector was removed by a patch",
        _drift("Deployment/ratings-v1", "spec.template.spec.nodeSelector", None),
        ("drift.manifests[bookinfo]",),
        "Deployment bookinfo/ratings-v1: spec.template.spec.nodeSelector",
    ),
    Fault(
        "drift-host-port",
        "productpage-v1's hostPort was patched to 30081 (git: 30080)",
        _drift(
            "Deployment/productpage-v1",
            f"{_CONTAINER}[name=productpage].ports[containerPort=9080].hostPort",
            30081,
        ),
        ("drift.manifests[bookinfo]",),
        "[name=productpage].ports[name=http].hostPort: git 30080, live 30081",
    ),
    Fault(
        "pvc-present",
        "a PersistentVolumeClaim exists in monitoring (the values disable "
        "storage: there is no StorageClass)",
        lambda spec: spec.stray_objects.append(STRAY_PVC),
        ("drift.helm[kube-prometheus-stack]",),
        "PersistentVolumeClaim monitoring/storage-prometheus-grafana-0",
    ),
    Fault(
        "grafana-nodeport-changed",
        "Grafana's Service was patched to NodePort 30301",
        _drift("Service/prometheus-grafana", "spec.ports[name=http-web].nodePort", 30301),
        ("drift.helm[kube-prometheus-stack]",),
        "Service monitoring/prometheus-grafana: spec.ports[nodePort=30300]",
    ),
    Fault(
        "drift-chart-image",
        "Grafana was patched to image 11.2.0 (chart 65.8.1 renders grafana 11.3.0)",
        _drift(
            "Deployment/prometheus-grafana",
            f"{_CONTAINER}[name=grafana].image",
            "docker.io/grafana/grafana:11.2.0",
        ),
        ("drift.helm[kube-prometheus-stack]",),
        f"Deployment monitoring/prometheus-grafana: {_CONTAINER}[name=grafana].image",
    ),
    Fault(
        "drift-linkerd-placement",
        "linkerd-destination rendered without the placement values (it runs on a worker)",
        _add("unplaced_workloads", "linkerd-destination"),
        ("drift.helm[linkerd-control-plane]",),
        "Deployment linkerd/linkerd-destination: spec.template.spec.nodeSelector",
    ),
    Fault(
        "drift-viz-placement",
        "linkerd-viz web rendered without the placement values",
        _add("unplaced_workloads", "web"),
        ("drift.helm[linkerd-viz]",),
        "Deployment linkerd-viz/web: spec.template.spec.nodeSelector",
    ),
)

CATALOG: tuple[Fault, ...] = (
    Fault(
        "crashloop-details",
        "details-v1 crashes on start (CrashLoopBackOff, 7 restarts)",
        _all(
            _pod("details-v1", PodFault.CRASH_LOOP),
            lambda s: s.restart_counts.__setitem__("details-v1", 7),
        ),
        # not Ready: no endpoint in its Service, so no requests reach it (sim/metrics.py)
        ("pods.healthy[bookinfo]", "golden.signals[details-v1]"),
        "details-v1",
    ),
    Fault(
        "crashloop-destination",
        "linkerd-destination in CrashLoopBackOff (the original deploy)",
        _pod("linkerd-destination", PodFault.CRASH_LOOP),
        ("pods.healthy[linkerd]", "component.healthy[linkerd-control-plane]"),
        "pod linkerd/linkerd-destination-",
    ),
    Fault(
        "crashloop-grafana",
        "Grafana crashes on start (CrashLoopBackOff)",
        _pod("prometheus-grafana", PodFault.CRASH_LOOP),
        ("pods.healthy[monitoring]", "component.healthy[kube-prometheus-stack]"),
        "pod monitoring/prometheus-grafana-",
    ),
    Fault(
        "not-ready-metrics-api",
        "linkerd-viz metrics-api Running but not Ready",
        _pod("metrics-api", PodFault.NOT_READY),
        ("pods.healthy[linkerd-viz]",),
        "pod linkerd-viz/metrics-api-",
    ),
    Fault(
        "pending-ratings",
        "ratings-v1 cannot be scheduled (Pending, Unschedulable)",
        _pod("ratings-v1", PodFault.PENDING),
        ("pods.healthy[bookinfo]", "golden.signals[ratings-v1]"),
        "ratings-v1",
    ),
    Fault(
        "not-ready-reviews",
        "reviews-v2 Running but its readiness probe fails",
        _pod("reviews-v2", PodFault.NOT_READY),
        ("pods.healthy[bookinfo]", "golden.signals[reviews-v2]"),
        "reviews-v2",
    ),
    Fault(
        "image-pull-productpage",
        "productpage-v1 image cannot be pulled (ImagePullBackOff)",
        _pod("productpage-v1", PodFault.IMAGE_PULL),
        # the pages' callees get no requests either, so every Bookinfo golden check fails;
        # only productpage's are expected here, as must_mention names productpage-v1
        ("pods.healthy[bookinfo]", "golden.signals[productpage-v1]"),
        "productpage-v1",
    ),
    Fault(
        "placement-missing",
        "the seed's single tainted control-plane node, and Linkerd's "
        "control plane rendered without placement values: its pods tolerate no taint (Pending)",
        # the injector is Pending too: bookinfo's pods start without proxies (the webhook
        # fails open, failurePolicy Ignore)
        _all(
            _set(control_plane_only=True, injector_down=True),
            lambda s: s.unplaced_workloads.update(LINKERD_CONTROL_PLANE),
        ),
        ("pods.healthy[linkerd]", "component.healthy[linkerd-control-plane]"),
        "untolerated taint {node-role.kubernetes.io/control-plane: }",
    ),
    Fault(
        "missing-workload",
        "the reviews-v3 Deployment does not exist",
        _add("missing_workloads", "reviews-v3"),
        ("component.healthy[bookinfo]",),
        "Deployment bookinfo/reviews-v3 does not exist",
    ),
    Fault(
        "missing-viz-tap",
        "linkerd-viz was installed without its tap Deployment",
        _add("missing_workloads", "tap"),
        ("component.healthy[linkerd-viz]",),
        "Deployment linkerd-viz/tap does not exist",
    ),
    Fault(
        "traffic-generator-down",
        "the traffic generator has 0 of 1 replicas available",
        lambda s: s.replicas_short.__setitem__("traffic-generator", 1),
        ("component.healthy[traffic-generator]",),
        "Deployment bookinfo/traffic-generator: 0/1 replicas available",
    ),
    Fault(
        "replicas-short",
        "ratings-v1 has 0 of 1 replicas available",
        lambda s: s.replicas_short.__setitem__("ratings-v1", 1),
        ("component.healthy[bookinfo]",),
        "Deployment bookinfo/ratings-v1: 0/1 replicas available",
    ),
    Fault(
        "injector-down",
        "the proxy-injector was down when bookinfo pods were created",
        _set(injector_down=True),
        ("mesh.proxies[bookinfo]",),
        "has no linkerd-proxy container",
    ),
    Fault(
        "annotation-missing",
        "namespace bookinfo lacks linkerd.io/inject: enabled",
        _add("unannotated_namespaces", "bookinfo"),
        ("mesh.injection[bookinfo]", "drift.manifests[bookinfo]"),
        # "namespace bookinfo lacks the annotation ..." / 'Namespace bookinfo: metadata.
        # annotations["linkerd.io/inject"]: git "enabled", live (absent)'
        "linkerd.io/inject",
    ),
    Fault(
        "proxy-not-ready",
        "reviews-v1's linkerd-proxy is not ready",
        _pod("reviews-v1", PodFault.PROXY_NOT_READY),
        ("mesh.proxies[bookinfo]", "golden.signals[reviews-v1]"),  # the pod is not Ready
        "reviews-v1",
    ),
    Fault(
        "native-sidecars",
        "Linkerd native sidecars: proxy is a restartable init container",
        _set(native_sidecars=True),
    ),
    Fault(
        "heartbeat-completed",
        "a linkerd-heartbeat Job pod just ended Succeeded (the "
        "CronJob keeps none, successfulJobsHistoryLimit 0, but removes it only after)",
        _set(heartbeat_jobs=1),
    ),
    Fault(
        "api-slow", "the API server answers every request 0.3 s late", _set(api_delay_seconds=0.3)
    ),
    Fault(
        "api-flaky",
        f"{TRANSIENT_RATE:.0%} of API requests answer 500/503/429 at random",
        _set(api_transient_error_rate=TRANSIENT_RATE),
    ),
    Fault(
        "http-flaky",
        f"{TRANSIENT_RATE:.0%} of HTTP endpoint requests fail at random",
        _set(http_transient_error_rate=TRANSIENT_RATE),
    ),
    Fault(
        "planted-secrets",
        "secret values sit in pod env, logs and Grafana's session cookie",
        _set(planted_secrets=list(PLANTED_SECRETS)),
    ),
    Fault(
        "productpage-500",
        "productpage answers 500",
        _set(productpage_status=500),
        ("endpoint[productpage]",),
        "/productpage -> 500",
    ),
    Fault(
        "productpage-reviews-error",
        "productpage answers 200 but reviews are unavailable",
        _add("productpage_errors", "reviews"),
        ("endpoint[productpage]",),
        "Error fetching product reviews",
    ),
    Fault(
        "productpage-wrong-length",
        "productpage body is 7000 bytes longer than expected",
        _set(productpage_padding=7000),
        ("endpoint[productpage]",),
        "body length is",
    ),
    Fault(
        "grafana-anonymous",
        "Grafana serves / with 200 to anonymous users",
        _set(grafana_anonymous=True),
        ("endpoint[grafana-login]",),
        "status 200 OK, expected 302",
    ),
    Fault(
        "grafana-wrong-redirect",
        "Grafana redirects / to /signup instead of /login",
        _set(grafana_redirect="/signup"),
        ("endpoint[grafana-login]",),
        "Location is '/signup'",
    ),
    Fault(
        "grafana-db-down",
        "Grafana /api/health reports its database failing",
        _set(grafana_database="failing"),
        ("endpoint[grafana-health]",),
        "/api/health -> 503",
    ),
    Fault(
        "prometheus-down",
        "Prometheus is not running",
        _set(prometheus_down=True),
        ("prometheus.scrape-job[linkerd-proxy]", "prometheus.scrape-job[linkerd-controller]"),
        'no endpoints available for service "prometheus-kube-prometheus-prometheus',
    ),
    Fault(
        "scrape-pool-missing",
        "the operator skips the linkerd-proxy PodMonitor (rejected "
        "as invalid configuration: no scrape pool)",
        _add("missing_scrape_pools", "linkerd-proxy"),
        ("prometheus.scrape-job[linkerd-proxy]",),
        "no active target has job='linkerd-proxy'",
    ),
    Fault(
        "podmonitor-unlabelled",
        "the linkerd-proxy PodMonitor lacks release: prometheus, which the chart's default "
        "podMonitorSelector requires (podMonitorSelectorNilUsesHelmValues left true)",
        _all(
            _add("unlabelled_podmonitors", "linkerd-proxy"),
            _set(podmonitor_selector_nil_uses_helm_values=True),
        ),
        ("prometheus.scrape-job[linkerd-proxy]",),
        "no active target has job='linkerd-proxy'",
    ),
    # scraped all the same (prometheus.scrape-job passes), but the live object is not git's
    Fault(
        "podmonitor-unlabelled-selected",
        "the linkerd-proxy PodMonitor lacks release: prometheus; our values select every "
        "PodMonitor (podMonitorSelector: {}), so it is scraped all the same: drift only",
        _add("unlabelled_podmonitors", "linkerd-proxy"),
        ("drift.manifests[kube-prometheus-stack]",),
        "PodMonitor monitoring/linkerd-proxy: metadata.labels.release",
    ),
    Fault(
        "targets-down",
        "every linkerd-proxy target fails to scrape",
        _add("targets_down", "linkerd-proxy"),
        ("prometheus.scrape-job[linkerd-proxy]",),
        "down target of job linkerd-proxy",
    ),
    Fault(
        "no-proxy-metrics",
        "proxies expose no request_total series",
        _set(proxy_metrics=False),
        ("prometheus.query[bookinfo-meshed-requests]",),
        "returned 0 series",
    ),
    *DRIFT_FAULTS,
    Fault(
        "api-500",
        "the API server answers 500 to everything",
        _set(api_error_status=500),
        ("api.reachable",),
        "HTTP 500 INTERNAL SERVER ERROR",
    ),
    Fault(
        "api-timeout",
        "the API server answers later than the request timeout",
        _set(api_delay_seconds=3.0),
        ("api.reachable",),
        "timed out",
        ("--request-timeout", "1"),
    ),
    Fault(
        "api-401",
        "the kubeconfig's token is rejected",
        _set(api_bad_token=True),
        ("api.reachable",),
        "HTTP 401",
    ),
    Fault(
        "api-403",
        "the credentials are valid but forbidden",
        _set(api_forbidden=True),
        ("api.reachable",),
        "HTTP 403",
    ),
    Fault(
        "api-refused",
        "nothing listens at the kubeconfig's server",
        _set(api_refused=True),
        ("api.reachable",),
        "connection refused",
    ),
    # issue 11: real clusters judged right
    Fault(
        "heartbeat-failed",
        "linkerd-heartbeat's last run failed (no egress: each try "
        "exits 1, linkerd2#7588): the mesh is fine, so a warning",
        _add("failed_cronjobs", "linkerd-heartbeat"),
        must_mention="CronJob linkerd/linkerd-heartbeat: run linkerd-heartbeat-",
        warns=("pods.healthy[linkerd]", "component.healthy[linkerd-control-plane]"),
    ),
    Fault(
        "heartbeat-failed-fail-on-warning",
        "linkerd-heartbeat's last run failed, and the "
        "run is asked to fail on warnings (--fail-on warning)",
        _add("failed_cronjobs", "linkerd-heartbeat"),
        ("pods.healthy[linkerd]", "component.healthy[linkerd-control-plane]"),
        "disableHeartBeat: true",
        ("--fail-on", "warning"),
    ),
    Fault(
        "old-restarts",
        "reviews-v1 was OOM-killed 6 times 3 days ago and has run cleanly "
        "since: a warning, not a failure",
        lambda s: s.old_restarts.__setitem__("reviews-v1", 6),
        must_mention="restarted 6 times, the last 2d23h ago",
        warns=("pods.healthy[bookinfo]", "component.healthy[bookinfo]"),
    ),
    Fault(
        "evicted-pod",
        "a reviews-v1 pod the kubelet evicted under memory pressure is still there (Failed, "
        "Evicted) beside the pod its ReplicaSet runs in its place: a warning, the run passes",
        lambda s: s.evicted_pods.__setitem__("reviews-v1", 1),
        must_mention="Failed (Evicted: The node was low on resource: memory.), left behind: "
        "Deployment reviews-v1 has 1 running pod in its place",
        warns=("pods.healthy[bookinfo]", "component.healthy[bookinfo]"),
    ),
    Fault(
        "evicted-unreplaced",
        "reviews-v1's only pod was evicted and nothing replaced it (kube-controller-manager "
        "down): a failure naming the evicted pod",
        _evicted_unreplaced("reviews-v1"),
        ("pods.healthy[bookinfo]", "component.healthy[bookinfo]"),
        "pod bookinfo/reviews-v1-",
    ),
    Fault(
        "scaled-to-zero",
        "ratings-v1 was scaled to 0 replicas live; its manifest says 1",
        lambda s: s.scaled_replicas.__setitem__("ratings-v1", 0),
        ("component.healthy[bookinfo]",),
        "Deployment bookinfo/ratings-v1 is scaled to 0 replicas, git says 1",
    ),
    Fault(
        "host-port-unbound",
        "productpage's hostPort is declared but nothing answers on its "
        "node (a CNI without the portmap plugin): connection refused",
        _set(host_port_unbound=True),
        ("endpoint[productpage]",),
        "(hostIP of pod bookinfo/productpage-v1-",
    ),
    Fault(
        "stuck-rollout",
        "details-v1's rollout is stuck: its new ReplicaSet gets no pods "
        "past the progress deadline (old pods still serve)",
        _add("stuck_rollouts", "details-v1"),
        ("component.healthy[bookinfo]",),
        "Deployment bookinfo/details-v1: rollout incomplete, 0/1 replicas updated "
        "(Progressing=False, ProgressDeadlineExceeded",
    ),
    # --- issue 14: Linkerd identity, alerting health, golden signals -----------------------
    Fault(
        "anchor-expiring",
        "the Linkerd trust anchor expires in 10 days (the issuer, which "
        "cannot outlive it, too): a warning, the run passes",
        _set(trust_anchor_days_left=10.0),
        must_mention="expires in",
        warns=("identity.trust-anchor", "identity.issuer"),
    ),
    Fault(
        "anchor-expired",
        "the Linkerd trust anchor (and so its issuer) expired 3 days ago",
        _set(trust_anchor_days_left=-3.0),
        ("identity.trust-anchor", "identity.issuer"),
        "expired",
    ),
    Fault(
        "anchor-stale-proxies",
        "details-v1's proxies hold the anchor from before a rotation",
        _add("stale_anchor_workloads", "details-v1"),
        ("identity.proxies-trust[bookinfo]",),
        "pod bookinfo/details-v1-",
    ),
    Fault(
        "proxy-version-skew",
        "ratings-v1 runs proxy stable-2.14.9 (control plane 2.14.10): a warning, the run passes",
        lambda s: s.proxy_versions.__setitem__("ratings-v1", "stable-2.14.9"),
        must_mention="pod bookinfo/ratings-v1-",
        warns=("identity.proxy-versions[bookinfo]",),
    ),
    Fault(
        "issuer-external",
        "cert-manager issues Linkerd's issuer (scheme kubernetes.io/tls): "
        "its certificate is in a Secret only, so identity.issuer says it is not checked",
        _set(issuer_external=True),
    ),
    Fault(
        "watchdog-unrouted",
        "Prometheus sends its alerts to no Alertmanager",
        _set(watchdog_unrouted=True),
        ("alerting.watchdog",),
        "Alertmanager holds no Watchdog",
    ),
    Fault(
        "critical-alert-firing",
        "KubeSchedulerDown (critical) fires",
        _set(firing_critical=True),
        ("alerting.firing",),
        "alert KubeSchedulerDown",
    ),
    Fault(
        "prometheus-reload-failed",
        "Prometheus rejected its last config reload",
        _set(prometheus_reload_failed=True),
        ("alerting.config-reload",),
        "prometheus_config_last_reload_successful = 0",
    ),
    Fault(
        "rule-group-error",
        "a recording rule fails on every evaluation",
        _set(rule_error=True),
        ("alerting.rule-groups",),
        "job:up_or_duration:broken",
    ),
    Fault(
        "operator-rejected",
        "prometheus-operator reports a rejected PodMonitor",
        _set(operator_rejected=1),
        ("alerting.rejected-resources",),
        "rejected 1 PodMonitor",
    ),
    Fault(
        "reviews-5xx",
        "reviews-v2 answers 500 to 20% of its requests",
        lambda s: s.error_shares.__setitem__("reviews-v2", 0.2),
        ("golden.signals[reviews-v2]",),
        "deployment reviews-v2: success rate",
    ),
    Fault(
        "ratings-slow",
        "ratings-v1 answers 20 times slower (p95 about 950 ms)",
        lambda s: s.latency_factors.__setitem__("ratings-v1", 20.0),
        ("golden.signals[ratings-v1]",),
        "deployment ratings-v1: p95 latency",
    ),
    Fault(
        "no-traffic",
        "no requests flow (the traffic generator sends nothing)",
        _set(no_traffic=True),
        tuple(f"golden.signals[{d}]" for d in BOOKINFO_DEPLOYMENTS),
        "no inbound requests",
    ),
    Fault(
        "probes-on-own-routes",
        "every Bookinfo app port is under the user's own Server and HTTPRoute: the kubelet's "
        "probes leave the probe route and look like unmeshed clients: a warning (productpage: "
        "plaintext allowed), the run passes",
        lambda s: s.own_route_workloads.update(BOOKINFO_DEPLOYMENTS),
        must_mention="none naming a host",
        warns=tuple(f"golden.signals[{d}]" for d in BOOKINFO_DEPLOYMENTS[1:]),
    ),
    Fault(
        "details-plaintext",
        "details-v1 is called without mTLS",
        _add("plaintext_workloads", "details-v1"),
        ("golden.signals[details-v1]",),
        "deployment details-v1: 100.0% of inbound responses",
    ),
)

BY_NAME: dict[str, Fault] = {fault.name: fault for fault in CATALOG}


def build_spec(fault_names: list[str]) -> SimSpec:
    """A healthy spec with the named faults applied; unknown names raise KeyError."""
    spec = SimSpec()
    for name in fault_names:
        BY_NAME[name].edit(spec)
    return spec
