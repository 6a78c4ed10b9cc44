"""The sim's kube-scheduler and the DaemonSet controller's node choice: taints, tolerations
and nodeSelector, with the default scheduler's words when a pod fits no node.

Grounded in kubernetes v1.28 (tests/data/facts/charts.yml, `scheduler.*`): the filter plugins
run in order NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, ..., and a node
reports the first one that rejects it; TaintToleration and NodeAffinity reject as
UnschedulableAndUnresolvable, so preemption says it is not helpful on such nodes. The message
is FitError.Error(): "0/N nodes are available:", the per-node reasons counted ("%v %v") and
sorted, each part closed by " %v.", then the PostFilter (preemption) message the same way,
whose own closing "." gives the doubled period real 1.28 messages end with.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

Obj = dict[str, Any]

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
NO_SCHEDULE_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule only scores
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
INSUFFICIENT_CPU = "Insufficient cpu"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    """Whether one of `tolerations` matches `taint` (core/v1 Toleration.ToleratesTaint)."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key") or ""
        if not key:
            if operator == "Exists":  # an empty key with Exists tolerates every taint
                return True
            continue
        if key != taint.get("key"):
            continue
        if operator == "Exists" or (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def untolerated_taint(pod_spec: Obj, node: Obj) -> Obj | None:
    """The first NoSchedule/NoExecute taint of `node` the pod does not tolerate."""
    tolerations = pod_spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in NO_SCHEDULE_EFFECTS and not tolerates(tolerations, taint):
            found: Obj = taint
            return found
    return None


def selector_matches(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector: every label equal on the node (node affinity is not modelled: no
    workload of the stack uses required node affinity)."""
    labels = node.get("metadata", {}).get("labels") or {}
    return all(
        labels.get(key) == value for key, value in (pod_spec.get("nodeSelector") or {}).items()
    )


def rejection(pod_spec: Obj, node: Obj) -> str | None:
    """Why the filter plugins reject `node` for this pod (the first plugin that does), or
    None: it fits."""
    taint = untolerated_taint(pod_spec, node)
    if taint is not None:
        return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
    if not selector_matches(pod_spec, node):
        return SELECTOR_MISMATCH
    return None


def eligible(pod_spec: Obj, nodes: list[Obj]) -> list[Obj]:
    """The nodes a pod (or a DaemonSet's pod) may run on, in the given order."""
    return [node for node in nodes if rejection(pod_spec, node) is None]


def choose(pod_spec: Obj, nodes: list[Obj], seed: str) -> Obj | None:
    """A node for the pod: a stable pick among the eligible ones, None when none fits."""
    fits = eligible(pod_spec, nodes)
    if not fits:
        return None
    return fits[int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) % len(fits)]


def unschedulable_message(pod_spec: Obj, nodes: list[Obj]) -> str:
    """The FailedScheduling message (and PodScheduled condition message) for a pod no node
    takes. Nodes that pass the filters lack CPU (NodeResourcesFit rejects as Unschedulable:
    preemption looks for victims there and finds none): the sim's Pending fault."""
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for node in nodes:
        why = rejection(pod_spec, node)
        if why is None:
            reasons[INSUFFICIENT_CPU] += 1
            preemption[NO_VICTIMS] += 1
        else:
            reasons[why] += 1
            preemption[NOT_HELPFUL] += 1
    total = len(nodes)
    inner = f"0/{total} nodes are available: {_histogram(preemption)}."
    return f"0/{total} nodes are available: {_histogram(reasons)}. preemption: {inner}."


def _histogram(counts: Counter[str]) -> str:
    return ", ".join(sorted(f"{count} {reason}" for reason, count in counts.items()))
