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
LINKERD_CONTROL_PLANE = ("linkerd-identity", "linkerd-destination", "linkerd-proxy-injector",
                         "linkerd-heartbeat")
# Known values the redaction test searches the whole reports/ tree for (must find none).
PLANTED_SECRETS = ("sc-planted-Zq8vN3xK7pLw2", "sc-planted-Hf4tR9mB1cYe6")


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    edit: Edit
    fails: tuple[str, ...] = ()  # check ids that must fail; empty: the suite must pass
    names: str = ""  # text the failure message must contain (the faulty object)
    suite_args: tuple[str, ...] = ()  # extra CLI options the scenario needs


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


CATALOG: tuple[Fault, ...] = (
    Fault("crashloop-details", "details-v1 crashes on start (CrashLoopBackOff, 7 restarts)",
          _all(_pod("details-v1", PodFault.CRASH_LOOP),
               lambda s: s.restart_counts.__setitem__("details-v1", 7)),
          ("pods.healthy[bookinfo]",), "details-v1"),
    Fault("crashloop-destination", "linkerd-destination in CrashLoopBackOff (the original deploy)",
          _pod("linkerd-destination", PodFault.CRASH_LOOP),
          ("pods.healthy[linkerd]", "component.healthy[linkerd-control-plane]"),
          "linkerd-destination"),
    Fault("crashloop-grafana", "Grafana crashes on start (CrashLoopBackOff)",
          _pod("prometheus-grafana", PodFault.CRASH_LOOP),
          ("pods.healthy[monitoring]", "component.healthy[kube-prometheus-stack]"),
          "prometheus-grafana"),
    Fault("not-ready-metrics-api", "linkerd-viz metrics-api Running but not Ready",
          _pod("metrics-api", PodFault.NOT_READY), ("pods.healthy[linkerd-viz]",),
          "metrics-api"),
    Fault("pending-ratings", "ratings-v1 cannot be scheduled (Pending, Unschedulable)",
          _pod("ratings-v1", PodFault.PENDING), ("pods.healthy[bookinfo]",), "ratings-v1"),
    Fault("not-ready-reviews", "reviews-v2 Running but its readiness probe fails",
          _pod("reviews-v2", PodFault.NOT_READY), ("pods.healthy[bookinfo]",), "reviews-v2"),
    Fault("image-pull-productpage", "productpage-v1 image cannot be pulled (ImagePullBackOff)",
          _pod("productpage-v1", PodFault.IMAGE_PULL), ("pods.healthy[bookinfo]",),
          "ImagePullBackOff"),
    Fault("placement-missing", "the seed's single tainted control-plane node, and Linkerd's "
          "control plane rendered without placement values: its pods tolerate no taint (Pending)",
          # the injector is Pending too: bookinfo's pods start without proxies (the webhook
          # fails open, failurePolicy Ignore)
          _all(_set(control_plane_only=True, injector_down=True),
               lambda s: s.unplaced_workloads.update(LINKERD_CONTROL_PLANE)),
          ("pods.healthy[linkerd]", "component.healthy[linkerd-control-plane]"),
          "untolerated taint {node-role.kubernetes.io/control-plane: }"),
    Fault("missing-workload", "the reviews-v3 Deployment does not exist",
          _add("missing_workloads", "reviews-v3"), ("component.healthy[bookinfo]",),
          "reviews-v3"),
    Fault("missing-viz-tap", "linkerd-viz was installed without its tap Deployment",
          _add("missing_workloads", "tap"), ("component.healthy[linkerd-viz]",), "tap"),
    Fault("traffic-generator-down", "the traffic generator has 0 of 1 replicas available",
          lambda s: s.replicas_short.__setitem__("traffic-generator", 1),
          ("component.healthy[traffic-generator]",), "traffic-generator"),
    Fault("replicas-short", "ratings-v1 has 0 of 1 replicas available",
          lambda s: s.replicas_short.__setitem__("ratings-v1", 1),
          ("component.healthy[bookinfo]",), "ratings-v1"),
    Fault("injector-down", "the proxy-injector was down when bookinfo pods were created",
          _set(injector_down=True), ("mesh.proxies[bookinfo]",), "linkerd-proxy"),
    Fault("annotation-missing", "namespace bookinfo lacks linkerd.io/inject: enabled",
          _add("unannotated_namespaces", "bookinfo"), ("mesh.injection[bookinfo]",),
          "linkerd.io/inject"),
    Fault("proxy-not-ready", "reviews-v1's linkerd-proxy is not ready",
          _pod("reviews-v1", PodFault.PROXY_NOT_READY), ("mesh.proxies[bookinfo]",),
          "reviews-v1"),
    Fault("native-sidecars", "Linkerd native sidecars: proxy is a restartable init container",
          _set(native_sidecars=True)),
    Fault("heartbeat-completed", "several linkerd-heartbeat Job pods ended Succeeded",
          _set(heartbeat_jobs=3)),
    Fault("api-slow", "the API server answers every request 0.3 s late",
          _set(api_delay_seconds=0.3)),
    Fault("api-flaky", f"{TRANSIENT_RATE:.0%} of API requests answer 500/503/429 at random",
          _set(api_transient_error_rate=TRANSIENT_RATE)),
    Fault("http-flaky", f"{TRANSIENT_RATE:.0%} of HTTP endpoint requests fail at random",
          _set(http_transient_error_rate=TRANSIENT_RATE)),
    Fault("planted-secrets", "secret values sit in pod env, logs and Grafana's session cookie",
          _set(planted_secrets=list(PLANTED_SECRETS))),
    Fault("productpage-500", "productpage answers 500",
          _set(productpage_status=500), ("endpoint[productpage]",), "500"),
    Fault("productpage-reviews-error", "productpage answers 200 but reviews are unavailable",
          _add("productpage_errors", "reviews"), ("endpoint[productpage]",),
          "Error fetching product reviews"),
    Fault("productpage-wrong-length", "productpage body is 5000 bytes longer than expected",
          _set(productpage_padding=5000), ("endpoint[productpage]",), "length"),
    Fault("grafana-anonymous", "Grafana serves / with 200 to anonymous users",
          _set(grafana_anonymous=True), ("endpoint[grafana-login]",), "200"),
    Fault("grafana-wrong-redirect", "Grafana redirects / to /signup instead of /login",
          _set(grafana_redirect="/signup"), ("endpoint[grafana-login]",), "/signup"),
    Fault("grafana-db-down", "Grafana /api/health reports its database failing",
          _set(grafana_database="failing"), ("endpoint[grafana-health]",), "failing"),
    Fault("prometheus-down", "Prometheus is not running",
          _set(prometheus_down=True),
          ("prometheus.scrape-job[linkerd-proxy]", "prometheus.scrape-job[linkerd-controller]"),
          "503"),
    Fault("scrape-pool-missing", "the linkerd-proxy PodMonitor is not picked up",
          _add("missing_scrape_pools", "linkerd-proxy"),
          ("prometheus.scrape-job[linkerd-proxy]",), "linkerd-proxy"),
    Fault("targets-down", "every linkerd-proxy target fails to scrape",
          _add("targets_down", "linkerd-proxy"), ("prometheus.scrape-job[linkerd-proxy]",),
          "down"),
    Fault("no-proxy-metrics", "proxies expose no request_total series",
          _set(proxy_metrics=False), ("prometheus.query[bookinfo-meshed-requests]",),
          "request_total"),
    Fault("api-500", "the API server answers 500 to everything",
          _set(api_error_status=500), ("api.reachable",), "500"),
    Fault("api-timeout", "the API server answers later than the request timeout",
          _set(api_delay_seconds=3.0), ("api.reachable",), "timed out",
          ("--request-timeout", "1")),
    Fault("api-401", "the kubeconfig's token is rejected",
          _set(api_bad_token=True), ("api.reachable",), "401"),
    Fault("api-403", "the credentials are valid but forbidden",
          _set(api_forbidden=True), ("api.reachable",), "403"),
    Fault("api-refused", "nothing listens at the kubeconfig's server",
          _set(api_refused=True), ("api.reachable",), "refused"),
)

BY_NAME: dict[str, Fault] = {fault.name: fault for fault in CATALOG}


def build_spec(fault_names: list[str]) -> SimSpec:
    """A healthy spec with the named faults applied; unknown names raise KeyError."""
    spec = SimSpec()
    for name in fault_names:
        BY_NAME[name].edit(spec)
    return spec
