"""Manifest conformance: ours pass; broken copies fail naming file, object and field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck import static
from stackcheck.stackfile import Stack, load_stack

ROOT = Path(__file__).resolve().parent.parent
PROM_VALUES = "manifests/observability/prometheus-stack-values.yml"
VIZ_VALUES = "manifests/linkerd/viz-values.yml"
BOOKINFO = "manifests/applications/bookinfo-with-linkerd.yml"
TRAFFIC = "manifests/applications/traffic-generator.yml"
PODMONITORS = "manifests/observability/linkerd-podmonitors.yml"


def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    shutil.copy(ROOT / "stack.yml", tmp_path / "stack.yml")
    return tmp_path


def edit_docs(root: Path, rel: str, change: Callable[[list[Any]], None]) -> None:
    path = root / rel
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")


def edit_values(root: Path, rel: str, change: Callable[[dict[str, Any]], None]) -> None:
    edit_docs(root, rel, lambda docs: change(docs[0]))


def find(docs: list[Any], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def problems(root: Path, rule: str) -> list[str]:
    stack: Stack = load_stack(root / "stack.yml")
    return [str(p) for p in static.check(root, stack) if p.rule == rule]


def test_our_manifests_pass() -> None:
    found = static.check(ROOT, load_stack(ROOT / "stack.yml"))
    assert [str(p) for p in found] == []


def test_every_rule_is_described() -> None:
    assert set(static.RULES) == {
        "schema",
        "mesh-injection",
        "ports",
        "storage",
        "placement",
        "images",
        "resources",
        "podmonitor-selection",
        "secrets",
        "viz-prometheus",
    }


def test_schema_error_names_file_object_and_field(tmp_path: Path) -> None:
    root = copy(tmp_path)

    def change(docs: list[Any]) -> None:
        find(docs, "Deployment", "details-v1")["spec"]["replicas"] = "two"
        find(docs, "Deployment", "ratings-v1")["spec"]["template"]["spec"]["containers"][0][
            "imagePullPolicy_typo"
        ] = "Always"

    edit_docs(root, BOOKINFO, change)
    found = problems(root, "schema")
    assert any(
        p.startswith(
            f"{BOOKINFO}: Deployment/bookinfo/details-v1: spec.replicas: "
            "'two' is not of type 'integer'"
        )
        for p in found
    ), found
    assert any(
        p.startswith(
            f"{BOOKINFO}: Deployment/bookinfo/ratings-v1: spec.template.spec.containers[0]:"
        )
        and "imagePullPolicy_typo" in p
        for p in found
    ), found


def test_custom_resource_validated_against_its_crd(tmp_path: Path) -> None:
    root = copy(tmp_path)

    def change(docs: list[Any]) -> None:
        monitor = next(d for d in docs if d["kind"] == "PodMonitor")
        monitor["spec"]["podMetricsEndpoints"][0]["interval"] = "ten seconds"
        monitor["spec"]["selctor"] = {}

    edit_docs(root, PODMONITORS, change)
    found = problems(root, "schema")
    assert any(
        "spec.podMetricsEndpoints[0].interval: 'ten seconds' does not match" in p for p in found
    ), found
    assert any(p.endswith("'selctor' was unexpected)") for p in found), found
    assert all(p.startswith(f"{PODMONITORS}: PodMonitor/") for p in found)


def test_unknown_kind_has_no_schema(tmp_path: Path) -> None:
    root = copy(tmp_path)
    (root / "manifests/extra.yml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: x}\n",
        encoding="utf-8",
    )
    assert problems(root, "schema") == [
        "manifests/extra.yml: Widget/x/w: apiVersion: no schema for example.com/v1 Widget "
        f"(Kubernetes {static.KUBERNETES_VERSION} or stackcheck/data/crds/)"
    ]


def test_meshed_namespace_must_ask_for_injection(tmp_path: Path) -> None:
    root = copy(tmp_path)

    def change(docs: list[Any]) -> None:
        find(docs, "Namespace", "bookinfo")["metadata"]["annotations"]["linkerd.io/inject"] = (
            "disabled"
        )
        template = find(docs, "Deployment", "reviews-v2")["spec"]["template"]
        template.setdefault("metadata", {}).setdefault("annotations", {})["linkerd.io/inject"] = (
            "disabled"
        )

    edit_docs(root, BOOKINFO, change)
    assert problems(root, "mesh-injection") == [
        f"{BOOKINFO}: Namespace/bookinfo: metadata.annotations.linkerd.io/inject: is "
        "'disabled', must be 'enabled' (stack.yml: meshed)",
        f"{BOOKINFO}: Deployment/bookinfo/reviews-v2: spec.template.metadata.annotations."
        "linkerd.io/inject: opts out of the mesh in a meshed namespace",
    ]


def test_meshed_namespace_must_be_declared(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_docs(root, BOOKINFO, lambda docs: docs.remove(find(docs, "Namespace", "bookinfo")))
    assert problems(root, "mesh-injection") == [
        f"{BOOKINFO}: Namespace/bookinfo: metadata.annotations.linkerd.io/inject: meshed "
        "namespace is not declared in the manifests"
    ]


def test_productpage_host_port(tmp_path: Path) -> None:
    root = copy(tmp_path)

    def change(docs: list[Any]) -> None:
        container = find(docs, "Deployment", "productpage-v1")["spec"]["template"]["spec"][
            "containers"
        ][0]
        for port in container["ports"]:
            if "hostPort" in port:
                port["hostPort"] = 30081

    edit_docs(root, BOOKINFO, change)
    found = problems(root, "ports")
    assert len(found) == 1
    assert found[0].startswith(
        f"{BOOKINFO}: Deployment/bookinfo/productpage-v1: spec.template.spec.containers[0].ports["
    )
    assert found[0].endswith("].hostPort: is 30081, stack.yml expects productpage on 30080")


def test_grafana_node_port(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_values(
        root,
        PROM_VALUES,
        lambda v: v["grafana"]["service"].update(type="ClusterIP", nodePort=30301),
    )
    assert problems(root, "ports") == [
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: grafana.service.type: is "
        "'ClusterIP', must be 'NodePort'",
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: grafana.service.nodePort: is 30301, "
        "stack.yml expects grafana on 30300",
    ]


def test_storage_disabled(tmp_path: Path) -> None:
    root = copy(tmp_path)

    def change(values: dict[str, Any]) -> None:
        values["prometheus"]["prometheusSpec"]["storageSpec"] = {
            "volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "10Gi"}}}}
        }
        del values["alertmanager"]["alertmanagerSpec"]["storage"]
        values["grafana"]["persistence"]["enabled"] = True

    edit_values(root, PROM_VALUES, change)
    found = problems(root, "storage")
    obj = f"{PROM_VALUES}: HelmValues/monitoring/prometheus"
    assert found == [
        f"{obj}: prometheus.prometheusSpec.storageSpec: is {{'volumeClaimTemplate': "
        "{'spec': {'resources': {'requests': {'storage': '10Gi'}}}}}, must be {} (no PVC)",
        f"{obj}: alertmanager.alertmanagerSpec.storage: is (not set), must be {{}} (no PVC)",
        f"{obj}: grafana.persistence.enabled: is True, must be false",
    ]


CP = "node-role.kubernetes.io/control-plane"
CP_VALUES = "manifests/linkerd/control-plane-values.yml"


def unplace(node: dict[str, Any]) -> None:
    node.pop("nodeSelector", None)
    node.pop("tolerations", None)


def test_control_plane_placement_needs_a_toleration(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_values(root, PROM_VALUES, lambda v: v["grafana"].pop("tolerations"))
    assert problems(root, "placement") == [
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: grafana.tolerations: nodeSelector "
        f"{CP} without a toleration of the {CP}:NoSchedule taint: pods stay Pending",
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: grafana: missing a toleration of "
        f"the {CP}:NoSchedule taint: the chart renders Deployment/prometheus-grafana without "
        "it (stack.yml: kube-prometheus-stack has placement: control-plane)",
    ]


def test_values_without_placement_fail(tmp_path: Path) -> None:
    """The seed's placement gone from the values (the charts' defaults): the rule fails."""
    root = copy(tmp_path)
    edit_values(root, CP_VALUES, unplace)
    edit_values(root, VIZ_VALUES, lambda v: unplace(v["metricsAPI"]))
    assert problems(root, "placement") == [
        f"{CP_VALUES}: HelmValues/linkerd/linkerd-control-plane: (top level): missing "
        f'nodeSelector {CP}: "" and a toleration of the {CP}:NoSchedule taint: the chart '
        "renders Deployment/linkerd-identity, Deployment/linkerd-destination, "
        "Deployment/linkerd-proxy-injector, CronJob/linkerd-heartbeat without it (stack.yml: "
        "linkerd-control-plane has placement: control-plane)",
        f"{VIZ_VALUES}: HelmValues/linkerd-viz/linkerd-viz: metricsAPI: missing nodeSelector "
        f'{CP}: "" and a toleration of the {CP}:NoSchedule taint: the chart renders '
        "Deployment/metrics-api without it (stack.yml: linkerd-viz has placement: "
        "control-plane)",
    ]


def test_every_placed_chart_key_is_checked(tmp_path: Path) -> None:
    root = copy(tmp_path)
    for key in ("prometheusOperator", "grafana", "kube-state-metrics"):
        edit_values(root, PROM_VALUES, lambda v, key=key: unplace(v[key]))
    edit_values(root, PROM_VALUES, lambda v: unplace(v["prometheus"]["prometheusSpec"]))
    edit_values(root, PROM_VALUES, lambda v: unplace(v["alertmanager"]["alertmanagerSpec"]))
    edit_values(
        root, PROM_VALUES, lambda v: unplace(v["prometheusOperator"]["admissionWebhooks"]["patch"])
    )
    paths = [p.split(": ")[2] for p in problems(root, "placement")]
    assert paths == [
        "prometheusOperator",
        "prometheusOperator.admissionWebhooks.patch",
        "prometheus.prometheusSpec",
        "alertmanager.alertmanagerSpec",
        "grafana",
        "kube-state-metrics",
    ]


def test_manifest_pod_template_without_placement_fails(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_docs(
        root,
        BOOKINFO,
        lambda docs: unplace(find(docs, "Deployment", "details-v1")["spec"]["template"]["spec"]),
    )
    assert problems(root, "placement") == [
        f"{BOOKINFO}: Deployment/bookinfo/details-v1: spec.template.spec: missing nodeSelector "
        f'{CP}: "" and a toleration of the {CP}:NoSchedule taint (stack.yml: bookinfo has '
        "placement: control-plane)"
    ]


def test_components_without_placement_are_not_pinned(tmp_path: Path) -> None:
    root = copy(tmp_path)
    stack_file = root / "stack.yml"
    stack_file.write_text(
        stack_file.read_text(encoding="utf-8").replace("    placement: control-plane\n", ""),
        encoding="utf-8",
    )
    edit_values(root, CP_VALUES, unplace)
    edit_docs(
        root,
        BOOKINFO,
        lambda docs: unplace(find(docs, "Deployment", "details-v1")["spec"]["template"]["spec"]),
    )
    assert problems(root, "placement") == []


def test_unrecorded_chart_version_fails(tmp_path: Path) -> None:
    root = copy(tmp_path)
    stack_file = root / "stack.yml"
    stack_file.write_text(
        stack_file.read_text(encoding="utf-8").replace(
            'version: "30.12.11"', 'version: "30.12.99"'
        ),
        encoding="utf-8",
    )
    assert problems(root, "placement") == [
        f"{VIZ_VALUES}: HelmValues/linkerd-viz/linkerd-viz: (chart): no recorded placement "
        "keys for linkerd-viz 30.12.99: read its templates (scripts/render-charts.sh) and add "
        "them to stackcheck/data/chart-placement.yml"
    ]


def test_images_are_pinned(tmp_path: Path) -> None:
    root = copy(tmp_path)

    def change(docs: list[Any]) -> None:
        spec = find(docs, "Deployment", "traffic-generator")["spec"]["template"]["spec"]
        spec["containers"][0]["image"] = "docker.io/curlimages/curl:latest"

    edit_docs(root, TRAFFIC, change)
    edit_docs(
        root,
        BOOKINFO,
        lambda docs: find(docs, "Deployment", "details-v1")["spec"]["template"]["spec"][
            "containers"
        ][0].update(image="docker.io/istio/details"),
    )
    assert problems(root, "images") == [
        f"{BOOKINFO}: Deployment/bookinfo/details-v1: spec.template.spec.containers[0].image: "
        "'docker.io/istio/details' has no tag: pin a version",
        f"{TRAFFIC}: Deployment/bookinfo/traffic-generator: spec.template.spec.containers[0]."
        "image: 'docker.io/curlimages/curl:latest' uses :latest: pin a version",
    ]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("nginx:1.27", None),
        ("registry:5000/team/app:1.0", None),
        ("app@sha256:" + "a" * 64, None),
        ("registry:5000/team/app", "has no tag"),
        ("app", "has no tag"),
        ("app:latest", ":latest"),
        ("", "no image"),
    ],
)
def test_image_rules(image: str, problem: str | None) -> None:
    found = static.image_problem(image)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_every_container_requests_resources(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_docs(
        root,
        BOOKINFO,
        lambda docs: find(docs, "Deployment", "ratings-v1")["spec"]["template"]["spec"][
            "containers"
        ][0]["resources"]["requests"].pop("memory"),
    )
    assert problems(root, "resources") == [
        f"{BOOKINFO}: Deployment/bookinfo/ratings-v1: spec.template.spec.containers[0]."
        "resources.requests: no memory request"
    ]


def test_podmonitors_must_be_selected(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_values(
        root,
        PROM_VALUES,
        lambda v: v["prometheus"]["prometheusSpec"].update(
            podMonitorSelectorNilUsesHelmValues=True
        ),
    )

    def change(docs: list[Any]) -> None:
        monitor = next(d for d in docs if d["kind"] == "PodMonitor")
        monitor["metadata"]["labels"]["release"] = "kube-prom"

    edit_docs(root, PODMONITORS, change)
    found = problems(root, "podmonitor-selection")
    assert found[0] == (
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: prometheus.prometheusSpec."
        "podMonitorSelectorNilUsesHelmValues: is True: only monitors labelled release: "
        "prometheus are selected; set false"
    )
    assert len(found) == 2
    assert found[1].startswith(f"{PODMONITORS}: PodMonitor/")
    assert found[1].endswith(
        ": metadata.labels.release: is 'kube-prom'; Prometheus selects release='prometheus'"
    )


def test_no_password_in_git(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_values(root, PROM_VALUES, lambda v: v["grafana"].update(adminPassword="hunter2"))
    assert problems(root, "secrets") == [
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: grafana.adminPassword: a password is "
        'committed; use "" (generated) or grafana.admin.existingSecret'
    ]
    edit_values(root, PROM_VALUES, lambda v: v["grafana"].pop("adminPassword"))
    assert problems(root, "secrets") == [
        f"{PROM_VALUES}: HelmValues/monitoring/prometheus: grafana.adminPassword: not set: the "
        'chart\'s well-known default would be used; set "" (generated) or '
        "grafana.admin.existingSecret"
    ]


def test_no_private_key_in_manifests(tmp_path: Path) -> None:
    root = copy(tmp_path)
    with (root / VIZ_VALUES).open("a", encoding="utf-8") as handle:
        handle.write("# -----BEGIN EC PRIVATE KEY-----\n")
    found = problems(root, "secrets")
    assert len(found) == 1
    assert found[0].startswith(f"{VIZ_VALUES}: (file): line ")
    assert found[0].endswith(": a private key is committed; generate it at deploy time")


def test_viz_uses_the_stack_prometheus(tmp_path: Path) -> None:
    root = copy(tmp_path)
    edit_values(
        root,
        VIZ_VALUES,
        lambda v: v.update(prometheus={"enabled": True}, prometheusUrl="http://prometheus:9090"),
    )
    assert problems(root, "viz-prometheus") == [
        f"{VIZ_VALUES}: HelmValues/linkerd-viz/linkerd-viz: prometheus.enabled: is True, "
        "must be false",
        f"{VIZ_VALUES}: HelmValues/linkerd-viz/linkerd-viz: prometheusUrl: is "
        "'http://prometheus:9090', must be "
        "http://prometheus-kube-prometheus-prometheus.monitoring.svc.cluster.local:9090",
    ]


def test_invalid_yaml_is_reported(tmp_path: Path) -> None:
    root = copy(tmp_path)
    (root / "manifests/broken.yml").write_text("a: [\n", encoding="utf-8")
    assert problems(root, "schema") == ["manifests/broken.yml: (file): line 2: not valid YAML"]
