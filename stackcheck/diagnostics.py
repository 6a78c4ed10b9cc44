"""Evidence for a failed check's pods: a describe-like summary, its events, its last logs.
Read only once the check has failed, bounded, and redacted before it leaves this module."""

from __future__ import annotations

from stackcheck.checks.model import Evidence, Obj, Reader, ReadFailure
from stackcheck.checks.pods import container_status, long_running_containers
from stackcheck.podview import container_env
from stackcheck.redact import REDACTOR

LOG_LINES = 30
MAX_EVENTS = 10


def pod_evidence(reader: Reader, namespace: str, name: str) -> Evidence:
    """The pod read again whole, as `kubectl describe` reads it, its events and the last
    logs of its containers that are not ready."""
    try:
        pod = reader.pod(namespace, name)
    except ReadFailure as exc:
        return Evidence(
            f"pod {namespace}/{name}",
            f"pod {namespace}/{name}: unavailable ({REDACTOR.text(exc.reason)})",
        )
    REDACTOR.add_pod(pod)  # its env secrets may show up again in its logs
    parts = [describe_pod(pod), _events(reader, namespace, name)]
    parts += [_logs(reader, namespace, name, c) for c in _troubled_containers(pod)]
    return Evidence(f"pod {namespace}/{name}", REDACTOR.text("\n\n".join(parts)))


def describe_pod(pod: Obj) -> str:
    """What `kubectl describe pod` shows that matters here; env values never appear."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    lines = [
        f"Name:       {meta.get('name')}",
        f"Namespace:  {meta.get('namespace')}",
        f"Node:       {spec.get('nodeName', '<none>')}",
        f"Phase:      {status.get('phase')}",
        f"Pod IP:     {status.get('podIP', '<none>')}",
        "Conditions:",
    ]
    lines += [
        f"  {c.get('type')}={c.get('status')} {c.get('reason', '')} {c.get('message', '')}".rstrip()
        for c in status.get("conditions") or []
    ]
    lines.append("Containers:")
    for container in long_running_containers(pod):
        cname = container.get("name", "?")
        state = container_status(pod, cname) or {}
        lines.append(
            f"  {cname}: image={container.get('image')} ready={state.get('ready')} "
            f"restarts={state.get('restartCount', 0)} state={state.get('state', {})}"
        )
        env_names = [e.get("name") for e in container_env(container)]
        if env_names:
            lines.append(f"    env (names only): {', '.join(map(str, env_names))}")
    return "\n".join(lines)


def _events(reader: Reader, namespace: str, name: str) -> str:
    try:
        events = reader.events(namespace, name)
    except ReadFailure as exc:
        return f"Events: unavailable ({exc.reason})"
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    lines = [
        f"  {e.get('type')} {e.get('reason')} (x{e.get('count', 1)}): {e.get('message')}"
        for e in events[-MAX_EVENTS:]
    ]
    return "Events:\n" + ("\n".join(lines) if lines else "  <none>")


def _logs(reader: Reader, namespace: str, name: str, container: str) -> str:
    try:
        text = reader.pod_log(namespace, name, container, LOG_LINES)
    except ReadFailure as exc:
        text = f"unavailable ({exc.reason})"
    return f"Last {LOG_LINES} log lines of {container}:\n{text}"


def _troubled_containers(pod: Obj) -> list[str]:
    names = []
    for container in long_running_containers(pod):
        status = container_status(pod, container.get("name", ""))
        if status is not None and not status.get("ready"):
            names.append(str(container.get("name")))
    return names
