"""Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` answers a
meta.k8s.io/v1 Table, with the columns and cells kube-apiserver 1.28 prints
(kubernetes/kubernetes pkg/printers/internalversion/printers.go; durations as
k8s.io/apimachinery/pkg/util/duration HumanDuration). Kinds without a printer get the
default table (Name, Created At); custom resources Name and Age (and their
additionalPrinterColumns with a plain `.a.b` path). The facts: tests/data/facts/kube-apiserver.yml.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority
NONE = "<none>"

_NAME: Column = ("Name", "string", 0)
_AGE: Column = ("Age", "string", 0)
_CONTAINERS: tuple[Column, ...] = (("Containers", "string", 1), ("Images", "string", 1))

COLUMNS: dict[tuple[str, str], tuple[Column, ...]] = {
    ("v1", "Pod"): (
        _NAME,
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        _AGE,
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ),
    ("apps/v1", "Deployment"): (
        _NAME,
        ("Ready", "string", 0),
        ("Up-to-date", "string", 0),
        ("Available", "string", 0),
        _AGE,
        *_CONTAINERS,
        ("Selector", "string", 1),
    ),
    ("apps/v1", "ReplicaSet"): (
        _NAME,
        ("Desired", "integer", 0),
        ("Current", "integer", 0),
        ("Ready", "integer", 0),
        _AGE,
        *_CONTAINERS,
        ("Selector", "string", 1),
    ),
    ("apps/v1", "StatefulSet"): (_NAME, ("Ready", "string", 0), _AGE, *_CONTAINERS),
    ("apps/v1", "DaemonSet"): (
        _NAME,
        ("Desired", "integer", 0),
        ("Current", "integer", 0),
        ("Ready", "integer", 0),
        ("Up-to-date", "integer", 0),
        ("Available", "integer", 0),
        ("Node Selector", "string", 0),
        _AGE,
        *_CONTAINERS,
        ("Selector", "string", 1),
    ),
    ("batch/v1", "Job"): (
        _NAME,
        ("Completions", "string", 0),
        ("Duration", "string", 0),
        _AGE,
        *_CONTAINERS,
        ("Selector", "string", 1),
    ),
    ("batch/v1", "CronJob"): (
        _NAME,
        ("Schedule", "string", 0),
        ("Suspend", "boolean", 0),
        ("Active", "integer", 0),
        ("Last Schedule", "string", 0),
        _AGE,
        *_CONTAINERS,
        ("Selector", "string", 1),
    ),
    ("v1", "Service"): (
        _NAME,
        ("Type", "string", 0),
        ("Cluster-IP", "string", 0),
        ("External-IP", "string", 0),
        ("Port(s)", "string", 0),
        _AGE,
        ("Selector", "string", 1),
    ),
    ("v1", "Node"): (
        _NAME,
        ("Status", "string", 0),
        ("Roles", "string", 0),
        _AGE,
        ("Version", "string", 0),
        ("Internal-IP", "string", 1),
        ("External-IP", "string", 1),
        ("OS-Image", "string", 1),
        ("Kernel-Version", "string", 1),
        ("Container-Runtime", "string", 1),
    ),
    ("v1", "Namespace"): (_NAME, ("Status", "string", 0), _AGE),
    ("v1", "Event"): (
        ("Last Seen", "string", 0),
        ("Type", "string", 0),
        ("Reason", "string", 0),
        ("Object", "string", 0),
        ("Subobject", "string", 1),
        ("Source", "string", 1),
        ("Message", "string", 0),
        ("First Seen", "string", 1),
        ("Count", "string", 1),
        ("Name", "string", 1),
    ),
}
DEFAULT_COLUMNS: tuple[Column, ...] = (_NAME, ("Created At", "date", 0))
CUSTOM_COLUMNS: tuple[Column, ...] = (_NAME, ("Age", "date", 0))


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: `2m5s`, `45m`, `3h20m`, `2d23h`, `40d`."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{years}y"


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def since(text: str | None, now: datetime) -> str:
    """printers.go translateTimestampSince: `<unknown>` for a missing time."""
    moment = _parse(text)
    return "<unknown>" if moment is None else human_duration((now - moment).total_seconds())


def _age(obj: Obj, now: datetime) -> str:
    return since(obj["metadata"].get("creationTimestamp"), now)


def _labels(selector: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((selector or {}).items())) or NONE


def _label_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector (matchLabels, then matchExpressions)."""
    if not selector:
        return NONE
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, values = expr.get("operator", ""), ",".join(expr.get("values") or [])
        if op in ("In", "NotIn"):
            terms.append(f"{expr['key']} {op.lower()} ({values})")
        else:
            terms.append(expr["key"] if op == "Exists" else f"!{expr['key']}")
    return ",".join(terms) or NONE


def _containers(template_spec: Obj) -> list[str]:
    containers = template_spec.get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    ]


def _template_spec(obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict((spec.get("template") or {}).get("spec") or {})


# --- pods ----------------------------------------------------------------------------------
def pod_status(pod: Obj) -> tuple[str, int, int, int, str | None]:
    """printPod's STATUS, ready and total containers, restarts and the last restart time."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or ""
    sidecars = {
        c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    }
    total = len(spec.get("containers") or []) + len(sidecars)
    ready, restarts, sidecar_restarts, last = 0, 0, 0, None
    initializing = False
    init_specs = spec.get("initContainers") or []
    for index, entry in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(entry.get("restartCount") or 0)
        last = _later(
            last, ((entry.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        )
        state = entry.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if entry.get("name") in sidecars:
            sidecar_restarts += int(entry.get("restartCount") or 0)
            if entry.get("ready"):
                ready += 1
            if entry.get("started"):
                continue
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = "Init:" + (terminated.get("reason") or _exit(terminated))
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or _condition_true(pod, "Initialized"):
        reason, ready, restarts, last = _containers_status(
            pod, reason, ready, sidecar_restarts, last
        )
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return reason, ready, total, restarts, last


def _containers_status(
    pod: Obj, reason: str, ready: int, restarts: int, last: str | None
) -> tuple[str, int, int, str | None]:
    has_running = False
    for entry in reversed((pod.get("status") or {}).get("containerStatuses") or []):
        restarts += int(entry.get("restartCount") or 0)
        last = _later(
            last, ((entry.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        )
        state = entry.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            reason = _exit(terminated)
        elif entry.get("ready") and state.get("running"):
            has_running = True
            ready += 1
    if reason == "Completed" and has_running:
        reason = "Running" if _condition_true(pod, "Ready") else "NotReady"
    return reason, ready, restarts, last


def _exit(terminated: Obj) -> str:
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode')}"


def _later(current: str | None, candidate: str | None) -> str | None:
    if not candidate:
        return current
    return candidate if current is None or candidate > current else current


def _condition_true(obj: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def _pod_cells(pod: Obj, now: datetime) -> list[Any]:
    reason, ready, total, restarts, last = pod_status(pod)
    shown = f"{restarts} ({since(last, now)} ago)" if restarts and last else str(restarts)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    gates = spec.get("readinessGates") or []
    gate_cell = NONE
    if gates:
        true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gate_cell = f"{sum(1 for g in gates if g.get('conditionType') in true)}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        shown,
        _age(pod, now),
        status.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gate_cell,
    ]


# --- workloads -------------------------------------------------------------------------------
def _deployment_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas', 1))}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        _age(obj, now),
        *_containers(_template_spec(obj)),
        _label_selector(spec.get("selector")),
    ]


def _replicaset_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        int(spec.get("replicas", 1)),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
        _age(obj, now),
        *_containers(_template_spec(obj)),
        _label_selector(spec.get("selector")),
    ]


def _statefulset_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas', 1))}",
        _age(obj, now),
        *_containers(_template_spec(obj)),
    ]


def _daemonset_cells(obj: Obj, now: datetime) -> list[Any]:
    status = obj.get("status") or {}
    counts = [
        int(status.get(k) or 0)
        for k in (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        )
    ]
    return [
        obj["metadata"]["name"],
        *counts,
        _labels(_template_spec(obj).get("nodeSelector")),
        _age(obj, now),
        *_containers(_template_spec(obj)),
        _label_selector((obj.get("spec") or {}).get("selector")),
    ]


def _job_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {int(spec['parallelism'])}"
    else:
        completions = f"{succeeded}/1"
    start, end = _parse(status.get("startTime")), _parse(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(((end or now) - start).total_seconds())
    return [
        obj["metadata"]["name"],
        completions,
        duration,
        _age(obj, now),
        *_containers(_template_spec(obj)),
        _label_selector(spec.get("selector")),
    ]


def _cronjob_cells(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    selector = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("selector")
    return [
        obj["metadata"]["name"],
        spec.get("schedule", ""),
        "<unset>" if suspend is None else ("True" if suspend else "False"),
        len(status.get("active") or []),
        since(last, now) if last else NONE,
        _age(obj, now),
        *_containers(_template_spec(obj)),
        _label_selector(selector),
    ]


# --- services, nodes, namespaces, events -----------------------------------------------------
def _service_cells(obj: Obj, now: datetime) -> list[Any]:
    spec = obj.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = ",".join(spec.get("externalIPs") or [])
    if kind == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = [i.get("ip") or i.get("hostname") or "" for i in ingress]
        external = ",".join(x for x in [*found, external] if x) or "<pending>"
    elif kind == "ExternalName":
        external = spec.get("externalName", "")
    ports = []
    for port in spec.get("ports") or []:
        node_port = (
            f":{port['nodePort']}"
            if port.get("nodePort") and kind in ("NodePort", "LoadBalancer")
            else ""
        )
        ports.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return [
        obj["metadata"]["name"],
        kind,
        spec.get("clusterIP") or NONE,
        external or NONE,
        ",".join(ports) or NONE,
        _age(obj, now),
        _labels(spec.get("selector")),
    ]


def _node_cells(obj: Obj, now: datetime) -> list[Any]:
    status, labels = obj.get("status") or {}, obj["metadata"].get("labels") or {}
    ready = next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
    )
    state = {"True": "Ready", "False": "NotReady"}.get(str(ready), "Unknown")
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1]
        for k in labels
        if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]
    )
    if labels.get("kubernetes.io/role"):
        roles.append(labels["kubernetes.io/role"])
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next(
            (a["address"] for a in status.get("addresses") or [] if a.get("type") == kind), NONE
        )

    return [
        obj["metadata"]["name"],
        state,
        ",".join(roles) or NONE,
        _age(obj, now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _namespace_cells(obj: Obj, now: datetime) -> list[Any]:
    return [
        obj["metadata"]["name"],
        (obj.get("status") or {}).get("phase", "Active"),
        _age(obj, now),
    ]


def _event_cells(obj: Obj, now: datetime) -> list[Any]:
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    involved = obj.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target += "/" + involved["name"]
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        str(obj.get("message", "")).strip(),
        first,
        int(obj.get("count") or 1),
        obj["metadata"]["name"],
    ]


CELLS: dict[tuple[str, str], Callable[[Obj, datetime], list[Any]]] = {
    ("v1", "Pod"): _pod_cells,
    ("apps/v1", "Deployment"): _deployment_cells,
    ("apps/v1", "ReplicaSet"): _replicaset_cells,
    ("apps/v1", "StatefulSet"): _statefulset_cells,
    ("apps/v1", "DaemonSet"): _daemonset_cells,
    ("batch/v1", "Job"): _job_cells,
    ("batch/v1", "CronJob"): _cronjob_cells,
    ("v1", "Service"): _service_cells,
    ("v1", "Node"): _node_cells,
    ("v1", "Namespace"): _namespace_cells,
    ("v1", "Event"): _event_cells,
}


# --- the Table -------------------------------------------------------------------------------
def wants_table(accept: str) -> bool:
    """kubectl's Accept lists Table first and plain JSON as the fallback."""
    first = accept.split(",")[0].replace(" ", "")
    return "as=Table" in first and "g=meta.k8s.io" in first


def table(
    api_version: str,
    kind: str,
    objects: list[Obj],
    resource_version: str,
    include: str = "Metadata",
    printer_columns: list[Obj] | None = None,
    builtin: bool = True,
    now: datetime | None = None,
) -> Obj:
    """The Table for `objects`; `include` as the includeObject parameter (None, Metadata,
    Object); `printer_columns`: a CRD version's additionalPrinterColumns."""
    now = now or datetime.now(UTC)
    key = (api_version, kind)
    rows_of: Callable[[Obj, datetime], list[Any]]
    if key in CELLS:
        columns, rows_of = COLUMNS[key], CELLS[key]
        definitions = [_definition(c) for c in columns]
    elif builtin:
        definitions = [_definition(c) for c in DEFAULT_COLUMNS]

        def rows_of(obj: Obj, _: datetime) -> list[Any]:
            return [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]
    else:
        definitions, rows_of = _custom(printer_columns or [])
    rows = [{"cells": rows_of(o, now), **_row_object(o, include)} for o in objects]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def _definition(column: Column) -> Obj:
    name, kind, priority = column
    entry: Obj = {
        "name": name,
        "type": kind,
        "format": "name" if name == "Name" else "",
        "description": "",
        "priority": priority,
    }
    return entry


def _custom(printer_columns: list[Obj]) -> tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]:
    """The CRD table: Name, each additionalPrinterColumn, or Age when none is given."""
    extra = printer_columns or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    definitions = [_definition(_NAME)] + [
        {
            "name": c.get("name", ""),
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": int(c.get("priority", 0)),
        }
        for c in extra
    ]

    def cells(obj: Obj, now: datetime) -> list[Any]:
        row: list[Any] = [obj["metadata"]["name"]]
        for column in extra:
            value = _path(obj, str(column.get("jsonPath", "")))
            if column.get("type") == "date":
                value = since(str(value), now) if value else "<unknown>"
            row.append(value)
        return row

    return definitions, cells


def _path(obj: Obj, json_path: str) -> Any:
    current: Any = obj
    for part in json_path.strip().lstrip(".").split("."):
        current = current.get(part) if isinstance(current, dict) else None
    return current


def _row_object(obj: Obj, include: str) -> Obj:
    if include == "None":
        return {}
    if include == "Object":
        return {"object": obj}
    return {
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    }
