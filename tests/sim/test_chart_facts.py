"""The sim's chart data against the facts of the real render (tests/data/facts/charts.yml) and
the scheduler's against kube-scheduler 1.28's (tests/data/facts/scheduler.yml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck import static
from stackcheck.sim import scheduler
from stackcheck.sim.content import data_files, read_objects

FACTS_DIR = Path(__file__).resolve().parents[1] / "data" / "facts"
CHART_FACTS = yaml.safe_load((FACTS_DIR / "charts.yml").read_text(encoding="utf-8"))
SCHEDULER_FACTS = yaml.safe_load((FACTS_DIR / "scheduler.yml").read_text(encoding="utf-8"))
CP = "node-role.kubernetes.io/control-plane"
Obj = dict[str, Any]
_MISSING = object()


def sim_objects() -> dict[str, Obj]:
    objects = {}
    for path in data_files():
        for obj in read_objects(path):
            meta = obj["metadata"]
            ident = "/".join(p for p in (obj["kind"], meta.get("namespace"), meta["name"]) if p)
            objects[ident] = obj
    return objects


SIM = sim_objects()


def resolve(obj: Any, path: str) -> Any:
    """A dotted path; `name[x]` picks the item named x of the list `name`."""
    node = obj
    for part in path.split("."):
        match = re.fullmatch(r"([\w-]+)\[([^\]]+)\]", part)
        key, item = (match.group(1), match.group(2)) if match else (part, None)
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
        if item is not None:
            node = next((i for i in node or [] if i.get("name") == item), _MISSING)
            if node is _MISSING:
                return node
    return node


def in_sim(fact: Obj) -> bool:
    return str(fact["object"]) in SIM


FACTS_IN_SIM = [f for f in CHART_FACTS["facts"] if in_sim(f)]


@pytest.mark.parametrize(
    "fact", FACTS_IN_SIM, ids=[f"{f['object']}:{f['path']}" for f in FACTS_IN_SIM]
)
def test_sim_chart_data_holds_the_rendered_fact(fact: Obj) -> None:
    found = resolve(SIM[fact["object"]], fact["path"])
    value = None if found is _MISSING else found
    assert value == fact["value"], f"{fact['what']} of {fact['object']}: source {fact['source']}"


def test_every_fact_names_a_known_source() -> None:
    sources = set(CHART_FACTS["sources"])
    assert {f["source"] for f in CHART_FACTS["facts"]} <= sources
    scheduler_sources = set(SCHEDULER_FACTS["sources"])
    for fact in SCHEDULER_FACTS["facts"]:
        assert set(fact["source"]) <= scheduler_sources, fact["what"]


def test_every_chart_object_of_the_sim_has_facts() -> None:
    """No workload or Service of the sim's chart data escapes the render's facts."""
    covered = {f["object"] for f in FACTS_IN_SIM}
    chart_objects = {
        ident
        for ident, obj in SIM.items()
        if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "CronJob", "Service")
    }
    assert sorted(chart_objects - covered) == []


def test_facts_about_objects_the_sim_lacks_are_only_placement_of_hooks_and_resources() -> None:
    """A sim object dropped from the data must not drop its facts silently."""
    missing = {f["object"] for f in CHART_FACTS["facts"] if not in_sim(f)}
    assert missing and all(
        o.split("/")[0] in ("Job", "Prometheus", "Alertmanager") for o in missing
    ), sorted(missing)


def test_the_facts_show_what_the_sim_must_hold() -> None:
    """Spot checks a reader can verify against the issue: the differences it listed."""

    def value(ident: str, path: str) -> Any:
        return next(
            f["value"] for f in CHART_FACTS["facts"] if f["object"] == ident and f["path"] == path
        )

    operator = "Deployment/monitoring/prometheus-kube-prometheus-operator"
    assert value(operator, "spec.template.spec.containers[kube-prometheus-stack].image") == (
        "quay.io/prometheus-operator/prometheus-operator:v0.77.2"
    )
    prometheus = "StatefulSet/monitoring/prometheus-prometheus-kube-prometheus-prometheus"
    assert value(prometheus, "spec.template.spec.containers[prometheus].image") == (
        "quay.io/prometheus/prometheus:v2.55.0"
    )
    assert value("Service/linkerd/linkerd-policy", "spec.clusterIP") == "None"
    assert value("CronJob/linkerd/linkerd-heartbeat", "spec.successfulJobsHistoryLimit") == 0


def test_prometheus_retention_is_our_values() -> None:
    sts = SIM["StatefulSet/monitoring/prometheus-prometheus-kube-prometheus-prometheus"]
    args = resolve(sts, "spec.template.spec.containers[prometheus].args")
    assert "--storage.tsdb.retention.time=1d" in args


def test_recorded_placement_keys_place_what_the_render_placed() -> None:
    """stackcheck/data/chart-placement.yml (what the static rule checks) lists only templates
    that the render, with our values, pinned to the control plane."""
    placed = {}
    for fact in CHART_FACTS["facts"]:
        if fact["path"].endswith(".nodeSelector"):
            kind, *_, name = fact["object"].split("/")
            placed[f"{kind}/{name}"] = (fact["value"] or {}).get(CP) == ""
    charts = yaml.safe_load(static.CHART_PLACEMENT.read_text(encoding="utf-8"))["charts"]
    listed = [t for entry in charts for templates in entry["keys"].values() for t in templates]
    assert listed and all(placed.get(template) for template in listed), [
        t for t in listed if not placed.get(t)
    ]


def _node(role: str) -> Obj:
    if role == "control-plane":
        return {
            "metadata": {"name": "cp", "labels": {CP: ""}},
            "spec": {"taints": [{"key": CP, "effect": "NoSchedule"}]},
        }
    return {"metadata": {"name": role, "labels": {}}, "spec": {}}


@pytest.mark.parametrize(
    "fact", SCHEDULER_FACTS["facts"], ids=[str(i) for i in range(len(SCHEDULER_FACTS["facts"]))]
)
def test_scheduler_words_it_as_kube_scheduler_1_28(fact: Obj) -> None:
    nodes = [_node(role) for role in fact["nodes"]]
    assert scheduler.unschedulable_message(fact["pod"], nodes) == fact["value"]
