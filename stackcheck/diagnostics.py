"""Evidence for a failed check: a describe-like pod summary, its events, its last logs, or
the HTTP exchange. Bounded, and redacted before it leaves this module."""

from __future__ import annotations

import re
from typing import Any

from stackcheck.checks import Evidence
from stackcheck.checks.http import HttpAnswer
from stackcheck.checks.pods import container_status, long_running_containers
from stackcheck.kube import ApiFailure, Kube
from stackcheck.redact import REDACTOR

Obj = dict[str, Any]
LOG_LINES = 30
MAX_EVENTS = 10
BODY_EXCERPT = 2048
NOTABLE_LINES = 10
NOTABLE_WIDTH = 200
_NOTABLE = re.compile(r"(?i)error|exception|fail|denied|unavailable|forbidden|unauthori[sz]ed")


def pod_evidence(kube: Kube, pod: Obj) -> Evidence:
    """`pod` as the check judged it (lists hold a view of a pod: checks.podview.PodView), read
    again whole, as `kubectl describe` reads it; the view when it cannot be read."""
    meta = pod.get("metadata", {})
    ns, name = meta.get("namespace", "?"), meta.get("name", "?")
    pod = _whole(kube, ns, name) or pod
    REDACTOR.add_pod(pod)  # its env secrets may show up again in its logs
    parts = [describe_pod(pod), _events(kube, ns, name)]
    parts += [_logs(kube, ns, name, c) for c in _troubled_containers(pod)]
    return Evidence(f"pod {ns}/{name}", REDACTOR.text("\n\n".join(parts)))


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
    lines += [f"  {c.get('type')}={c.get('status')} {c.get('reason', '')} {c.get('message', '')}"
              .rstrip() for c in status.get("conditions") or []]
    lines.append("Containers:")
    for container in long_running_containers(pod):
        cname = container.get("name", "?")
        state = container_status(pod, cname) or {}
        lines.append(f"  {cname}: image={container.get('image')} ready={state.get('ready')} "
                     f"restarts={state.get('restartCount', 0)} state={state.get('state', {})}")
        env_names = [e.get("name") for e in container.get("env") or []]
        if env_names:
            lines.append(f"    env (names only): {', '.join(map(str, env_names))}")
    return "\n".join(lines)


def _whole(kube: Kube, ns: str, name: str) -> Obj | None:
    try:
        return kube.get(f"/api/v1/namespaces/{ns}/pods/{name}")
    except ApiFailure:
        return None


def _events(kube: Kube, ns: str, name: str) -> str:
    try:
        events = kube.list_kind("Event", ns, field_selector=f"involvedObject.name={name}")
    except ApiFailure as exc:
        return f"Events: unavailable ({exc.reason})"
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    lines = [f"  {e.get('type')} {e.get('reason')} (x{e.get('count', 1)}): {e.get('message')}"
             for e in events[-MAX_EVENTS:]]
    return "Events:\n" + ("\n".join(lines) if lines else "  <none>")


def _logs(kube: Kube, ns: str, name: str, container: str) -> str:
    try:
        text = kube.pod_log(ns, name, container, LOG_LINES)
    except ApiFailure as exc:
        text = f"unavailable ({exc.reason})"
    return f"Last {LOG_LINES} log lines of {container}:\n{text}"


def _troubled_containers(pod: Obj) -> list[str]:
    names = []
    for container in long_running_containers(pod):
        status = container_status(pod, container.get("name", ""))
        if status is not None and not status.get("ready"):
            names.append(str(container.get("name")))
    return names


def http_evidence(answer: HttpAnswer) -> Evidence:
    """The request, status, headers (secret ones masked) and a bounded body excerpt: its
    head, plus the lines of note further down (an error message deep in a 200 page)."""
    headers = REDACTOR.headers(answer.headers)
    text = answer.body.decode("utf-8", "replace")
    head, rest = text[:BODY_EXCERPT], text[BODY_EXCERPT:]
    body = head
    if rest:
        first = head.count("\n") + 1
        notable = [(first + i, line.strip()[:NOTABLE_WIDTH])
                   for i, line in enumerate(rest.splitlines()) if _NOTABLE.search(line)]
        body += f"\n... ({len(answer.body) - len(head.encode())} more bytes"
        body += "; lines of note:)\n" if notable else ")"
        body += "".join(f"{n:>5}: {line}\n" for n, line in notable[:NOTABLE_LINES])
    return Evidence(f"GET {answer.url}",
                    f"GET {answer.url}\n\nHTTP {answer.status} {answer.reason}\n"
                    + "".join(f"{k}: {v}\n" for k, v in headers.items())
                    + f"\n{REDACTOR.text(body)}")
