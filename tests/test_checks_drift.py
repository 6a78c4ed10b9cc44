"""Drift: the partial match on objects shaped as the API server returns them, the stack
file's warn/ignore rules, and each manifest object's file and line."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from stackcheck.checks import model
from stackcheck.checks.drift import (
    differences,
    manifest_objects,
    manifests_drift,
    merge_key,
    same_value,
)
from stackcheck.checks.model import Status
from stackcheck.errors import UsageError
from stackcheck.gitobjects import load_objects
from stackcheck.stackfile import DriftRule, parse_stack
from tests.kubefakes import ROOT, real_stack

LIVE_DEPLOYMENT = {  # as the API server returns it: defaults filled, kubectl's annotation
    "metadata": {
        "name": "web",
        "namespace": "bookinfo",
        "uid": "u-1",
        "generation": 3,
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "deployment.kubernetes.io/revision": "2",
        },
        "labels": {"app": "web"},
    },
    "spec": {
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "dnsPolicy": "ClusterFirst",
                "containers": [
                    {"name": "sidecar", "image": "busybox:1"},
                    {
                        "name": "web",
                        "image": "web:1",
                        "imagePullPolicy": "IfNotPresent",
                        "terminationMessagePath": "/dev/termination-log",
                        "ports": [{"containerPort": 9080, "protocol": "TCP", "hostPort": 30080}],
                        "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}},
                    },
                ],
            },
        },
    },
    "status": {"availableReplicas": 1},
}
GIT_DEPLOYMENT = {
    "metadata": {"name": "web", "namespace": "bookinfo", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "web:1",
                        "ports": [{"containerPort": "9080", "hostPort": 30080}],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "resources": {"requests": {"cpu": "0.1", "memory": "16777216"}},
                    }
                ]
            },
        },
    },
}


def test_what_the_server_defaults_or_adds_is_not_drift() -> None:
    assert list(differences(GIT_DEPLOYMENT, LIVE_DEPLOYMENT)) == []


def test_a_patched_field_is_reported_by_its_path_with_both_values() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    web = live["spec"]["template"]["spec"]["containers"][1]
    web["image"] = "web:2"
    web["ports"][0]["hostPort"] = 30081
    live["spec"]["replicas"] = 3
    found = {path: (git, now) for path, git, now in differences(GIT_DEPLOYMENT, live)}
    assert found == {
        "spec.replicas": (1, 3),
        "spec.template.spec.containers[name=web].image": ("web:1", "web:2"),
        "spec.template.spec.containers[name=web].ports[containerPort=9080].hostPort": (
            30080,
            30081,
        ),
    }


def test_a_removed_field_and_a_removed_item_are_drift() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    del live["spec"]["template"]["spec"]["containers"][1]["env"][0]  # B
    live["metadata"]["labels"] = {}
    paths = [path for path, _, _ in differences(GIT_DEPLOYMENT, live)]
    assert paths == ["metadata.labels.app", "spec.template.spec.containers[name=web].env[name=B]"]


@pytest.mark.parametrize(
    ("git", "live", "same"),
    [
        ("100m", "0.1", True),
        ("0.1", "100m", True),
        (1, "1", True),
        ("16Mi", "16777216", True),
        ("1Gi", "1024Mi", True),
        ("1e3", "1k", True),
        ("5m", "50m", False),
        (True, "true", False),
        (False, 0, False),
        ("enabled", "enabled", True),
        ("enabled", "disabled", False),
        ("", None, False),
    ],
)
def test_values_compare_as_kubernetes_stores_them(git: object, live: object, same: bool) -> None:
    assert same_value(git, live) is same


def test_lists_without_a_merge_key_compare_element_by_element() -> None:
    assert merge_key([{"effect": "NoSchedule"}, {"effect": "NoExecute"}]) is None
    assert merge_key([{"key": "a"}, {"key": "a"}]) is None  # not unique: by position
    found = list(differences({"args": ["-c", "sleep 1"]}, {"args": ["-c", "sleep 2"]}))
    assert found == [("args[1]", "sleep 1", "sleep 2")]


def test_the_real_manifests_carry_their_file_and_line() -> None:
    objects = load_objects(ROOT, "manifests/applications/bookinfo-with-linkerd.yml", "bookinfo")
    namespace = next(o for o in objects if o.kind == "Namespace")
    lines = (ROOT / namespace.file).read_text(encoding="utf-8").splitlines()
    assert namespace.ref == "Namespace bookinfo"
    assert lines[namespace.line - 1] == "apiVersion: v1"
    assert lines[namespace.line] == "kind: Namespace"
    productpage = next(o for o in objects if o.name == "productpage-v1" and o.kind == "Deployment")
    assert productpage.namespace == "bookinfo"
    assert lines[productpage.line] == "kind: Deployment"


def _live_as_git(component: str) -> dict[model.Read, object]:
    """Readings in which every object is exactly its manifest (plus a server field)."""
    stack = real_stack()
    readings: dict[model.Read, dict[str, object]] = {}
    for obj in manifest_objects(stack, stack.component(component)):
        read = (
            model.namespaces() if obj.namespace is None else model.objects(obj.kind, obj.namespace)
        )
        live = copy.deepcopy(obj.body)
        live["metadata"]["uid"] = "u-" + obj.name
        readings.setdefault(read, {})[obj.name] = live
    return dict(readings)


def test_bookinfo_as_git_passes_and_a_removed_annotation_fails_naming_the_line() -> None:
    stack = real_stack()
    objects = manifest_objects(stack, stack.component("bookinfo"))
    readings = _live_as_git("bookinfo")
    assert manifests_drift(stack, objects, readings).status is Status.PASSED
    namespaces = readings[model.namespaces()]
    assert isinstance(namespaces, dict)
    namespaces["bookinfo"]["metadata"]["annotations"] = {}
    result = manifests_drift(stack, objects, readings)
    assert result.failures == (
        'Namespace bookinfo: metadata.annotations["linkerd.io/inject"]: git "enabled", '
        "live (absent) (manifests/applications/bookinfo-with-linkerd.yml:5)",
    )
    assert result.at == (
        ("manifests/applications/bookinfo-with-linkerd.yml", 5, result.failures[0]),
    )
    evidence = json.loads(result.evidence[0].text)
    assert evidence[0]["path"] == 'metadata.annotations["linkerd.io/inject"]'
    assert evidence[0]["git"] == "enabled" and evidence[0]["live"] is None


def test_a_missing_object_fails_naming_it() -> None:
    stack = real_stack()
    objects = manifest_objects(stack, stack.component("traffic-generator"))
    result = manifests_drift(stack, objects, {model.objects("Deployment", "bookinfo"): {}})
    assert result.failures == (
        "Deployment bookinfo/traffic-generator does not exist, git "
        "declares it (manifests/applications/traffic-generator.yml:3)",
    )


def test_stack_file_rules_warn_or_ignore_a_path_and_what_lies_under_it() -> None:
    stack = real_stack()
    objects = manifest_objects(stack, stack.component("traffic-generator"))
    readings = _live_as_git("traffic-generator")
    deployments = readings[model.objects("Deployment", "bookinfo")]
    assert isinstance(deployments, dict)
    live = deployments["traffic-generator"]
    live["spec"]["replicas"] = 2
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "curl:9"
    ref = "Deployment bookinfo/traffic-generator"
    warned = replace(stack, drift_warn=(DriftRule(ref, "spec.replicas", "HPA scales it"),))
    result = manifests_drift(warned, objects, readings)
    assert result.status is Status.FAILED
    assert [w.split(": ")[1] for w in result.warnings] == ["spec.replicas"]
    assert result.warnings[0].endswith("(drift.warn: HPA scales it)")
    ignored = replace(
        warned,
        drift_ignore=(
            DriftRule(ref, "spec.template.spec.containers", "patched by hand on purpose"),
        ),
    )
    result = manifests_drift(ignored, objects, readings)
    assert result.status is Status.WARNING and result.failures == ()
    evidence = json.loads(result.evidence[0].text)
    assert [e["path"] for e in evidence] == ["spec.replicas"]  # the ignored path is left out


STACK_HEAD = "version: 1\ncomponents: [{name: a, namespace: a}]\n"


def test_drift_rules_need_a_reason_and_a_well_formed_object() -> None:
    stack = parse_stack(
        STACK_HEAD + "drift:\n  warn: [{object: Deployment a/b, path: "
        "spec.replicas, reason: scaled by an HPA}]\n",
        "stack.yml",
    )
    assert stack.drift_warn == (DriftRule("Deployment a/b", "spec.replicas", "scaled by an HPA"),)
    with pytest.raises(UsageError, match="reason"):
        parse_stack(
            STACK_HEAD + "drift: {ignore: [{object: Deployment a/b, path: x}]}\n", "stack.yml"
        )
    with pytest.raises(UsageError, match="drift"):
        parse_stack(
            STACK_HEAD + "drift: {ignore: [{object: a/b, path: x, reason: r}]}\n", "stack.yml"
        )


def test_every_helm_component_with_values_has_a_drift_check() -> None:
    from stackcheck.checks.catalog import build_checks

    ids = {c.id for c in build_checks(real_stack())}
    assert {
        "drift.helm[kube-prometheus-stack]",
        "drift.helm[linkerd-control-plane]",
        "drift.helm[linkerd-viz]",
        "drift.manifests[bookinfo]",
        "drift.manifests[traffic-generator]",
        "drift.manifests[kube-prometheus-stack]",
    } <= ids
    assert Path(real_stack().source).name == "stack.yml"


def test_manifests_with_anchors_load_as_kubectl_takes_them(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_text(
        "# a comment\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n"
        "  labels: &labels {app: a}\n  annotations: *labels\n---\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
        encoding="utf-8",
    )
    found = load_objects(tmp_path, "m.yml", "default")
    assert [(o.ref, o.line) for o in found] == [
        ("ServiceAccount default/a", 2),
        ("Namespace n", 10),
    ]
    assert found[0].body["metadata"]["annotations"] == {"app": "a"}


def test_the_chart_images_drift_expects_are_the_rendered_ones() -> None:
    """stackcheck/data/chart-images.yml holds every image fact of the real render (and
    nothing else), at the versions stack.yml pins."""
    from stackcheck.checks.drift import chart_images

    facts = yaml.safe_load((ROOT / "tests/data/facts/charts.yml").read_text(encoding="utf-8"))
    rendered = {}
    for fact in facts["facts"]:
        match = re.search(r"(containers|initContainers)\[([^\]]+)\]\.image$", fact["path"])
        if match:
            kind, _, name = fact["object"].split("/")
            rendered[(f"{kind}/{name}", match.group(1), match.group(2))] = fact["value"]
    recorded = {}
    for component in real_stack().components:
        if component.helm is None or component.helm.chart == "linkerd-crds":
            continue
        images = chart_images(component.helm.chart, component.helm.version)
        assert images is not None, component.helm
        recorded.update(
            {
                (w, key, c): image
                for w, lists in images.items()
                for key, found in lists.items()
                for c, image in found.items()
            }
        )
    assert recorded == rendered


def test_what_our_values_make_observable() -> None:
    from stackcheck.checks.drift import helm_expectations

    stack = real_stack()
    expected = helm_expectations(stack, stack.component("kube-prometheus-stack"))
    found = {(e.kind, e.name): e for e in expected if "chart" not in e.source}
    assert found[("PersistentVolumeClaim", None)].want is None  # none may exist
    grafana = found[("Service", "prometheus-grafana")]
    assert grafana.want == {"spec": {"type": "NodePort", "ports": [{"nodePort": 30300}]}}
    assert grafana.source.endswith("prometheus-stack-values.yml: grafana.service")
    placed = found[("Deployment", "prometheus-kube-prometheus-operator")]
    assert placed.source.endswith(": prometheusOperator")
    assert placed.want is not None
    assert placed.want["spec"]["template"]["spec"]["nodeSelector"] == {
        "node-role.kubernetes.io/control-plane": ""
    }
    images = next(e for e in expected if e.name == "prometheus-grafana" and "chart" in e.source)
    assert {"name": "grafana", "image": "docker.io/grafana/grafana:11.3.0"} in images.want["spec"][
        "template"
    ]["spec"]["containers"]  # type: ignore[index]
    linkerd = {
        (e.kind, e.name) for e in helm_expectations(stack, stack.component("linkerd-control-plane"))
    }
    assert ("CronJob", "linkerd-heartbeat") in linkerd
