"""A real Prometheus with the scrape config prometheus-operator would generate.

`scrape_config()` turns PodMonitors + pods into one scrape job per PodMonitor endpoint,
named like the operator's scrape pools (`podMonitor/<ns>/<name>/<index>`). Kubernetes
service discovery is replaced by static targets carrying the same `__meta_kubernetes_*`
labels, and the operator's relabelling plus the PodMonitor's own `relabelings` are handed
to Prometheus unchanged: the real relabelling engine produces the target labels (`job`,
`namespace`, `pod`, `container`, `endpoint`, `instance`, and whatever the PodMonitor adds),
and keeps or drops targets exactly as it would on a cluster.

Only the PodMonitors the Prometheus resource selects get a scrape pool, as the operator
does: its `podMonitorSelector` and `podMonitorNamespaceSelector` are rendered from our
kube-prometheus-stack values as the chart renders them (`chart_selection`), see
tests/data/facts/prometheus-operator.yml.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from stackcheck.sim.process import ServedProcess, ServedProcessError, free_port
from stackcheck.sim.spec import SimSpec

PROMETHEUS_BINARY = "/usr/bin/prometheus"
REFUSING_PORT = 1  # nothing listens there (binding it needs root): connection refused
HTTP_TIMEOUT = 5.0
# what the Prometheus resource's selectors are rendered from (stack.yml: kube-prometheus-stack)
STACK_VALUES = (
    Path(__file__).resolve().parents[2]
    / "manifests"
    / "observability"
    / "prometheus-stack-values.yml"
)
PROMETHEUS_RELEASE = "prometheus"  # the Helm release name of kube-prometheus-stack
PROMETHEUS_NAMESPACE = "monitoring"  # where the Prometheus resource lives
# every job's interval (and timeout) and the rules' evaluation interval in the sim: a start
# waits until every target was scraped twice, and a scrape loop only begins when discovery
# hands over its targets (a fixed 5 s in Prometheus 2.42), so a start takes ~5 s + 2 intervals
SCRAPE_INTERVAL = "1s"


class PrometheusError(RuntimeError):
    """Prometheus cannot be started or driven; the message says what to do."""


# ----------------------------------------------------------------------------------------
# PodMonitor -> scrape config (what prometheus-operator + kubernetes_sd_configs produce)
# ----------------------------------------------------------------------------------------

_RELABEL_KEYS = {
    "sourceLabels": "source_labels",
    "targetLabel": "target_label",
    "separator": "separator",
    "regex": "regex",
    "modulus": "modulus",
    "replacement": "replacement",
    "action": "action",
}


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _relabel(rule: dict[str, Any]) -> dict[str, Any]:
    """A PodMonitor RelabelConfig (camelCase) as Prometheus config (snake_case)."""
    out = {_RELABEL_KEYS[key]: value for key, value in rule.items() if key in _RELABEL_KEYS}
    if "action" in out:
        out["action"] = str(out["action"]).lower()
    return out


def _selected(labels: dict[str, str], selector: dict[str, Any]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass(frozen=True)
class MonitorSelection:
    """The Prometheus resource's PodMonitor selectors; None is an unset (nil) field."""

    selector: dict[str, Any] | None
    namespace_selector: dict[str, Any] | None
    namespace: str = PROMETHEUS_NAMESPACE


def chart_selection(
    values: dict[str, Any], release: str = PROMETHEUS_RELEASE, namespace: str = PROMETHEUS_NAMESPACE
) -> MonitorSelection:
    """The selectors kube-prometheus-stack 65.8.1 renders from `values`: an explicit
    `podMonitorSelector` wins; else `release: <release>` while
    `podMonitorSelectorNilUsesHelmValues` is true (the chart's default); else `{}` (all).
    `podMonitorNamespaceSelector` is rendered as given, `{}` (every namespace) when unset."""
    prometheus = values.get("prometheus") or {}
    spec = prometheus.get("prometheusSpec") or {}
    explicit = spec.get("podMonitorSelector")
    if explicit:
        selector: dict[str, Any] = explicit
    elif spec.get("podMonitorSelectorNilUsesHelmValues", True):
        selector = {"matchLabels": {"release": release}}
    else:
        selector = {}
    return MonitorSelection(selector, spec.get("podMonitorNamespaceSelector") or {}, namespace)


def stack_selection(spec: SimSpec, values_file: Path = STACK_VALUES) -> MonitorSelection:
    """The selection our values file gives, with the SimSpec's override of
    `podMonitorSelectorNilUsesHelmValues` (a deploy whose values lost that line)."""
    try:
        values = yaml.safe_load(values_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PrometheusError(
            f"cannot read the kube-prometheus-stack values {values_file}: {exc}"
        ) from None
    if not isinstance(values, dict):
        raise PrometheusError(f"{values_file}: expected a mapping of Helm values")
    override = spec.podmonitor_selector_nil_uses_helm_values
    if override is not None:
        prometheus = dict(values.get("prometheus") or {})
        prometheus["prometheusSpec"] = {
            **(prometheus.get("prometheusSpec") or {}),
            "podMonitorSelectorNilUsesHelmValues": override,
        }
        values = {**values, "prometheus": prometheus}
    return chart_selection(values)


def selected_podmonitors(
    podmonitors: list[dict[str, Any]], namespaces: list[dict[str, Any]], selection: MonitorSelection
) -> list[dict[str, Any]]:
    """The PodMonitors the operator hands to config generation: in a selected namespace
    (nil: the Prometheus resource's own) and matching the selector (nil: none)."""
    if selection.selector is None:
        return []
    wanted: set[str] | None  # None: every namespace (an empty selector)
    if selection.namespace_selector is None:
        wanted = {selection.namespace}
    elif not selection.namespace_selector:
        wanted = None
    else:
        wanted = {
            ns["metadata"]["name"]
            for ns in namespaces
            if _selected(ns["metadata"].get("labels") or {}, selection.namespace_selector)
        }
    return [
        monitor
        for monitor in podmonitors
        if (wanted is None or monitor["metadata"]["namespace"] in wanted)
        and _selected(monitor["metadata"].get("labels") or {}, selection.selector)
    ]


def _monitored_namespaces(monitor: dict[str, Any], existing: set[str]) -> set[str] | None:
    """None: every namespace (`any: true`)."""
    selector = monitor.get("spec", {}).get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    names = selector.get("matchNames") or [monitor["metadata"]["namespace"]]
    return {name for name in names if not existing or name in existing}


def _pod_targets(pod: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """What kubernetes_sd (role: pod) discovers for one pod: one target per container port."""
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    pod_ip = status.get("podIP")
    if not pod_ip:
        return []
    base = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_pod_name": meta["name"],
        "__meta_kubernetes_pod_ip": pod_ip,
        "__meta_kubernetes_pod_uid": meta.get("uid", ""),
        "__meta_kubernetes_pod_node_name": spec.get("nodeName", ""),
        "__meta_kubernetes_pod_host_ip": status.get("hostIP", ""),
        "__meta_kubernetes_pod_phase": status.get("phase", ""),
        "__meta_kubernetes_pod_ready": _ready(status),
    }
    for key, value in (meta.get("labels") or {}).items():
        base[f"__meta_kubernetes_pod_label_{_sanitize(key)}"] = str(value)
        base[f"__meta_kubernetes_pod_labelpresent_{_sanitize(key)}"] = "true"
    for key, value in (meta.get("annotations") or {}).items():
        base[f"__meta_kubernetes_pod_annotation_{_sanitize(key)}"] = str(value)
        base[f"__meta_kubernetes_pod_annotationpresent_{_sanitize(key)}"] = "true"
    owners = meta.get("ownerReferences") or []
    controller = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if controller:
        base["__meta_kubernetes_pod_controller_kind"] = controller.get("kind", "")
        base["__meta_kubernetes_pod_controller_name"] = controller.get("name", "")
    targets: list[tuple[str, dict[str, str]]] = []
    containers = [(c, "false") for c in spec.get("containers") or []]
    containers += [(c, "true") for c in spec.get("initContainers") or []]
    for container, init in containers:
        labels = {
            **base,
            "__meta_kubernetes_pod_container_name": container.get("name", ""),
            "__meta_kubernetes_pod_container_image": container.get("image", ""),
            "__meta_kubernetes_pod_container_init": init,
        }
        ports = container.get("ports") or []
        if not ports:
            if init == "false":  # init containers without ports are not discovered
                targets.append((pod_ip, labels))
            continue
        for port in ports:
            number = int(port.get("containerPort", 0))
            targets.append(
                (
                    f"{pod_ip}:{number}",
                    {
                        **labels,
                        "__meta_kubernetes_pod_container_port_name": port.get("name", ""),
                        "__meta_kubernetes_pod_container_port_number": str(number),
                        "__meta_kubernetes_pod_container_port_protocol": port.get(
                            "protocol", "TCP"
                        ),
                    },
                )
            )
    return targets


def _ready(status: dict[str, Any]) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return "true" if condition.get("status") == "True" else "false"
    return "unknown"


def _endpoint_job(
    monitor: dict[str, Any],
    index: int,
    endpoint: dict[str, Any],
    targets: list[tuple[str, dict[str, str]]],
    spec: SimSpec,
    scrape_interval: str,
) -> dict[str, Any]:
    meta, mspec = monitor["metadata"], monitor.get("spec", {})
    ns, name = meta["namespace"], meta["name"]
    relabel: list[dict[str, Any]] = [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        {
            "action": "drop",
            "source_labels": ["__meta_kubernetes_pod_phase"],
            "regex": "(Failed|Succeeded)",
        },
    ]
    port = endpoint.get("port")
    if port:
        relabel.append(
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": port,
            }
        )
    elif endpoint.get("portNumber") or endpoint.get("targetPort"):
        number = endpoint.get("portNumber") or endpoint.get("targetPort")
        relabel.append(
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                "regex": str(number),
            }
        )
    relabel += [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
    ]
    for label in mspec.get("podTargetLabels") or []:
        relabel.append(
            {
                "source_labels": [f"__meta_kubernetes_pod_label_{_sanitize(label)}"],
                "target_label": _sanitize(label),
                "regex": "(.+)",
                "replacement": "${1}",
            }
        )
    relabel.append({"target_label": "job", "replacement": f"{ns}/{name}"})
    job_label = mspec.get("jobLabel")
    if job_label:
        relabel.append(
            {
                "source_labels": [f"__meta_kubernetes_pod_label_{_sanitize(job_label)}"],
                "target_label": "job",
                "regex": "(.+)",
                "replacement": "${1}",
            }
        )
    if port:
        relabel.append({"target_label": "endpoint", "replacement": port})
    relabel += [_relabel(rule) for rule in endpoint.get("relabelings") or []]

    down = name in spec.targets_down
    static = []
    for address, labels in targets:
        if port and labels.get("__meta_kubernetes_pod_container_port_name") != port:
            continue  # the keep rule above drops it anyway; leave it out of the file
        if down:
            address = f"{labels['__meta_kubernetes_pod_ip']}:{REFUSING_PORT}"
        static.append({"targets": [address], "labels": labels})
    job: dict[str, Any] = {
        "job_name": f"podMonitor/{ns}/{name}/{index}",
        "honor_labels": bool(endpoint.get("honorLabels", False)),
        "honor_timestamps": bool(endpoint.get("honorTimestamps", True)),
        "scrape_interval": scrape_interval,
        "scrape_timeout": scrape_interval,
        "metrics_path": endpoint.get("path") or "/metrics",
        "scheme": endpoint.get("scheme") or "http",
        "static_configs": static,
        "relabel_configs": relabel,
    }
    if endpoint.get("params"):
        job["params"] = endpoint["params"]
    metric_relabel = [_relabel(rule) for rule in endpoint.get("metricRelabelings") or []]
    if metric_relabel:
        job["metric_relabel_configs"] = metric_relabel
    return job


def scrape_config(
    podmonitors: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    namespaces: list[dict[str, Any]],
    spec: SimSpec,
    scrape_interval: str = SCRAPE_INTERVAL,
    selection: MonitorSelection | None = None,
) -> dict[str, Any]:
    """A whole prometheus.yml: one job per endpoint of each selected PodMonitor, static
    targets per pod. `selection` defaults to what our values file renders (`stack_selection`).

    The PodMonitors' own `interval`/`scrapeTimeout` are replaced by `scrape_interval` so the
    sim converges in seconds. PodMonitors named in `spec.missing_scrape_pools` are left out;
    those in `spec.targets_down` keep their targets at an address that refuses connections.
    """
    existing = {ns["metadata"]["name"] for ns in namespaces}
    chosen = selected_podmonitors(
        podmonitors, namespaces, selection if selection is not None else stack_selection(spec)
    )
    jobs: list[dict[str, Any]] = []
    ordered = sorted(chosen, key=lambda m: (m["metadata"]["namespace"], m["metadata"]["name"]))
    for monitor in ordered:
        if monitor["metadata"]["name"] in spec.missing_scrape_pools:
            continue
        mspec = monitor.get("spec", {})
        wanted = _monitored_namespaces(monitor, existing)
        selector = mspec.get("selector") or {}
        targets: list[tuple[str, dict[str, str]]] = []
        for pod in sorted(pods, key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
            pod_ns = pod["metadata"]["namespace"]
            if wanted is not None and pod_ns not in wanted:
                continue
            if existing and pod_ns not in existing:
                continue
            if not _selected(pod["metadata"].get("labels") or {}, selector):
                continue
            targets += _pod_targets(pod)
        for index, endpoint in enumerate(mspec.get("podMetricsEndpoints") or []):
            jobs.append(_endpoint_job(monitor, index, endpoint, targets, spec, scrape_interval))
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
            "external_labels": {
                "prometheus": "monitoring/prometheus-kube-prometheus-prometheus",
                "prometheus_replica": "prometheus-prometheus-kube-prometheus-prometheus-0",
            },
        },
        "scrape_configs": jobs,
    }


# ----------------------------------------------------------------------------------------
# Rules, alerting and self-monitoring, as kube-prometheus-stack 65.8.1 sets them up
# ----------------------------------------------------------------------------------------
# Facts: prometheus-community/helm-charts, tag kube-prometheus-stack-65.8.1,
# charts/kube-prometheus-stack/templates/prometheus/rules-1.14/ general.rules.yaml (Watchdog:
# `vector(1)`, severity none), prometheus.yaml (PrometheusBadConfig), alertmanager.rules.yaml
# (AlertmanagerFailedReload), kubernetes-system-scheduler.yaml (KubeSchedulerDown:
# `absent(up{job="kube-scheduler"} == 1)` for 15m, critical). The job names are the
# ServiceMonitors' services, `<release>-kube-prometheus-{prometheus,alertmanager}`.

PROMETHEUS_JOB = "prometheus-kube-prometheus-prometheus"
ALERTMANAGER_JOB = "prometheus-kube-prometheus-alertmanager"
MONITORING = "monitoring"
RULES_FILE = "rules.yml"
_WATCHDOG_SUMMARY = (
    "An alert that should always be firing to certify that Alertmanager is working properly."
)


def _reload_alert(name: str, metric: str, job: str) -> dict[str, Any]:
    return {
        "alert": name,
        "for": "10m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": f"Failed {job} configuration reload."},
        "expr": f'max_over_time({metric}{{job="{job}",namespace="{MONITORING}"}}[5m]) == 0',
    }


def rule_groups(spec: SimSpec) -> dict[str, Any]:
    """The rule file: the chart's rules the checks read, plus what `spec` breaks.

    KubeSchedulerDown is loaded only for `spec.firing_critical`, with the chart's `for: 15m`
    shortened to 0s: the sim has no kube-scheduler to scrape, and a run does not last 15 min.
    """
    groups: list[dict[str, Any]] = [
        {
            "name": "general.rules",
            "rules": [
                {
                    "alert": "Watchdog",
                    "expr": "vector(1)",
                    "labels": {"severity": "none"},
                    "annotations": {"summary": _WATCHDOG_SUMMARY},
                }
            ],
        },
        {
            "name": "prometheus",
            "rules": [
                _reload_alert(
                    "PrometheusBadConfig",
                    "prometheus_config_last_reload_successful",
                    PROMETHEUS_JOB,
                )
            ],
        },
        {
            "name": "alertmanager.rules",
            "rules": [
                _reload_alert(
                    "AlertmanagerFailedReload",
                    "alertmanager_config_last_reload_successful",
                    ALERTMANAGER_JOB,
                )
            ],
        },
    ]
    if spec.firing_critical:
        groups.append(
            {
                "name": "kubernetes-system-scheduler",
                "rules": [
                    {
                        "alert": "KubeSchedulerDown",
                        "expr": 'absent(up{job="kube-scheduler"} == 1)',
                        "for": "0s",
                        "labels": {"severity": "critical"},
                        "annotations": {
                            "summary": "Target disappeared from Prometheus target discovery."
                        },
                    }
                ],
            }
        )
    if spec.rule_error:
        # renaming two series that differ only by name makes duplicates: evaluation fails
        # ("vector contains metrics with the same labelset after applying rule labels")
        groups.append(
            {
                "name": "sim.broken.rules",
                "rules": [
                    {
                        "record": "job:up_or_duration:broken",
                        "expr": '{__name__=~"up|scrape_duration_seconds"}',
                    }
                ],
            }
        )
    return {"groups": groups}


OPERATOR_JOB = "prometheus-kube-prometheus-operator"


def with_alerting(
    config: dict[str, Any],
    rules_path: Path,
    prometheus_port: int,
    alertmanager_port: int | None,
    spec: SimSpec,
    operator_port: int | None = None,
) -> dict[str, Any]:
    """`config` plus the rule file, Alertmanager as the alerting target (unless
    `spec.watchdog_unrouted` or there is none) and the self-monitoring scrape jobs
    (Prometheus, Alertmanager, prometheus-operator)."""
    out = dict(config)
    out["rule_files"] = [str(rules_path)]
    if alertmanager_port is not None and not spec.watchdog_unrouted:
        out["alerting"] = {
            "alertmanagers": [
                {
                    "api_version": "v2",
                    "path_prefix": "/",
                    "static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}],
                }
            ]
        }
    jobs = [
        _self_job(
            PROMETHEUS_JOB,
            prometheus_port,
            "prometheus",
            "prometheus-prometheus-kube-prometheus-prometheus-0",
            "http-web",
        )
    ]
    if alertmanager_port is not None:
        jobs.append(
            _self_job(
                ALERTMANAGER_JOB,
                alertmanager_port,
                "alertmanager",
                "alertmanager-prometheus-kube-prometheus-alertmanager-0",
                "http-web",
            )
        )
    if operator_port is not None:
        jobs.append(
            _self_job(
                OPERATOR_JOB,
                operator_port,
                "kube-prometheus-stack",
                "prometheus-kube-prometheus-operator-0",
                "http",
            )
        )
    out["scrape_configs"] = [*config.get("scrape_configs", []), *jobs]
    return out


def _self_job(service: str, port: int, container: str, pod: str, endpoint: str) -> dict[str, Any]:
    """What the chart's ServiceMonitor for `service` yields (target labels included)."""
    return {
        "job_name": f"serviceMonitor/{MONITORING}/{service}/0",
        "static_configs": [
            {
                "targets": [f"127.0.0.1:{port}"],
                "labels": {
                    "job": service,
                    "namespace": MONITORING,
                    "service": service,
                    "pod": pod,
                    "container": container,
                    "endpoint": endpoint,
                },
            }
        ],
    }


# Prometheus sends a firing alert again only after this delay (default 1m); its first send
# can come before the notifier has discovered Alertmanager (discovery updates every 5 s), so
# the sim resends at its evaluation pace, as a real stack does within a minute.
ALERT_RESEND_ARGS = (f"--rules.alert.resend-delay={SCRAPE_INTERVAL}",)


def write_rules(path: Path, spec: SimSpec) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(rule_groups(spec), sort_keys=False), encoding="utf-8")


# ----------------------------------------------------------------------------------------
# The Prometheus process
# ----------------------------------------------------------------------------------------


def find_prometheus() -> str:
    """The Prometheus binary's path; PrometheusError (with the fix) when there is none."""
    if Path(PROMETHEUS_BINARY).is_file():
        return PROMETHEUS_BINARY
    found = shutil.which("prometheus")
    if found:
        return found
    raise PrometheusError(
        "the sim needs a Prometheus binary and none was found at "
        f"{PROMETHEUS_BINARY} or on PATH; install it: "
        "apt-get install -y prometheus"
    )


class PrometheusServer:
    """`/usr/bin/prometheus` on a free 127.0.0.1 port with a generated config.

    `start() -> url` waits for `/-/ready`; `reload(config)` applies a new config;
    `stop()` never leaves the process behind (stackcheck/sim/process.py). `start_seconds` is
    how long the process took to become ready.
    """

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.port = port  # None: a free one at start
        self.extra_args = extra_args
        self.url = ""
        self._served: ServedProcess | None = None

    @property
    def config_file(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def log_file(self) -> Path:
        return self.workdir / "prometheus.log"

    @property
    def pid(self) -> int | None:
        return self._served.pid if self._served is not None else None

    @property
    def start_seconds(self) -> float | None:
        return self._served.start_seconds if self._served is not None else None

    def start(self) -> str:
        if self._served is not None and self._served.running:
            return self.url
        binary = find_prometheus()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write(self.config)
        served = self._served = ServedProcess("Prometheus", self.log_file, self.port or free_port())
        self.url = served.url
        try:
            return served.start(
                [
                    binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{served.port}",
                    "--web.enable-lifecycle",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=info",
                    *self.extra_args,
                ],
                cwd=self.workdir,
            )
        except ServedProcessError as exc:
            raise PrometheusError(str(exc)) from None

    def reload(self, config: dict[str, Any]) -> None:
        """Write `config` and make Prometheus apply it (raises when Prometheus rejects it)."""
        if self._served is None or not self._served.running:
            raise PrometheusError("Prometheus is not running")
        self.config = config
        self._write(config)
        try:
            answer = requests.post(f"{self.url}/-/reload", timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise PrometheusError(f"reload failed: {exc}") from None
        with answer:
            if answer.status_code != 200:
                raise PrometheusError(f"reload failed: {answer.status_code} {answer.text.strip()}")

    def stop(self) -> None:
        if self._served is not None:
            self._served.stop()

    def _write(self, config: dict[str, Any]) -> None:
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
