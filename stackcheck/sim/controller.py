"""The sim's kubelet, controller-manager and Linkerd proxy-injector, in one pass.

`reconcile()` turns the workloads in the store into what the real controllers would have
produced: ReplicaSets, Jobs and pods (named like the real ones), pod status as the kubelet
reports it, workload status as the controllers write it, Events and container logs. The
SimSpec's cluster fields force pod faults, missing replicas and injector outages.

Everything is derived from names and the node's creation time, never from the clock or
randomness, so a second `reconcile()` changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from stackcheck.sim import scheduler
from stackcheck.sim.spec import PodFault, SimSpec

Obj = dict[str, Any]

LINKERD_VERSION = "stable-2.14.10"
PROXY_IMAGE = f"cr.l5d.io/linkerd/proxy:{LINKERD_VERSION}"
PROXY_INIT_IMAGE = "cr.l5d.io/linkerd/proxy-init:v2.2.3"
PROXY = "linkerd-proxy"
INJECT = "linkerd.io/inject"
# the sim's trust anchor is fictitious; its digest only has to look like the real annotation
TRUST_ROOTS = ("linkerd", "linkerd-identity-trust-roots", "ca-bundle.crt")
ANCHORS_ENV = "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated names
STORE_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")
DEFAULT_RESTARTS = 5
FALLBACK_NOW = datetime(2024, 11, 20, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CRASH_LAST_EXIT = timedelta(minutes=3)
UPTIME = timedelta(days=3)  # how long the simulated cluster has been up when the sim starts
# the kubelet's status message for a pod evicted under memory pressure, from its start
# (tests/data/facts/workload-status.yml pod-evicted); the real one may say more after it
EVICTION = "The node was low on resource: memory. "
ENDED_PHASES = ("Succeeded", "Failed")
CONTROLLER_LAG = timedelta(seconds=1)  # a controller's object follows its owner's this soon
# what was applied when the cluster came up, dated then (before the objects made from it);
# controller-made kinds carry their own times, nodes are the cluster itself
UNDATED_KINDS = frozenset({"Node", "Pod", "Event", "ReplicaSet", "Job", "Lease"})


class Store(Protocol):
    logs: dict[tuple[str, str, str], str]

    def apply(self, obj: Obj) -> Obj: ...

    def get_object(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> Obj | None: ...

    def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[Obj]: ...

    def remove(self, api_version: str, kind: str, namespace: str | None, name: str) -> None: ...


# ----------------------------------------------------------------------------------------
# Small deterministic helpers
# ----------------------------------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def name_suffix(*seed: str, length: int = 5) -> str:
    """A stable random-looking suffix in Kubernetes' generated-name alphabet."""
    number = int(_digest(*seed), 16)
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(NAME_ALPHABET))
        chars.append(NAME_ALPHABET[index])
    return "".join(chars)


def template_hash(template: Obj) -> str:
    """pod-template-hash: stable for one template, 9-10 chars like the real one."""
    text = json.dumps(template, sort_keys=True)
    return name_suffix(text, length=9 + int(_digest(text)[0], 16) % 2)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC).replace(microsecond=0)


def _strip(obj: Obj) -> Obj:
    """The object without what the store fills in, for change detection."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in STORE_FIELDS}
    return {**obj, "metadata": meta}


def _put(store: Store, obj: Obj) -> Obj:
    """Apply unless the stored copy already says the same: keeps reconcile idempotent."""
    meta = obj["metadata"]
    existing = store.get_object(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
    if existing is not None and "status" not in obj and "status" in existing:
        obj = {**obj, "status": existing["status"]}  # a spec write keeps the status
    if existing is not None and _strip(existing) == _strip(obj):
        return existing
    return store.apply(obj)


def _owner_ref(obj: Obj) -> Obj:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"].get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _condition(kind: str, status: bool, when: datetime, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": _ts(when),
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


# ----------------------------------------------------------------------------------------
# The plan: which pods exist, who owns them, and what is wrong with them
# ----------------------------------------------------------------------------------------


@dataclass
class PodPlan:
    namespace: str
    name: str
    kind: str  # the top-level workload kind: Deployment, StatefulSet, DaemonSet, CronJob, Job
    workload: str  # the top-level workload name: the key of SimSpec's per-workload fields
    owner: Obj  # ownerReference of the direct owner
    template: Obj
    labels: dict[str, str]
    started: datetime
    completed: bool = False  # a Job pod that ran to completion
    failed: bool = False  # a Job pod whose container exited 1 (restartPolicy Never)
    evicted: bool = False  # ended by the kubelet's node-pressure eviction (SimSpec.evicted_pods)
    fault: PodFault | None = None
    node: Obj | None = None  # where it runs; None: Pending, no node takes it
    unschedulable: str = ""  # the scheduler's message when no node takes it

    @property
    def node_name(self) -> str:
        return str(self.node["metadata"]["name"]) if self.node else ""

    @property
    def node_ip(self) -> str:
        return node_address(self.node) if self.node else ""


@dataclass
class Context:
    store: Store
    spec: SimSpec
    block: str
    now: datetime  # when the sim started: nothing happened after it
    nodes: list[Obj]
    plans: list[PodPlan] = field(default_factory=list)

    @property
    def anchor(self) -> datetime:
        """When the cluster came up: pods started a few minutes later."""
        return self.now - UPTIME

    def plan(self, plan: PodPlan) -> None:
        """Record a pod and schedule it: a DaemonSet's pod comes with its node; any other
        goes where its nodeSelector and tolerations let it, or stays Pending."""
        ended = plan.completed or plan.failed or plan.evicted
        plan.fault = None if ended else self.spec.pod_faults.get(plan.workload)
        spec = plan.template.get("spec") or {}
        if plan.node is None:
            plan.node = scheduler.choose(spec, self.nodes, f"{plan.namespace}/{plan.name}")
        if plan.fault is PodFault.PENDING:
            plan.node = None  # the fault: the nodes that would take it lack CPU
        if plan.node is None:
            # a pod never scheduled never ran
            plan.completed = plan.failed = plan.evicted = False
            plan.fault = PodFault.PENDING
            plan.unschedulable = scheduler.unschedulable_message(spec, self.nodes)
        self.plans.append(plan)


def node_address(node: Obj) -> str:
    """A node's InternalIP (what pods' status.hostIP shows)."""
    for address in node.get("status", {}).get("addresses", []):
        if address.get("type") == "InternalIP":
            ip: str = address["address"]
            return ip
    return "127.0.0.1"


def _nodes(store: Store) -> list[Obj]:
    nodes = store.list_objects("v1", "Node")
    return sorted(nodes, key=lambda n: n["metadata"]["name"])


def _now(nodes: list[Obj]) -> datetime:
    """When the sim started (the node's creation): every generated time is before it."""
    for node in nodes:
        created = node["metadata"].get("creationTimestamp")
        if created:
            return _parse_ts(created)
    return FALLBACK_NOW


def _start_offset(namespace: str, name: str) -> timedelta:
    """Pods came up within a few minutes of the cluster, in a stable order."""
    return timedelta(seconds=30 + int(_digest(namespace, name)[:4], 16) % 240)


# ----------------------------------------------------------------------------------------
# Workload controllers: Deployment -> ReplicaSet -> pods, StatefulSet, DaemonSet, CronJob
# ----------------------------------------------------------------------------------------


def _scaled(ctx: Context, workload: Obj) -> Obj:
    """SimSpec.scaled_replicas: `kubectl scale` after the deploy (the live spec.replicas
    moves away from git; the API server bumps metadata.generation)."""
    replicas = ctx.spec.scaled_replicas.get(workload["metadata"]["name"])
    if replicas is None or workload["spec"].get("replicas") == replicas:
        return workload
    return _put(ctx.store, {**workload, "spec": {**workload["spec"], "replicas": replicas}})


def _desired(ctx: Context, workload: Obj) -> int:
    replicas = int(workload.get("spec", {}).get("replicas", 1))
    short = ctx.spec.replicas_short.get(workload["metadata"]["name"], 0)
    return max(0, replicas - short)


def _plan_deployment(ctx: Context, deploy: Obj) -> Obj:
    meta, template = deploy["metadata"], deploy["spec"]["template"]
    ns, name = meta["namespace"], meta["name"]
    pth = template_hash(template)
    rs_name = f"{name}-{pth}"
    labels = {**(template.get("metadata", {}).get("labels") or {}), "pod-template-hash": pth}
    rs = _put(ctx.store, _replicaset(deploy, rs_name, labels, ctx.anchor))
    taken: set[str] = set()
    replicas = 0 if name in ctx.spec.unreplaced_evictions else _desired(ctx, deploy)
    seeds: list[tuple[str, ...]] = [(str(i),) for i in range(replicas)]
    seeds += [("evicted", str(i)) for i in range(ctx.spec.evicted_pods.get(name, 0))]
    for seed in seeds:
        pod_name = f"{rs_name}-{name_suffix(ns, rs_name, *seed)}"
        salt = 0
        while pod_name in taken:  # a generated name taken: the real controller draws again
            salt += 1
            pod_name = f"{rs_name}-{name_suffix(ns, rs_name, *seed, str(salt))}"
        taken.add(pod_name)
        ctx.plan(
            PodPlan(
                ns,
                pod_name,
                "Deployment",
                name,
                _owner_ref(rs),
                template,
                labels,
                ctx.anchor + _start_offset(ns, pod_name),
                evicted=seed[0] == "evicted",
            )
        )
    return rs


def _replicaset(deploy: Obj, rs_name: str, labels: dict[str, str], anchor: datetime) -> Obj:
    meta, spec = deploy["metadata"], deploy["spec"]
    template = {
        **spec["template"],
        "metadata": {**spec["template"].get("metadata", {}), "labels": labels},
    }
    selector = {
        "matchLabels": {
            **spec["selector"].get("matchLabels", {}),
            "pod-template-hash": labels["pod-template-hash"],
        }
    }
    annotations = {
        "deployment.kubernetes.io/desired-replicas": str(spec.get("replicas", 1)),
        "deployment.kubernetes.io/max-replicas": str(int(spec.get("replicas", 1)) + 1),
        "deployment.kubernetes.io/revision": "1",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": meta["namespace"],
            "labels": labels,
            "annotations": annotations,
            "creationTimestamp": _ts(anchor + CONTROLLER_LAG),
            "ownerReferences": [_owner_ref(deploy)],
        },
        "spec": {
            "replicas": int(spec.get("replicas", 1)),
            "selector": selector,
            "template": template,
        },
    }


def _plan_statefulset(ctx: Context, sts: Obj) -> None:
    meta, template = sts["metadata"], sts["spec"]["template"]
    ns, name = meta["namespace"], meta["name"]
    revision = f"{name}-{template_hash(template)}"
    for ordinal in range(_desired(ctx, sts)):
        pod_name = f"{name}-{ordinal}"
        labels = {
            **(template.get("metadata", {}).get("labels") or {}),
            "apps.kubernetes.io/pod-index": str(ordinal),
            "controller-revision-hash": revision,
            "statefulset.kubernetes.io/pod-name": pod_name,
        }
        ctx.plan(
            PodPlan(
                ns,
                pod_name,
                "StatefulSet",
                name,
                _owner_ref(sts),
                template,
                labels,
                ctx.anchor + _start_offset(ns, pod_name),
            )
        )


def _plan_daemonset(ctx: Context, ds: Obj) -> int:
    """One pod per node the template's nodeSelector and tolerations allow; the count."""
    meta, template = ds["metadata"], ds["spec"]["template"]
    ns, name = meta["namespace"], meta["name"]
    revision = name_suffix(json.dumps(template, sort_keys=True), length=10)
    short = ctx.spec.replicas_short.get(name, 0)
    nodes = scheduler.eligible(template.get("spec") or {}, ctx.nodes)
    for node in nodes[: max(0, len(nodes) - short)]:
        pod_name = f"{name}-{name_suffix(ns, name, node['metadata']['name'])}"
        labels = {
            **(template.get("metadata", {}).get("labels") or {}),
            "controller-revision-hash": revision,
            "pod-template-generation": "1",
        }
        ctx.plan(
            PodPlan(
                ns,
                pod_name,
                "DaemonSet",
                name,
                _owner_ref(ds),
                template,
                labels,
                ctx.anchor + _start_offset(ns, pod_name),
                node=node,
            )
        )
    return len(nodes)


def _schedule_times(ctx: Context, cronjob: Obj) -> list[datetime]:
    """The last `heartbeat_jobs` daily runs before now, oldest first."""
    minute, hour = [*cronjob["spec"].get("schedule", "0 0 * * *").split(), "0", "0"][:2]
    try:
        daily = ctx.now.replace(hour=int(hour), minute=int(minute), second=0)
    except ValueError:  # not a plain daily schedule: any stable time does
        daily = ctx.now.replace(second=0)
    latest = daily if daily < ctx.now else daily - DAY
    return [latest - DAY * k for k in reversed(range(ctx.spec.heartbeat_jobs))]


def _plan_cronjob(ctx: Context, cronjob: Obj) -> list[Obj]:
    name = cronjob["metadata"]["name"]
    jobs = []
    for scheduled in _schedule_times(ctx, cronjob):
        job_name = f"{name}-{int(scheduled.timestamp()) // 60}"
        job = _put(ctx.store, _job(cronjob, job_name, scheduled))
        _plan_job_pod(ctx, job, "CronJob", name, scheduled + timedelta(seconds=1))
        jobs.append(job)
    if name in ctx.spec.failed_cronjobs:
        scheduled = _latest_run(ctx, cronjob)
        job_name = f"{name}-{int(scheduled.timestamp()) // 60}"
        job = _put(ctx.store, _job(cronjob, job_name, scheduled))
        _plan_failed_run(ctx, job, name, scheduled + timedelta(seconds=1))
        jobs.append(job)
    return jobs


def _latest_run(ctx: Context, cronjob: Obj) -> datetime:
    """The last daily run before now (the one a failed run leaves behind)."""
    minute, hour = [*cronjob["spec"].get("schedule", "0 0 * * *").split(), "0", "0"][:2]
    try:
        daily = ctx.now.replace(hour=int(hour), minute=int(minute), second=0)
    except ValueError:
        daily = ctx.now.replace(second=0)
    return daily if daily < ctx.now else daily - DAY


def _plan_failed_run(ctx: Context, job: Obj, workload: str, started: datetime) -> None:
    """A run whose container exits 1 each try: restartPolicy Never makes each retry a new
    pod, backoffLimit + 1 of them, 10 s, 20 s, 40 s... apart (the Job controller's back-off)."""
    meta, template = job["metadata"], job["spec"]["template"]
    ns, name = meta["namespace"], meta["name"]
    labels = dict(template.get("metadata", {}).get("labels") or {})
    delay = timedelta(0)
    for attempt in range(int(job["spec"].get("backoffLimit", 6)) + 1):
        pod_name = f"{name}-{name_suffix(ns, name, str(attempt))}"
        ctx.plan(
            PodPlan(
                ns,
                pod_name,
                "CronJob",
                workload,
                _owner_ref(job),
                template,
                labels,
                started + delay,
                failed=True,
            )
        )
        delay = delay * 2 + timedelta(seconds=10 + 5 * attempt)


def _job(cronjob: Obj, job_name: str, scheduled: datetime) -> Obj:
    meta = cronjob["metadata"]
    job_template = cronjob["spec"]["jobTemplate"]
    uid_seed = _digest(meta["namespace"], job_name)
    controller_uid = (
        f"{uid_seed[:8]}-{uid_seed[8:12]}-{uid_seed[12:16]}-{uid_seed[16:20]}-{uid_seed[20:32]}"
    )
    job_labels = {
        "batch.kubernetes.io/controller-uid": controller_uid,
        "batch.kubernetes.io/job-name": job_name,
        "controller-uid": controller_uid,
        "job-name": job_name,
    }
    template = job_template["spec"]["template"]
    template = {
        **template,
        "metadata": {
            **template.get("metadata", {}),
            "labels": {**(template.get("metadata", {}).get("labels") or {}), **job_labels},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": meta["namespace"],
            "labels": dict(job_template.get("metadata", {}).get("labels") or {}),
            "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": _ts(scheduled)},
            "creationTimestamp": _ts(scheduled),
            "ownerReferences": [_owner_ref(cronjob)],
        },
        "spec": {
            **job_template["spec"],
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "completions": 1,
            "parallelism": 1,
            "suspend": False,
            "manualSelector": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": controller_uid}},
            "template": template,
        },
    }


def _plan_job_pod(ctx: Context, job: Obj, kind: str, workload: str, started: datetime) -> None:
    meta, template = job["metadata"], job["spec"]["template"]
    ns, name = meta["namespace"], meta["name"]
    pod_name = f"{name}-{name_suffix(ns, name)}"
    labels = dict(template.get("metadata", {}).get("labels") or {})
    ctx.plan(
        PodPlan(
            ns, pod_name, kind, workload, _owner_ref(job), template, labels, started, completed=True
        )
    )


# ----------------------------------------------------------------------------------------
# Linkerd proxy-injector
# ----------------------------------------------------------------------------------------


def _injected_by(ctx: Context, plan: PodPlan) -> str | None:
    """Who put a proxy in this pod (the created-by annotation), or None: no proxy.

    The control plane's own pods get theirs from the Helm chart (the injector webhook skips
    that namespace); every other pod gets one from the injector if its namespace or template
    asks for it and the injector was up. Linkerd's extensions were installed while it was.
    """
    namespace = ctx.store.get_object("v1", "Namespace", None, plan.namespace) or {}
    ns_meta = namespace.get("metadata", {})
    ns_labels = ns_meta.get("labels") or {}
    wanted = (plan.template.get("metadata", {}).get("annotations") or {}).get(INJECT)
    if wanted == "disabled":
        return None
    if ns_labels.get("linkerd.io/is-control-plane") == "true":
        return None if plan.completed or plan.failed else f"linkerd/helm {LINKERD_VERSION}"
    if (wanted or (ns_meta.get("annotations") or {}).get(INJECT)) != "enabled":
        return None
    if ctx.spec.injector_down and "linkerd.io/extension" not in ns_labels:
        return None
    return f"linkerd/proxy-injector {LINKERD_VERSION}"


def _inbound_ports(containers: list[Obj]) -> str:
    ports = sorted({int(p["containerPort"]) for c in containers for p in c.get("ports") or []})
    return ",".join(str(p) for p in ports)


def _trust_anchors(ctx: Context, plan: PodPlan) -> str:
    """The bundle the injector wrote into this pod: ConfigMap linkerd-identity-trust-roots's,
    or, for SimSpec.stale_anchor_workloads, the one it held before the anchor was rotated."""
    if plan.workload in ctx.spec.stale_anchor_workloads and ctx.spec.previous_trust_anchor_pem:
        return ctx.spec.previous_trust_anchor_pem
    namespace, name, key = TRUST_ROOTS
    configmap = ctx.store.get_object("v1", "ConfigMap", namespace, name) or {}
    return str((configmap.get("data") or {}).get(key, ""))


def _anchors_env(anchors: str | None) -> Obj:
    """charts/partials/templates/_proxy.tpl (stable-2.14.10): injected proxies get the PEM
    as a literal value; control-plane pods (`anchors` None) read the ConfigMap's key."""
    if anchors is None:
        _, name, key = TRUST_ROOTS
        return {"name": ANCHORS_ENV, "valueFrom": {"configMapKeyRef": {"name": name, "key": key}}}
    return {"name": ANCHORS_ENV, "value": anchors.strip() + "\n"}


def _proxy_env(app_containers: list[Obj], anchors: str | None = None) -> list[Obj]:
    def field_ref(name: str, path: str) -> Obj:
        return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}

    plain = [
        ("LINKERD2_PROXY_LOG", "warn,linkerd=info,trust_dns=error"),
        ("LINKERD2_PROXY_LOG_FORMAT", "plain"),
        (
            "LINKERD2_PROXY_DESTINATION_SVC_ADDR",
            "linkerd-dst-headless.linkerd.svc.cluster.local.:8086",
        ),
        ("LINKERD2_PROXY_POLICY_SVC_ADDR", "linkerd-policy.linkerd.svc.cluster.local.:8090"),
        ("LINKERD2_PROXY_POLICY_WORKLOAD", "$(_pod_ns):$(_pod_name)"),
        ("LINKERD2_PROXY_INBOUND_DEFAULT_POLICY", "all-unauthenticated"),
        ("LINKERD2_PROXY_CONTROL_LISTEN_ADDR", "0.0.0.0:4190"),
        ("LINKERD2_PROXY_ADMIN_LISTEN_ADDR", "0.0.0.0:4191"),
        ("LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR", "127.0.0.1:4140"),
        ("LINKERD2_PROXY_INBOUND_LISTEN_ADDR", "0.0.0.0:4143"),
        ("LINKERD2_PROXY_INBOUND_PORTS", _inbound_ports(app_containers)),
        ("LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES", "svc.cluster.local."),
        ("LINKERD2_PROXY_IDENTITY_DIR", "/var/run/linkerd/identity/end-entity"),
        ("LINKERD2_PROXY_IDENTITY_TOKEN_FILE", "/var/run/secrets/tokens/linkerd-identity-token"),
        (
            "LINKERD2_PROXY_IDENTITY_SVC_ADDR",
            "linkerd-identity-headless.linkerd.svc.cluster.local.:8080",
        ),
        (
            "LINKERD2_PROXY_IDENTITY_LOCAL_NAME",
            "$(_pod_sa).$(_pod_ns).serviceaccount.identity.linkerd.cluster.local",
        ),
        (
            "LINKERD2_PROXY_IDENTITY_SVC_NAME",
            "linkerd-identity.linkerd.serviceaccount.identity.linkerd.cluster.local",
        ),
        (
            "LINKERD2_PROXY_DESTINATION_SVC_NAME",
            "linkerd-destination.linkerd.serviceaccount.identity.linkerd.cluster.local",
        ),
    ]
    env = [
        field_ref("_pod_name", "metadata.name"),
        field_ref("_pod_ns", "metadata.namespace"),
        field_ref("_pod_nodeName", "spec.nodeName"),
        field_ref("_pod_sa", "spec.serviceAccountName"),
        *({"name": k, "value": v} for k, v in plain),
    ]
    after = next(i for i, e in enumerate(env) if e["name"] == "LINKERD2_PROXY_IDENTITY_DIR")
    env.insert(after + 1, _anchors_env(anchors))
    return env


def _proxy_container(
    app_containers: list[Obj],
    native: bool,
    anchors: str | None = None,
    version: str = LINKERD_VERSION,
) -> Obj:
    def probe(path: str, delay: int) -> Obj:
        return {
            "httpGet": {"path": path, "port": 4191, "scheme": "HTTP"},
            "initialDelaySeconds": delay,
            "timeoutSeconds": 1,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        }

    container: Obj = {
        "name": PROXY,
        "image": f"{PROXY_IMAGE.rsplit(':', 1)[0]}:{version}",
        "imagePullPolicy": "IfNotPresent",
        "env": _proxy_env(app_containers, anchors),
        "ports": [
            {"name": "linkerd-proxy", "containerPort": 4143, "protocol": "TCP"},
            {"name": "linkerd-admin", "containerPort": 4191, "protocol": "TCP"},
        ],
        "livenessProbe": probe("/live", 10),
        "readinessProbe": probe("/ready", 2),
        "resources": {},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 2102,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {
                "name": "linkerd-identity-end-entity",
                "mountPath": "/var/run/linkerd/identity/end-entity",
            },
            {"name": "linkerd-identity-token", "mountPath": "/var/run/secrets/tokens"},
        ],
    }
    if native:  # a restartable init container: Kubernetes' native sidecar
        container["restartPolicy"] = "Always"
        container["startupProbe"] = {
            **probe("/ready", 0),
            "periodSeconds": 1,
            "failureThreshold": 120,
        }
    else:  # the app starts only once the proxy is up
        container["lifecycle"] = {
            "postStart": {"exec": {"command": ["/usr/lib/linkerd/linkerd-await", "--timeout=2m"]}}
        }
    return container


def _init_container() -> Obj:
    return {
        "name": "linkerd-init",
        "image": PROXY_INIT_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "--incoming-proxy-port",
            "4143",
            "--outgoing-proxy-port",
            "4140",
            "--proxy-uid",
            "2102",
            "--inbound-ports-to-ignore",
            "4190,4191,4567,4568",
            "--outbound-ports-to-ignore",
            "4567,4568",
        ],
        "resources": {
            "limits": {"cpu": "100m", "memory": "20Mi"},
            "requests": {"cpu": "100m", "memory": "20Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "linkerd-proxy-init-xtables-lock", "mountPath": "/run"}],
    }


_PROXY_VOLUMES = [
    {"name": "linkerd-proxy-init-xtables-lock", "emptyDir": {}},
    {"name": "linkerd-identity-end-entity", "emptyDir": {"medium": "Memory"}},
    {
        "name": "linkerd-identity-token",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": "identity.l5d.io",
                        "expirationSeconds": 86400,
                        "path": "linkerd-identity-token",
                    }
                }
            ],
        },
    },
]


def _inject(pod: Obj, plan: PodPlan, created_by: str, ctx: Context) -> None:
    """What the injector's patch adds to the pod (see linkerd2's proxy-injector fixtures)."""
    meta, spec = pod["metadata"], pod["spec"]
    native = ctx.spec.native_sidecars
    anchors = _trust_anchors(ctx, plan)
    version = ctx.spec.proxy_versions.get(plan.workload, LINKERD_VERSION)
    meta["annotations"].update(
        {
            "linkerd.io/created-by": created_by,
            "linkerd.io/proxy-version": version,
            "linkerd.io/trust-root-sha256": hashlib.sha256(anchors.encode()).hexdigest(),
        }
    )
    meta["labels"].update(
        {
            "linkerd.io/control-plane-ns": "linkerd",
            f"linkerd.io/proxy-{plan.kind.lower()}": plan.workload,
            "linkerd.io/workload-ns": plan.namespace,
        }
    )
    from_configmap = created_by.startswith("linkerd/helm")  # the control plane's own pods
    proxy = _proxy_container(
        spec["containers"], native, None if from_configmap else anchors, version
    )
    init = spec.setdefault("initContainers", [])
    if native:
        init[:0] = [_init_container(), proxy]
    else:
        init.insert(0, _init_container())
        spec["containers"].insert(0, proxy)
    spec["volumes"] = [*spec.get("volumes", []), *_PROXY_VOLUMES]


# ----------------------------------------------------------------------------------------
# Pod spec as the API server stores it (defaults filled in)
# ----------------------------------------------------------------------------------------


def _default_probe(probe: Obj) -> Obj:
    out = {
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
        **probe,
    }
    if "httpGet" in out:
        out["httpGet"] = {"scheme": "HTTP", **out["httpGet"]}
    return out


def _default_container(container: Obj, token_volume: str) -> Obj:
    out: Obj = {
        "imagePullPolicy": "IfNotPresent",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        **container,
    }
    out["ports"] = [{"protocol": "TCP", **p} for p in container.get("ports") or []]
    if not out["ports"]:
        del out["ports"]
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if key in out:
            out[key] = _default_probe(out[key])
    out["volumeMounts"] = [
        *(container.get("volumeMounts") or []),
        {
            "name": token_volume,
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        },
    ]
    return out


def _token_volume(name: str) -> Obj:
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


_DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _pod_spec(template_spec: Obj, pod_name: str, node: str | None) -> Obj:
    token = f"kube-api-access-{name_suffix(pod_name, 'token')}"
    spec: Obj = {
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        **json.loads(json.dumps(template_spec)),
    }
    spec["serviceAccount"] = spec["serviceAccountName"]
    spec["containers"] = [_default_container(c, token) for c in spec["containers"]]
    if spec.get("initContainers"):
        spec["initContainers"] = [_default_container(c, token) for c in spec["initContainers"]]
    spec["tolerations"] = [*(spec.get("tolerations") or []), *_DEFAULT_TOLERATIONS]
    spec["volumes"] = [*(spec.get("volumes") or []), _token_volume(token)]
    if node:
        spec["nodeName"] = node
    return spec


def _qos_class(spec: Obj) -> str:
    containers = spec["containers"] + (spec.get("initContainers") or [])
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        r.get("limits", {}).get(res)
        and r.get("requests", {}).get(res, r["limits"][res]) == r["limits"][res]
        for r in resources
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


# ----------------------------------------------------------------------------------------
# Pod status as the kubelet reports it
# ----------------------------------------------------------------------------------------


def _image_id(image: str) -> str:
    repository = image.rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    return f"{repository}@sha256:{_digest('image', image)}"


def _container_id(pod: str, container: str, restarts: int) -> str:
    return f"containerd://{_digest(pod, container, str(restarts))}"


@dataclass(frozen=True)
class PodState:
    """What went wrong with a pod, resolved from its plan and the spec."""

    fault: PodFault | None
    main: str  # the app container a fault hits
    restarts: int
    completed: bool
    now: datetime = FALLBACK_NOW  # when the sim started: a crash loop's last exit is just before
    failed: bool = False  # a Job pod whose container exited 1
    old_restarts: int = 0  # restarts that ended long ago (OOMKilled), running cleanly since
    evicted: bool = False  # the kubelet evicted it: its containers killed half-way to now


def _state_of(ctx: Context, plan: PodPlan, spec: Obj) -> PodState:
    mains = [c["name"] for c in spec["containers"] if c["name"] != PROXY]
    default = DEFAULT_RESTARTS if plan.fault is PodFault.CRASH_LOOP else 0
    restarts = ctx.spec.restart_counts.get(plan.workload, default)
    return PodState(
        plan.fault,
        mains[0] if mains else "",
        restarts,
        plan.completed,
        ctx.now,
        plan.failed,
        ctx.spec.old_restarts.get(plan.workload, 0),
        plan.evicted,
    )


def _running(container: Obj, pod: str, started: datetime, ready: bool, restarts: int) -> Obj:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": _image_id(container["image"]),
        "containerID": _container_id(pod, container["name"], restarts),
        "ready": ready,
        "started": True,
        "restartCount": restarts,
        "state": {"running": {"startedAt": _ts(started)}},
        "lastState": {},
    }


def _terminated(
    container: Obj, pod: str, started: datetime, seconds: int, ready: bool, exit_code: int = 0
) -> Obj:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": _image_id(container["image"]),
        "containerID": _container_id(pod, container["name"], 0),
        "ready": ready,
        "started": False,
        "restartCount": 0,
        "state": {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Error" if exit_code else "Completed",
                "startedAt": _ts(started),
                "finishedAt": _ts(started + timedelta(seconds=seconds)),
                "containerID": _container_id(pod, container["name"], 0),
            }
        },
        "lastState": {},
    }


def _crashing(container: Obj, pod: str, started: datetime, restarts: int, now: datetime) -> Obj:
    # the kubelet's back-off is capped at 5 minutes: the last exit was a few minutes ago
    last_start = max(started, now - CRASH_LAST_EXIT)
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": _image_id(container["image"]),
        "containerID": _container_id(pod, container["name"], restarts),
        "ready": False,
        "started": False,
        "restartCount": restarts,
        "state": {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={container['name']} "
                f"pod={pod}",
            }
        },
        "lastState": {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": _ts(last_start),
                "finishedAt": _ts(last_start + timedelta(seconds=2)),
                "containerID": _container_id(pod, container["name"], restarts),
            }
        },
    }


def _evicted_at(started: datetime, now: datetime) -> datetime:
    """When the kubelet evicted a pod (SimSpec.evicted_pods): half-way from its start to now."""
    return started + (now - started) / 2


def _evicted(container: Obj, pod: str, started: datetime, now: datetime) -> Obj:
    """Killed by the kubelet's eviction (no grace period under a hard threshold): SIGKILL,
    exit code 137 as for the OOM kills (tests/data/facts/workload-status.yml)."""
    ran = int((_evicted_at(started, now) - started).total_seconds())
    return _terminated(container, pod, started, ran, ready=False, exit_code=137)


def _pulling(container: Obj) -> Obj:
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{container["image"]}"',
            }
        },
        "lastState": {},
    }


def _oom_restarted(status: Obj, pod: str, started: datetime, restarts: int) -> Obj:
    """Running since its last of `restarts` OOM kills, which ended soon after the pod
    started (SimSpec.old_restarts: days ago)."""
    ended = started + timedelta(minutes=10)
    return {
        **status,
        "restartCount": restarts,
        "containerID": _container_id(pod, status["name"], restarts),
        "state": {"running": {"startedAt": _ts(ended + timedelta(seconds=11))}},
        "lastState": {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": _ts(ended - timedelta(minutes=1)),
                "finishedAt": _ts(ended),
                "containerID": _container_id(pod, status["name"], restarts - 1),
            }
        },
    }


def _app_status(container: Obj, pod: str, state: PodState, started: datetime) -> Obj:
    if state.evicted:
        return _evicted(container, pod, started, state.now)
    if state.completed:
        return _terminated(container, pod, started, 3, ready=False)
    if state.failed:
        return _terminated(container, pod, started, 2, ready=False, exit_code=1)
    is_main = container["name"] == state.main
    if is_main and state.fault is PodFault.CRASH_LOOP:
        return _crashing(container, pod, started, state.restarts, state.now)
    if is_main and state.fault is PodFault.IMAGE_PULL:
        return _pulling(container)
    ready = not (
        (is_main and state.fault is PodFault.NOT_READY)
        or (container["name"] == PROXY and state.fault is PodFault.PROXY_NOT_READY)
    )
    restarts = 0 if container["name"] == PROXY else state.restarts
    running = _running(container, pod, started + timedelta(seconds=4), ready, restarts)
    if is_main and state.old_restarts:
        return _oom_restarted(running, pod, started, state.old_restarts)
    return running


def _init_status(container: Obj, pod: str, state: PodState, started: datetime) -> Obj:
    if state.evicted and container.get("restartPolicy") == "Always":
        return _evicted(container, pod, started, state.now)
    if container.get("restartPolicy") == "Always":  # native sidecar: runs alongside the app
        ready = state.fault is not PodFault.PROXY_NOT_READY and not state.completed
        status = _running(container, pod, started + timedelta(seconds=2), ready, 0)
        if state.completed:
            return _terminated(container, pod, started, 4, ready=False)
        return status
    return _terminated(container, pod, started, 1, ready=True)


def _not_ready(statuses: list[Obj], init: list[Obj]) -> list[str]:
    sidecars = [s for s in init if "running" in s["state"] or "waiting" in s["state"]]
    return [s["name"] for s in [*sidecars, *statuses] if not s["ready"]]


def _pod_conditions(state: PodState, started: datetime, unready: list[str]) -> list[Obj]:
    if state.evicted:
        killed = _evicted_at(started, state.now)
        return [
            _condition("DisruptionTarget", True, killed, "TerminationByKubelet", EVICTION),
            _condition("PodReadyToStartContainers", False, killed),
            _condition("Initialized", True, started + timedelta(seconds=2)),
            _condition("Ready", False, killed, "PodFailed"),
            _condition("ContainersReady", False, killed, "PodFailed"),
            _condition("PodScheduled", True, started),
        ]
    if state.completed or state.failed:
        done = started + timedelta(seconds=5)
        why = "PodCompleted" if state.completed else "PodFailed"
        return [
            _condition("PodReadyToStartContainers", False, done),
            _condition("Initialized", True, started, "PodCompleted"),
            _condition("Ready", False, done, why),
            _condition("ContainersReady", False, done, why),
            _condition("PodScheduled", True, started),
        ]
    ready_at = started + timedelta(seconds=8)
    message = f"containers with unready status: [{' '.join(unready)}]"
    ready = _condition("Ready", True, ready_at)
    containers_ready = _condition("ContainersReady", True, ready_at)
    if unready:
        ready = _condition("Ready", False, ready_at, "ContainersNotReady", message)
        containers_ready = _condition(
            "ContainersReady", False, ready_at, "ContainersNotReady", message
        )
    return [
        _condition("PodReadyToStartContainers", True, started + timedelta(seconds=1)),
        _condition("Initialized", True, started + timedelta(seconds=2)),
        ready,
        containers_ready,
        _condition("PodScheduled", True, started),
    ]


def _unschedulable_status(spec: Obj, started: datetime, message: str) -> Obj:
    return {
        "phase": "Pending",
        "qosClass": _qos_class(spec),
        "conditions": [_condition("PodScheduled", False, started, "Unschedulable", message)],
    }


def _pod_status(ctx: Context, plan: PodPlan, spec: Obj, pod_ip: str) -> Obj:
    state = _state_of(ctx, plan, spec)
    started = plan.started
    if state.fault is PodFault.PENDING:
        return _unschedulable_status(spec, started, plan.unschedulable)
    init = [_init_status(c, plan.name, state, started) for c in spec.get("initContainers") or []]
    statuses = [_app_status(c, plan.name, state, started) for c in spec["containers"]]
    unready = _not_ready(statuses, init)
    phase = "Succeeded" if state.completed else "Running"
    if state.failed or state.evicted:
        phase = "Failed"
    if state.fault is PodFault.IMAGE_PULL:
        phase = "Pending"  # not every container has started yet
    status: Obj = {
        "phase": phase,
        "conditions": _pod_conditions(state, started, unready),
        "hostIP": plan.node_ip,
        "hostIPs": [{"ip": plan.node_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": _ts(started),
        "qosClass": _qos_class(spec),
        "containerStatuses": statuses,
    }
    if init:
        status["initContainerStatuses"] = init
    if state.evicted:
        status.update(reason="Evicted", message=EVICTION)
    return status


# ----------------------------------------------------------------------------------------
# Pod addresses
# ----------------------------------------------------------------------------------------


class AddressPool:
    """Unique `<block>.x.y` pod addresses, stable per pod name across reconciles."""

    def __init__(self, block: str, existing: list[Obj]) -> None:
        self.block = block
        self.by_pod: dict[tuple[str, str], str] = {}
        for pod in existing:
            ip = pod.get("status", {}).get("podIP", "")
            if ip.startswith(block + ".") and not pod["spec"].get("hostNetwork"):
                self.by_pod[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = ip
        self.taken = set(self.by_pod.values())

    def address(self, namespace: str, name: str) -> str:
        key = (namespace, name)
        if key not in self.by_pod:
            self.by_pod[key] = self._free(int(_digest(namespace, name)[:8], 16))
            self.taken.add(self.by_pod[key])
        return self.by_pod[key]

    def _free(self, seed: int) -> str:
        for step in range(250 * 250):
            slot = (seed + step) % (250 * 250)
            ip = f"{self.block}.{1 + slot // 250}.{1 + slot % 250}"
            if ip not in self.taken:
                return ip
        raise RuntimeError(f"pod address block {self.block} is full")


# ----------------------------------------------------------------------------------------
# Building and storing pods
# ----------------------------------------------------------------------------------------


def _pod(ctx: Context, plan: PodPlan, pool: AddressPool) -> Obj:
    template_meta = plan.template.get("metadata", {})
    pending = plan.fault is PodFault.PENDING
    spec = _pod_spec(plan.template["spec"], plan.name, None if pending else plan.node_name)
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": plan.name,
            "namespace": plan.namespace,
            "generateName": plan.name.rsplit("-", 1)[0] + "-",
            "labels": dict(plan.labels),
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [plan.owner],
            "creationTimestamp": _ts(plan.started),
        },
        "spec": spec,
    }
    created_by = _injected_by(ctx, plan)
    if created_by:
        _inject(pod, plan, created_by, ctx)
        spec["containers"] = [
            _default_container(c, _token_name(spec)) if c["name"] == PROXY else c
            for c in spec["containers"]
        ]
        spec["initContainers"] = [
            _default_container(c, _token_name(spec)) if c["name"] in (PROXY, "linkerd-init") else c
            for c in spec["initContainers"]
        ]
    if spec.get("hostNetwork"):
        pod_ip = plan.node_ip
    else:
        pod_ip = "" if pending else pool.address(plan.namespace, plan.name)
    pod["status"] = _pod_status(ctx, plan, spec, pod_ip)
    return pod


def _token_name(spec: Obj) -> str:
    for volume in spec.get("volumes", []):
        if volume["name"].startswith("kube-api-access-"):
            name: str = volume["name"]
            return name
    return "kube-api-access"


def _plant_password(pod: Obj, secrets: list[str]) -> None:
    """The careless deploy: a database password in plain sight in a pod spec."""
    main = next(c for c in pod["spec"]["containers"] if c["name"] != PROXY)
    main.setdefault("env", []).append({"name": "DB_PASSWORD", "value": " ".join(secrets)})


def _secret_holder(plans: list[PodPlan]) -> PodPlan | None:
    """The bookinfo pod whose spec and logs carry the planted secrets: a failing one first."""
    bookinfo = sorted((p for p in plans if p.namespace == "bookinfo"), key=lambda p: p.name)
    failing = [p for p in bookinfo if p.fault in (PodFault.CRASH_LOOP, PodFault.NOT_READY)]
    candidates = failing or bookinfo
    return candidates[0] if candidates else None


# ----------------------------------------------------------------------------------------
# Events and logs
# ----------------------------------------------------------------------------------------


SCHEDULER = "default-scheduler"


def _event(
    pod: Obj,
    reason: str,
    message: str,
    count: int,
    first: datetime,
    last: datetime,
    container: str | None,
    component: str,
    node: str,
    kind: str = "Warning",
) -> Obj:
    """One Event about `pod`, as its component writes it: the kubelet through the core/v1
    recorder (source, count, first/last timestamps), the scheduler through events.k8s.io/v1
    (eventTime, a series for repeats, no source), as served by core/v1 (facts:
    tests/data/facts/kube-apiserver.yml)."""
    meta = pod["metadata"]
    involved: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta.get("uid", ""),
    }
    if container:
        involved["fieldPath"] = _field_path(pod, container)
    name = f"{meta['name']}.{_digest(meta['name'], reason, message)[:16]}"
    event: Obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": meta["namespace"], "creationTimestamp": _ts(first)},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": kind,
    }
    if component == SCHEDULER:
        event.update(
            source={},
            firstTimestamp=None,
            lastTimestamp=None,
            eventTime=_micro_ts(first),
            action="Scheduling",
            reportingComponent=SCHEDULER,
            reportingInstance=f"{SCHEDULER}-{node}",
        )
        if count > 1:
            event["series"] = {"count": count, "lastObservedTime": _micro_ts(last)}
        return event
    event.update(
        count=count,
        firstTimestamp=_ts(first),
        lastTimestamp=_ts(last),
        source={"component": component, "host": node}
        if component == "kubelet"
        else {"component": component},
        eventTime=None,
        reportingComponent=component,
        reportingInstance=node if component == "kubelet" else "",
    )
    return event


def _micro_ts(moment: datetime) -> str:
    """metav1.MicroTime, as eventTime is written."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field_path(pod: Obj, container: str) -> str:
    init = {c["name"] for c in pod["spec"].get("initContainers") or []}
    return (
        f"spec.initContainers{{{container}}}"
        if container in init
        else f"spec.containers{{{container}}}"
    )


def scheduling_failed(
    pod: Obj, message: str, first: datetime, last: datetime, attempts: int, node: str
) -> Obj:
    """The scheduler's FailedScheduling for a pod it cannot place (`node`: where the
    scheduler runs, naming its reportingInstance)."""
    return _event(pod, "FailedScheduling", message, attempts, first, last, None, SCHEDULER, node)


def _fault_events(ctx: Context, plan: PodPlan, pod: Obj) -> list[Obj]:
    state = _state_of(ctx, plan, pod["spec"])
    first, last = plan.started + timedelta(seconds=10), ctx.now - timedelta(seconds=30)
    main = next((c for c in pod["spec"]["containers"] if c["name"] == state.main), None)
    node = plan.node_name
    if state.fault is PodFault.PENDING:
        message = pod["status"]["conditions"][0]["message"]
        # the scheduler retries an unschedulable pod at least every 5 minutes
        attempts = max(1, int((ctx.now - plan.started).total_seconds() // 300))
        return [scheduling_failed(pod, message, plan.started, last, attempts, node)]
    if main is None:
        return []
    if state.fault is PodFault.CRASH_LOOP:
        return _crash_loop_events(pod, main, state, first, node)
    if state.fault is PodFault.IMAGE_PULL:
        return _image_pull_events(pod, main, first, last, node)
    return _unhealthy_events(pod, state, first, last, node)


def _crash_loop_events(
    pod: Obj, main: Obj, state: PodState, first: datetime, node: str
) -> list[Obj]:
    """Each run: Pulled (image present), Created, Started; between runs: BackOff."""
    name, runs = main["name"], state.restarts + 1
    last_start = max(first, state.now - CRASH_LAST_EXIT)
    meta = pod["metadata"]

    def normal(reason: str, message: str) -> Obj:
        return _event(
            pod, reason, message, runs, first, last_start, name, "kubelet", node, "Normal"
        )

    return [
        normal("Pulled", f'Container image "{main["image"]}" already present on machine'),
        normal("Created", f"Created container {name}"),
        normal("Started", f"Started container {name}"),
        _event(
            pod,
            "BackOff",
            f"Back-off restarting failed container {name} in pod "
            f"{meta['name']}_{meta['namespace']}({meta.get('uid', '')})",
            max(1, state.restarts * 4),
            first,
            state.now - timedelta(seconds=30),
            name,
            "kubelet",
            node,
        ),
    ]


def _image_pull_events(
    pod: Obj, main: Obj, first: datetime, last: datetime, node: str
) -> list[Obj]:
    """The kubelet's image manager (Pulling, Failed, BackOff) and the container start that
    fails on it (Failed: `Error: ErrImagePull`, then `Error: ImagePullBackOff`)."""
    name, image = main["name"], main["image"]
    pulls, backoffs = 12, 250  # the pull back-off is capped at 5 minutes

    def event(reason: str, message: str, count: int, kind: str = "Warning") -> Obj:
        return _event(pod, reason, message, count, first, last, name, "kubelet", node, kind)

    why = (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f'failed to resolve reference "{image}": {image}: not found'
    )
    return [
        event("Pulling", f'Pulling image "{image}"', pulls, "Normal"),
        event("Failed", f'Failed to pull image "{image}": {why}', pulls),
        event("Failed", "Error: ErrImagePull", pulls),
        event("BackOff", f'Back-off pulling image "{image}"', backoffs, "Normal"),
        event("Failed", "Error: ImagePullBackOff", backoffs),
    ]


def _unhealthy_events(
    pod: Obj, state: PodState, first: datetime, last: datetime, node: str
) -> list[Obj]:
    if state.fault is PodFault.NOT_READY:
        target, why = state.main, "HTTP probe failed with statuscode: 503"
    elif state.fault is PodFault.PROXY_NOT_READY and _has_proxy(pod):
        target, why = PROXY, "HTTP probe failed with statuscode: 503"
    else:
        return []
    return [
        _event(
            pod,
            "Unhealthy",
            f"Readiness probe failed: {why}",
            60,
            first,
            last,
            target,
            "kubelet",
            node,
        )
    ]


def _has_proxy(pod: Obj) -> bool:
    spec = pod["spec"]
    return any(c["name"] == PROXY for c in spec["containers"] + spec.get("initContainers", []))


def _log_lines(container: Obj, pod: str, at: str) -> list[str]:
    name, image = container["name"], container["image"]
    if name == PROXY:
        return [
            "[     0.002144s]  INFO ThreadId(01) linkerd2_proxy: release 2.210.4 "
            "(5a910be) by linkerd on 2024-01-15T09:08:33Z",
            "[     0.004512s]  INFO ThreadId(01) linkerd2_proxy: Admin interface on 0.0.0.0:4191",
            "[     0.004530s]  INFO ThreadId(01) linkerd2_proxy: Inbound interface on 0.0.0.0:4143",
            "[     0.004533s]  INFO ThreadId(01) linkerd2_proxy: Outbound interface on "
            "127.0.0.1:4140",
            "[     0.017788s]  INFO ThreadId(02) daemon:identity: linkerd_app: "
            f"Certified identity id={pod}",
        ]
    if name == "linkerd-init":
        return [
            f'time="{at}" level=info msg="/sbin/iptables-save -t nat"',
            f'time="{at}" level=info msg="# Completed"',
        ]
    return [f"{at} INFO starting {name} ({image})", f"{at} INFO {name} listening"]


def _failure_lines(state: PodState, container: Obj, at: str) -> list[str]:
    if container["name"] != state.main:
        return []
    if state.failed:  # linkerd's heartbeat without egress (controller/cmd/heartbeat)
        return [
            f'time="{at}" level=fatal msg="Failed to send heartbeat: Get '
            '\\"https://versioncheck.linkerd.io/version.json\\": dial tcp: i/o timeout"'
        ]
    if state.fault is PodFault.CRASH_LOOP:
        return [
            f"{at} ERROR {container['name']}: cannot connect to the database: connection refused",
            "exit status 1",
        ]
    if state.fault is PodFault.NOT_READY:
        return [f"{at} WARN readiness: backend not initialised, answering 503"]
    return []


def _write_logs(ctx: Context, plan: PodPlan, pod: Obj, secrets: list[str]) -> None:
    state = _state_of(ctx, plan, pod["spec"])
    if state.fault is PodFault.PENDING:
        return  # never started: no logs
    containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
    for container in containers:
        if container["name"] == state.main and state.fault is PodFault.IMAGE_PULL:
            continue
        at = _ts(plan.started + timedelta(seconds=5))
        lines = _log_lines(container, plan.name, at)
        failure = _failure_lines(state, container, at)
        if secrets and container["name"] == state.main:
            lines.append(f"{at} DEBUG connecting with password=" + " ".join(secrets))
        ctx.store.logs[(plan.namespace, plan.name, container["name"])] = (
            "\n".join([*lines, *failure]) + "\n"
        )


# ----------------------------------------------------------------------------------------
# Workload status
# ----------------------------------------------------------------------------------------


def _is_ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def _nonzero(**counts: int) -> Obj:
    """Kubernetes omits zero counts from workload status (omitempty)."""
    return {key: value for key, value in counts.items() if value}


def _with_status(obj: Obj, status: Obj) -> Obj:
    return {
        **obj,
        "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"},
        "status": status,
    }


def _deployment_status(deploy: Obj, rs: Obj, pods: list[Obj], anchor: datetime) -> Obj:
    wanted = int(deploy["spec"].get("replicas", 1))
    ready = sum(_is_ready(p) for p in pods)
    available = ready >= wanted
    rs_name = rs["metadata"]["name"]
    when = _ts(anchor + timedelta(minutes=2))
    conditions = [
        {
            "type": "Available",
            "status": "True" if available else "False",
            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
            "message": "Deployment has minimum availability."
            if available
            else "Deployment does not have minimum availability.",
            "lastUpdateTime": when,
            "lastTransitionTime": when,
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
            "message": f'ReplicaSet "{rs_name}" has successfully progressed.'
            if available
            else f'ReplicaSet "{rs_name}" is progressing.',
            "lastUpdateTime": when,
            "lastTransitionTime": _ts(anchor),
        },
    ]
    return {
        "observedGeneration": deploy["metadata"].get("generation", 1),
        **_nonzero(
            replicas=len(pods),
            updatedReplicas=len(pods),
            readyReplicas=ready,
            availableReplicas=ready,
            unavailableReplicas=max(0, wanted - ready),
        ),
        "conditions": conditions,
    }


def _stuck_rollout_status(deploy: Obj, status: Obj, now: datetime) -> Obj:
    """A rollout whose new ReplicaSet never gets its pods (its creates are refused, e.g. by
    a quota) past progressDeadlineSeconds: the old pods still serve (Available=True), none
    is updated, Progressing=False with reason ProgressDeadlineExceeded (the Deployment
    controller's words: pkg/controller/deployment/util/deployment_util.go)."""
    name = deploy["metadata"]["name"]
    new_rs = f"{name}-{name_suffix(name, 'next', length=10)}"
    when = _ts(now - timedelta(minutes=5))
    conditions = [c for c in status["conditions"] if c["type"] != "Progressing"]
    conditions.append(
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": f'ReplicaSet "{new_rs}" has timed out progressing.',
            "lastUpdateTime": when,
            "lastTransitionTime": when,
        }
    )
    counts = {k: v for k, v in status.items() if k not in ("updatedReplicas", "conditions")}
    return {**counts, "conditions": conditions}


def _replicaset_status(rs: Obj, pods: list[Obj]) -> Obj:
    ready = sum(_is_ready(p) for p in pods)
    return {
        "observedGeneration": rs["metadata"].get("generation", 1),
        "replicas": len(pods),
        **_nonzero(fullyLabeledReplicas=len(pods), readyReplicas=ready, availableReplicas=ready),
    }


def _statefulset_status(sts: Obj, pods: list[Obj]) -> Obj:
    ready = sum(_is_ready(p) for p in pods)
    revision = pods[0]["metadata"]["labels"]["controller-revision-hash"] if pods else ""
    return {
        "observedGeneration": sts["metadata"].get("generation", 1),
        "replicas": len(pods),
        **_nonzero(
            readyReplicas=ready,
            availableReplicas=ready,
            currentReplicas=len(pods),
            updatedReplicas=len(pods),
        ),
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }


def _daemonset_status(ds: Obj, pods: list[Obj], nodes: int) -> Obj:
    ready = sum(_is_ready(p) for p in pods)
    scheduled = sum(1 for p in pods if p["spec"].get("nodeName"))
    return {
        "observedGeneration": ds["metadata"].get("generation", 1),
        "desiredNumberScheduled": nodes,
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": 0,
        "numberReady": ready,
        **_nonzero(
            numberAvailable=ready,
            updatedNumberScheduled=scheduled,
            numberUnavailable=max(0, nodes - ready),
        ),
    }


def _failed_job_status(job: Obj, pods: list[Obj]) -> Obj:
    """A Job that used up its backoffLimit: each pod Failed, condition Failed with reason
    BackoffLimitExceeded (Kubernetes 1.28: no FailureTarget without a podFailurePolicy),
    no completionTime."""
    ended = max(_parse_ts(p["status"]["startTime"]) for p in pods) + timedelta(seconds=3)
    message = "Job has reached the specified backoff limit"

    def condition(kind: str) -> Obj:
        return {
            "type": kind,
            "status": "True",
            "lastProbeTime": _ts(ended),
            "lastTransitionTime": _ts(ended),
            "reason": "BackoffLimitExceeded",
            "message": message,
        }

    return {
        "startTime": job["metadata"].get("creationTimestamp", ""),
        "failed": len(pods),
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [condition("Failed")],
    }


def _job_status(job: Obj, pod: Obj | None, pods: list[Obj] | None = None) -> Obj:
    if pods and all(p["status"].get("phase") == "Failed" for p in pods):
        return _failed_job_status(job, pods)
    if pod is None:
        return {}
    if pod["status"].get("phase") == "Pending":  # never scheduled: still active, never done
        return {
            "startTime": job["metadata"].get("creationTimestamp", ""),
            "active": 1,
            "ready": 0,
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
    started = _parse_ts(pod["status"]["startTime"])
    done = _ts(started + timedelta(seconds=6))
    return {
        "startTime": _ts(started),
        "completionTime": done,
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            {
                "type": "SuccessCriteriaMet",
                "status": "True",
                "lastProbeTime": done,
                "lastTransitionTime": done,
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
            },
            {
                "type": "Complete",
                "status": "True",
                "lastProbeTime": done,
                "lastTransitionTime": done,
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
            },
        ],
    }


def _cronjob_status(jobs: list[Obj], last_failed: bool = False) -> Obj:
    """lastScheduleTime: the newest run; lastSuccessfulTime: when the newest successful
    one completed (a day before the newest when that one failed)."""
    if not jobs:
        return {}
    newest = jobs[-1]["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    succeeded = _parse_ts(newest) - (DAY if last_failed else timedelta(0))
    return {"lastScheduleTime": newest, "lastSuccessfulTime": _ts(succeeded + timedelta(seconds=7))}


# ----------------------------------------------------------------------------------------
# Scale: SimSpec.extra_pods
# ----------------------------------------------------------------------------------------

LOAD_GENERATOR = ("bookinfo", "load-generator")


def load_generator(replicas: int) -> Obj:
    """A plain meshed Deployment (the namespace's injection gives it a proxy) with
    `replicas` pods, the shape a scaled-out client of Bookinfo has."""
    namespace, name = LOAD_GENERATOR
    labels = {"app": name, "version": "v1"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": "docker.io/curlimages/curl:8.10.1",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/sh", "-c", "sleep infinity"],
                            "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}},
                        }
                    ]
                },
            },
        },
    }


def is_extra_pod(pod: Obj) -> bool:
    """One of `load_generator`'s pods: the sim serves no metrics for them."""
    meta = pod["metadata"]
    return bool(
        meta.get("namespace") == LOAD_GENERATOR[0]
        and (meta.get("labels") or {}).get("app") == LOAD_GENERATOR[1]
    )


# ----------------------------------------------------------------------------------------
# reconcile()
# ----------------------------------------------------------------------------------------


def _owned_by(pods: list[Obj], owner: Obj) -> list[Obj]:
    uid, name = owner["metadata"].get("uid"), owner["metadata"]["name"]
    return [
        p
        for p in pods
        if any(
            ref.get("name") == name and ref.get("uid", uid) == uid
            for ref in p["metadata"].get("ownerReferences", [])
        )
    ]


def _sorted(store: Store, api_version: str, kind: str) -> list[Obj]:
    objects = store.list_objects(api_version, kind)
    return sorted(
        objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
    )


def _store_pods(ctx: Context) -> dict[tuple[str, str], Obj]:
    """Build and store every planned pod, its events and logs; drop pods no longer planned."""
    pool = AddressPool(ctx.block, ctx.store.list_objects("v1", "Pod"))
    holder = _secret_holder(ctx.plans)
    secrets = ctx.spec.planted_secrets
    stored: dict[tuple[str, str], Obj] = {}
    for plan in sorted(ctx.plans, key=lambda p: (p.namespace, p.name)):
        pod = _pod(ctx, plan, pool)
        planted = secrets if plan is holder else []
        if planted:
            _plant_password(pod, planted)
        stored[(plan.namespace, plan.name)] = pod = _put(ctx.store, pod)
        for event in _fault_events(ctx, plan, pod):
            _put(ctx.store, event)
        _write_logs(ctx, plan, pod, planted)
    _drop_unplanned(ctx, stored)
    return stored


def _drop_unplanned(ctx: Context, planned: dict[tuple[str, str], Obj]) -> None:
    for pod in ctx.store.list_objects("v1", "Pod"):
        meta = pod["metadata"]
        if meta.get("ownerReferences") and (meta["namespace"], meta["name"]) not in planned:
            ctx.store.remove("v1", "Pod", meta["namespace"], meta["name"])


def _put_status(store: Store, obj: Obj, status: Obj) -> None:
    """Status onto the object as stored now, only while its spec is the one the status was
    computed for: a spec written meanwhile (a deploy's apply) wins, the next pass catches up."""
    meta = obj["metadata"]
    current = store.get_object(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
    if current is None or current["metadata"].get("generation") != meta.get("generation"):
        return
    _put(store, _with_status(current, status))


def _date_applied(ctx: Context) -> None:
    """Objects applied after the cluster came up are dated when it came up, so a
    Deployment is older than its ReplicaSet and pods, as in a real cluster."""
    backdate = getattr(ctx.store, "backdate", None)
    if backdate is None:
        return
    for api_version, kind in _applied_kinds(ctx.store):
        for obj in ctx.store.list_objects(api_version, kind):
            meta = obj["metadata"]
            created = meta.get("creationTimestamp")
            if created and _parse_ts(created) > ctx.anchor:
                backdate(api_version, kind, meta.get("namespace"), meta["name"], _ts(ctx.anchor))


def _applied_kinds(store: Store) -> list[tuple[str, str]]:
    resources = getattr(store, "resources", None)
    if resources is None:
        return []
    return [(r.api_version, r.kind) for r in resources() if r.kind not in UNDATED_KINDS]


def reconcile(store: Store, spec: SimSpec, pod_ip_block: str) -> None:
    """Make the store look like a cluster whose controllers have settled (see module doc)."""
    nodes = _nodes(store)
    ctx = Context(store, spec, pod_ip_block, _now(nodes), nodes)
    _date_applied(ctx)
    deployments = [_scaled(ctx, d) for d in _sorted(store, "apps/v1", "Deployment")]
    replicasets = [(d, _plan_deployment(ctx, d)) for d in deployments]
    statefulsets = _sorted(store, "apps/v1", "StatefulSet")
    for sts in statefulsets:
        _plan_statefulset(ctx, sts)
    daemonsets = _sorted(store, "apps/v1", "DaemonSet")
    eligible = {ds["metadata"]["name"]: _plan_daemonset(ctx, ds) for ds in daemonsets}
    cronjobs = [(cj, _plan_cronjob(ctx, cj)) for cj in _sorted(store, "batch/v1", "CronJob")]
    pods = list(_store_pods(ctx).values())
    for deploy, rs in replicasets:
        # a ReplicaSet counts its active pods only: not a Failed (evicted) one
        # (FilterActivePods, pkg/controller/controller_utils.go)
        owned = [p for p in _owned_by(pods, rs) if p["status"]["phase"] not in ENDED_PHASES]
        _put_status(store, rs, _replicaset_status(rs, owned))
        status = _deployment_status(deploy, rs, owned, ctx.anchor)
        if deploy["metadata"]["name"] in spec.stuck_rollouts:
            status = _stuck_rollout_status(deploy, status, ctx.now)
        _put_status(store, deploy, status)
    for sts in statefulsets:
        _put_status(store, sts, _statefulset_status(sts, _owned_by(pods, sts)))
    for ds in daemonsets:
        _put_status(
            store, ds, _daemonset_status(ds, _owned_by(pods, ds), eligible[ds["metadata"]["name"]])
        )
    for cronjob, jobs in cronjobs:
        for job in jobs:
            owned = _owned_by(pods, job)
            _put_status(store, job, _job_status(job, owned[0] if owned else None, owned))
        _put_status(
            store,
            cronjob,
            _cronjob_status(jobs, cronjob["metadata"]["name"] in spec.failed_cronjobs),
        )
