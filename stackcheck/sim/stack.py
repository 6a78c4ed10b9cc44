"""The simulated stack, wired: object store + controller + API server + HTTP endpoints +
linkerd-proxy metrics + a real Prometheus, reachable through one kubeconfig."""

from __future__ import annotations

import base64
import contextlib
import functools
import random
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until
from stackcheck.sim.alertmanager import AlertmanagerError, AlertmanagerServer
from stackcheck.sim.apiserver import ApiServer
from stackcheck.sim.content import load_content
from stackcheck.sim.controller import is_extra_pod, load_generator, reconcile
from stackcheck.sim.endpoints import Grafana, ProductPage
from stackcheck.sim.identity import identity_objects
from stackcheck.sim.metrics import ProxyMetricsServers, ProxyTarget, mesh_pods, proxy_running
from stackcheck.sim.operator import OperatorMetrics
from stackcheck.sim.process import free_port
from stackcheck.sim.prometheus import (
    ALERT_RESEND_ARGS,
    RULES_FILE,
    PrometheusError,
    PrometheusServer,
    scrape_config,
    with_alerting,
    write_rules,
)
from stackcheck.sim.spec import SimSpec
from stackcheck.sim.store import ObjectStore

PROXY_ADMIN_PORT = 4191
READONLY_RBAC = Path(__file__).resolve().parents[2] / "manifests" / "rbac" / "verifier-readonly.yml"
VERIFIER = ("stackcheck", "stackcheck-verifier")  # the read-only ServiceAccount
FIRST_SCRAPE_SECONDS = 30.0
STOP_SECONDS = 30.0  # the parts stopping at once (a process: terminate, kill, reap)
PROMETHEUS = ("monitoring", "prometheus-kube-prometheus-prometheus", 9090)
ALERTMANAGER = ("monitoring", "prometheus-kube-prometheus-alertmanager", 9093)
PRODUCTPAGE = ("bookinfo", "productpage", 9080)
GRAFANA = ("monitoring", "prometheus-grafana", 80)
WATCHDOG = "Watchdog"  # the chart's always-firing alert (sim/prometheus.py rule_groups)


class SimError(Exception):
    """The sim cannot start; the message says what to do."""


@dataclass(frozen=True)
class SimHandle:
    kubeconfig: Path
    api_url: str
    service_urls: dict[str, str]
    prometheus_url: str | None
    admin_kubeconfig: Path | None = None  # for deploy mode and tests; verification never uses it
    ca_file: Path | None = None  # with TLS: the API server's CA, for raw requests to api_url


Deployer = Callable[[Path], None]  # gets the admin kubeconfig, writes the stack through the API


@dataclass
class SimulatedStack:
    """`start()` brings it up; with a `deployer`, our manifests are not preloaded: the
    deployer applies them through the API while a controller loop reconciles."""

    spec: SimSpec
    workdir: Path
    manifests: list[Path]
    deployer: Deployer | None = None
    tls: bool = True  # https with a CA in the kubeconfigs, as every real cluster serves
    store: ObjectStore = field(default_factory=ObjectStore)
    token: str = field(default_factory=lambda: "sim-admin-" + secrets.token_hex(16))
    verifier_token: str = field(default_factory=lambda: "sim-verifier-" + secrets.token_hex(16))
    _running: list[Any] = field(default_factory=list)
    _lease: socket.socket | None = None
    _ca_pem: bytes | None = None

    def start(self) -> SimHandle:
        self.workdir.mkdir(parents=True, exist_ok=True)
        block = self._lease_pod_ip_block()
        try:
            load_content(self.store, [] if self.deployer else self.manifests, self.spec)
            load_content(self.store, [READONLY_RBAC], self.spec)
        except ValueError as exc:
            raise SimError(str(exc)) from None
        address_nodes(self.store, block)
        for configmap in identity_objects(self.spec):  # what the linkerd chart renders
            self.store.apply(configmap)
        if self.deployer is None:
            self._add_extra_pods()
        reconcile(self.store, self.spec, block)
        api = self._started(ApiServer(self.store, self.spec, self.token))
        api_url = api.start(tls=self.tls)
        self._ca_pem = api.ca_pem
        api.register_token(self.verifier_token, *VERIFIER)
        if self.deployer is not None:
            self._deploy(api_url, block)
            if self._add_extra_pods():
                reconcile(self.store, self.spec, block)
        # productpage reaches pods through the details and reviews Services' endpoints, so it
        # reads only their pods (copying 10,000 load-generator pods per request took ~4 s)
        bookinfo_pods = functools.partial(
            self.store.list_objects, "v1", "Pod", PRODUCTPAGE[0], "app in (details,reviews)"
        )
        productpage_app = ProductPage(self.spec, bookinfo_pods)
        grafana_app = Grafana(self.spec)
        productpage = self._started(productpage_app).start()
        grafana = self._started(grafana_app).start()
        api.register_service_proxy(*PRODUCTPAGE, productpage)
        api.register_service_proxy(*GRAFANA, grafana)
        self._listen_on_nodes(productpage_app, grafana_app)
        served = self._served_pods()
        self._started(ProxyMetricsServers(self.spec)).start(
            _proxy_targets(served), mesh_pods(served)
        )
        alertmanager = self._start_alertmanager()
        api.register_service_proxy(*ALERTMANAGER, alertmanager.url)
        prometheus_url = (
            None if self.spec.prometheus_down else self._start_prometheus(served, alertmanager)
        )
        if prometheus_url is not None:
            api.register_service_proxy(*PROMETHEUS, prometheus_url)
        server = _closed_port_url() if self.spec.api_refused else api_url
        kubeconfig = self.workdir / "kubeconfig"  # verification reads as the read-only SA
        write_kubeconfig(
            kubeconfig, server, self.verifier_token, user="stackcheck-verifier", ca_pem=self._ca_pem
        )
        write_kubeconfig(self.workdir / "kubeconfig-admin", server, self.token, ca_pem=self._ca_pem)
        self.api = api
        return SimHandle(
            kubeconfig,
            server,
            {"productpage": productpage, "grafana": grafana},
            prometheus_url,
            self.workdir / "kubeconfig-admin",
            api.ca_file,
        )

    def _listen_on_nodes(self, productpage: ProductPage, grafana: Grafana) -> None:
        """Grafana's NodePort on every node's address; productpage's hostPort on the nodes
        that run its pods, or on every node (SimSpec.host_port_on_every_node)."""
        nodes = node_addresses(self.store)
        wanted: list[tuple[ProductPage | Grafana, str, int]] = [
            (grafana, address, port)
            for port in _node_ports(self.store, *GRAFANA[:2])
            for address in nodes.values()
        ]
        host_ports = (
            {} if self.spec.host_port_unbound else _host_ports(self.store, *PRODUCTPAGE[:2])
        )
        for port, host_ips in host_ports.items():
            addresses = nodes.values() if self.spec.host_port_on_every_node else host_ips
            wanted += [(productpage, address, port) for address in sorted(set(addresses))]
        for app, address, port in wanted:
            try:
                self._started(app.listener(address, port)).start()
            except OSError as exc:
                raise SimError(f"cannot listen on {address}:{port}: {exc.strerror}") from None

    def _add_extra_pods(self) -> bool:
        """SimSpec.extra_pods: the load-generator Deployment, if asked for."""
        if self.spec.extra_pods <= 0:
            return False
        self.store.apply(load_generator(self.spec.extra_pods))
        return True

    def _deploy(self, api_url: str, block: str) -> None:
        """Run the deployer against the live API with controllers reconciling meanwhile."""
        assert self.deployer is not None
        admin = self.workdir / "kubeconfig-admin"
        write_kubeconfig(admin, api_url, self.token, ca_pem=self._ca_pem)
        loop = _ControllerLoop(self.store, self.spec, block)
        loop.start()
        try:
            self.deployer(admin)
        finally:
            loop.stop()
        reconcile(self.store, self.spec, block)

    def stop(self) -> None:
        """Stop everything at once (each part bounds its own stop: servers join their threads
        with a timeout, processes are killed after STOP_SECONDS); safe to call twice or after
        a failed start. One after the other took ~1 s, mostly the API server's 0.5 s."""
        running, self._running = self._running, []
        stoppers = [
            threading.Thread(target=_stop_quietly, args=(part,), name="sim-stop", daemon=True)
            for part in reversed(running)
        ]
        for stopper in stoppers:
            stopper.start()
        deadline = Deadline.after(STOP_SECONDS)
        for stopper in stoppers:
            stopper.join(timeout=deadline.remaining())
        if self._lease is not None:
            self._lease.close()
            self._lease = None

    def _started(self, component: Any) -> Any:
        self._running.append(component)
        return component

    def _start_alertmanager(self) -> AlertmanagerServer:
        server: AlertmanagerServer = self._started(
            AlertmanagerServer(self.workdir / "alertmanager")
        )
        try:
            server.start()
        except AlertmanagerError as exc:
            raise SimError(str(exc)) from None
        return server

    def _start_prometheus(
        self, pods: list[dict[str, Any]], alertmanager: AlertmanagerServer
    ) -> str:
        try:  # the scrape config reads our kube-prometheus-stack values file
            config = scrape_config(
                self.store.list_objects("monitoring.coreos.com/v1", "PodMonitor"),
                pods,
                self.store.list_objects("v1", "Namespace"),
                self.spec,
            )
        except PrometheusError as exc:
            raise SimError(str(exc)) from None
        workdir, port = self.workdir / "prometheus", free_port()
        write_rules(workdir / RULES_FILE, self.spec)
        operator = self._started(
            OperatorMetrics(
                self.spec, len(self.store.list_objects("monitoring.coreos.com/v1", "PodMonitor"))
            )
        )
        operator.start()
        config = with_alerting(
            config, workdir / RULES_FILE, port, alertmanager.port, self.spec, operator.port
        )
        server = self._started(PrometheusServer(workdir, config, port, ALERT_RESEND_ARGS))
        try:
            url: str = server.start()
        except PrometheusError as exc:
            raise SimError(str(exc)) from None
        _await_first_scrapes(url)
        if not self.spec.watchdog_unrouted:
            _await_watchdog_delivered(alertmanager.url)
        if self.spec.prometheus_reload_failed:
            _reject_a_reload(server)
            _await_reload_failure_scraped(url)
        return url

    def _served_pods(self) -> list[dict[str, Any]]:
        """Pods that get a metrics server and a scrape target: all but the extra ones, so
        neither the sim's listeners nor Prometheus's targets grow with SimSpec.extra_pods."""
        return [p for p in self.store.list_objects("v1", "Pod") if not is_extra_pod(p)]

    def _lease_pod_ip_block(self) -> str:
        """A loopback block 127.<b> no other running sim uses: we hold one of its ports."""
        candidates = random.sample(range(2, 250), 40)
        for b in candidates:
            lease = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                lease.bind((f"127.{b}.255.254", PROXY_ADMIN_PORT))
            except OSError:
                lease.close()
                continue
            self._lease = lease
            return f"127.{b}"
        raise SimError("no free loopback block for pod addresses (too many sims running?)")


def address_nodes(store: ObjectStore, block: str) -> list[str]:
    """Each node its own InternalIP in the sim's loopback block, in name order: 127.<b>.255.n
    (pods take 127.<b>.1-250.*; the block's lease holds 127.<b>.255.254)."""
    addresses = []
    nodes = sorted(store.list_objects("v1", "Node"), key=lambda n: n["metadata"]["name"])
    for index, node in enumerate(nodes, start=1):
        address = f"{block}.255.{index}"
        status = node.get("status") or {}
        others = [a for a in status.get("addresses") or [] if a.get("type") != "InternalIP"]
        store.apply(
            {
                **node,
                "status": {
                    **status,
                    "addresses": [{"type": "InternalIP", "address": address}, *others],
                },
            }
        )
        addresses.append(address)
    return addresses


def node_addresses(store: ObjectStore) -> dict[str, str]:
    """Node name -> InternalIP, in name order."""
    found = {}
    for node in sorted(store.list_objects("v1", "Node"), key=lambda n: n["metadata"]["name"]):
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP":
                found[node["metadata"]["name"]] = str(address["address"])
    return found


def _node_ports(store: ObjectStore, namespace: str, service: str) -> list[int]:
    found = store.get_object("v1", "Service", namespace, service) or {}
    return [
        int(p["nodePort"])
        for p in (found.get("spec") or {}).get("ports") or []
        if p.get("nodePort")
    ]


def _host_ports(store: ObjectStore, namespace: str, app: str) -> dict[int, list[str]]:
    """hostPort -> the hostIPs of the running pods labelled app=<app> that expose it."""
    found: dict[int, list[str]] = {}
    for pod in store.list_objects("v1", "Pod", namespace, label_selector=f"app={app}"):
        host_ip = (pod.get("status") or {}).get("hostIP")
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in container.get("ports") or []:
                if port.get("hostPort"):
                    found.setdefault(int(port["hostPort"]), [])
                    if host_ip:
                        found[int(port["hostPort"])].append(str(host_ip))
    return found


class _ControllerLoop:
    """Reconcile whenever the store changes, like controllers watching the API server."""

    def __init__(self, store: ObjectStore, spec: SimSpec, block: str) -> None:
        self.store, self.spec, self.block = store, spec, block
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-controllers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        revision = int(self.store.resource_version)
        while not self._stop.is_set():
            events = self.store.events_after(revision, timeout=0.1)
            if events:
                # changes made while reconciling (by anyone) are seen on the next pass; the
                # pass after our own writes writes nothing, so the loop settles
                revision = int(self.store.resource_version)
                reconcile(self.store, self.spec, self.block)


def _await(probe: Callable[[], Attempt[None]], what: str, seconds: float) -> None:
    """`probe` holds within `seconds`, polled often (a start waits on it), else SimError."""
    try:
        poll_until(probe, Deadline.after(seconds), what, 0.1)
    except WaitExpired as exc:
        raise SimError(str(exc)) from None


def _stop_quietly(part: Any) -> None:
    with contextlib.suppress(Exception):
        part.stop()


def _proxy_targets(pods: list[dict[str, Any]]) -> list[ProxyTarget]:
    targets = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status", {})
        if not proxy_running(pod) or not status.get("podIP"):
            continue
        if not _has_proxy(pod):
            continue
        owner = _owner(pod)
        for port in [PROXY_ADMIN_PORT, *_admin_http_ports(pod)]:
            targets.append(
                ProxyTarget(
                    namespace=meta["namespace"],
                    pod=meta["name"],
                    workload_kind=owner[0],
                    workload_name=owner[1],
                    pod_ip=status["podIP"],
                    port=port,
                )
            )
    return targets


def _await_first_scrapes(prometheus_url: str, seconds: float = FIRST_SCRAPE_SECONDS) -> None:
    """A running stack has been scraped before anyone looks: wait until every target has
    been scraped twice (a rate, the golden signals' `increase`, needs two samples)."""
    first: dict[str, str] = {}  # scrapeUrl -> its first lastScrape

    def scraped() -> Attempt[None]:
        try:
            answer = requests.get(f"{prometheus_url}/api/v1/targets", timeout=2).json()
        except (requests.RequestException, ValueError) as exc:
            return Attempt(False, str(exc))
        targets = answer.get("data", {}).get("activeTargets") or []
        waiting = []
        for target in targets:
            url, last = target["scrapeUrl"], target.get("lastScrape", "")
            if target.get("health") != "unknown":
                first.setdefault(url, last)
            if first.get(url, last) == last:
                waiting.append(url)
        if not targets or waiting:
            return Attempt(False, f"{len(waiting)} of {len(targets)} targets not scraped twice")
        return Attempt(True)

    _await(scraped, "Prometheus's first scrapes", seconds)


def _await_watchdog_delivered(alertmanager_url: str, seconds: float = FIRST_SCRAPE_SECONDS) -> None:
    """A running stack's Watchdog reached Alertmanager long before anyone looks: wait until
    Alertmanager holds it (Prometheus sends once its notifier has discovered Alertmanager,
    ~5 s after its start, then every resend delay)."""

    def delivered() -> Attempt[None]:
        try:
            alerts = requests.get(f"{alertmanager_url}/api/v2/alerts", timeout=2).json()
        except (requests.RequestException, ValueError) as exc:
            return Attempt(False, str(exc))
        names = [
            (alert.get("labels") or {}).get("alertname")
            for alert in (alerts if isinstance(alerts, list) else [])
            if isinstance(alert, dict)
        ]
        return Attempt(WATCHDOG in names, f"Alertmanager holds {names}")

    _await(delivered, "the Watchdog in Alertmanager", seconds)


def _await_reload_failure_scraped(
    prometheus_url: str, seconds: float = FIRST_SCRAPE_SECONDS
) -> None:
    """A real stack's failed reload has been scraped long before anyone looks: wait until
    Prometheus's own scrape holds it (up to a scrape interval after the reload)."""
    query = "prometheus_config_last_reload_successful == 0"

    def scraped() -> Attempt[None]:
        try:
            answer = requests.get(
                f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=2
            ).json()
        except (requests.RequestException, ValueError) as exc:
            return Attempt(False, str(exc))
        return Attempt(bool(answer.get("data", {}).get("result")), "not scraped yet")

    _await(scraped, "the failed reload scraped", seconds)


def _reject_a_reload(server: PrometheusServer) -> None:
    """SimSpec.prometheus_reload_failed: a config Prometheus refuses is written and reloaded;
    it keeps running the previous one and sets prometheus_config_last_reload_successful 0."""
    good = server.config
    broken = {
        **good,
        "scrape_configs": [
            *good.get("scrape_configs", []),
            {"job_name": "sim-broken", "scrape_interval": "-1s"},
        ],
    }
    try:
        server.reload(broken)
    except PrometheusError:
        return  # rejected, as meant
    raise SimError("Prometheus accepted a config the sim meant it to reject")


def _has_proxy(pod: dict[str, Any]) -> bool:
    spec = pod.get("spec", {})
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    return any(c.get("name") == "linkerd-proxy" for c in containers)


def _admin_http_ports(pod: dict[str, Any]) -> list[int]:
    """Linkerd controllers serve their own metrics on ports named admin-http."""
    return [
        int(port["containerPort"])
        for c in pod.get("spec", {}).get("containers") or []
        for port in c.get("ports") or []
        if port.get("name") == "admin-http"
    ]


def _owner(pod: dict[str, Any]) -> tuple[str, str]:
    labels = pod["metadata"].get("labels") or {}
    for kind in ("deployment", "statefulset", "daemonset", "job", "cronjob"):
        name = labels.get(f"linkerd.io/proxy-{kind}")
        if name:
            return kind, name
    return "pod", pod["metadata"]["name"]


def _closed_port_url() -> str:
    """An address where nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def write_kubeconfig(
    path: Path,
    server: str,
    token: str,
    name: str = "stackcheck-sim",
    user: str = "stackcheck-admin",
    ca_pem: bytes | None = None,
) -> None:
    cluster: dict[str, str] = {"server": server}
    if ca_pem is not None and server.startswith("https:"):
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
