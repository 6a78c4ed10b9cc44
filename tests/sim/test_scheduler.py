"""The sim's scheduler: taints against tolerations, nodeSelector, and the default
scheduler's (v1.28) FailedScheduling wording."""

from __future__ import annotations

from typing import Any

from stackcheck.sim import scheduler

Obj = dict[str, Any]
CP = "node-role.kubernetes.io/control-plane"
CP_TAINT = {"key": CP, "effect": "NoSchedule"}
PLACED = {
    "nodeSelector": {CP: ""},
    "tolerations": [{"key": CP, "operator": "Exists", "effect": "NoSchedule"}],
}


def node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


WORKERS = [node("a-worker"), node("b-worker")]
CONTROL_PLANE = node("control-plane", {CP: ""}, [CP_TAINT])


def test_tolerations_match_as_kubernetes_matches_them() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert scheduler.tolerates([{"operator": "Exists"}], taint)  # empty key: everything
    assert scheduler.tolerates([{"key": "k", "operator": "Exists"}], taint)  # any effect
    assert scheduler.tolerates([{"key": "k", "value": "v", "effect": "NoSchedule"}], taint)
    assert not scheduler.tolerates([{"key": "k", "value": "w"}], taint)
    assert not scheduler.tolerates(
        [{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint
    )
    assert not scheduler.tolerates([{"key": "other", "operator": "Exists"}], taint)
    assert not scheduler.tolerates([], taint)


def test_placed_pod_goes_to_the_control_plane_only() -> None:
    nodes = [*WORKERS, CONTROL_PLANE]
    assert scheduler.eligible(PLACED, nodes) == [CONTROL_PLANE]
    assert scheduler.choose(PLACED, nodes, "ns/pod") is CONTROL_PLANE


def test_unplaced_pod_avoids_the_tainted_node() -> None:
    nodes = [*WORKERS, CONTROL_PLANE]
    assert scheduler.eligible({}, nodes) == WORKERS
    assert scheduler.choose({}, [CONTROL_PLANE], "ns/pod") is None


def test_prefer_no_schedule_does_not_filter() -> None:
    soft = node("soft", taints=[{"key": "x", "effect": "PreferNoSchedule"}])
    assert scheduler.eligible({}, [soft]) == [soft]


def test_daemonset_tolerating_everything_runs_everywhere() -> None:
    nodes = [*WORKERS, CONTROL_PLANE]
    assert scheduler.eligible({"tolerations": [{"operator": "Exists"}]}, nodes) == nodes


def test_message_counts_reasons_sorted_with_the_double_period() -> None:
    nodes = [*WORKERS, CONTROL_PLANE]
    selector_only = {"nodeSelector": {CP: ""}}  # selects the control plane, tolerates nothing
    assert scheduler.unschedulable_message(selector_only, nodes) == (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node "
        "affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not "
        "helpful for scheduling.."
    )


def test_taint_is_reported_before_the_selector() -> None:
    """TaintToleration runs before NodeAffinity: a node failing both reports the taint."""
    assert scheduler.rejection({"nodeSelector": {"disk": "ssd"}}, CONTROL_PLANE) == (
        "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
    )
