"""The stack file: the real one loads into typed records; every invalid one is a UsageError
of one line naming the key path and the problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.errors import UsageError
from stackcheck.stackfile import (
    LengthRange,
    YamlRefused,
    load_stack,
    parse_stack,
    yaml_load,
    yaml_load_all,
)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "stack.yml"
BASE: dict[str, Any] = yaml.safe_load(REAL.read_text(encoding="utf-8"))
Edit = Callable[[dict[str, Any]], None]


# --- the real stack file -------------------------------------------------------------------
def test_real_stack_file_loads() -> None:
    stack = load_stack(REAL)
    assert stack.namespaces == ("monitoring", "linkerd", "linkerd-viz", "bookinfo")
    assert stack.meshed_namespaces == ("bookinfo",)
    assert [c.name for c in stack.components if c.placement == "control-plane"] == [
        "kube-prometheus-stack",
        "linkerd-control-plane",
        "linkerd-viz",
        "bookinfo",
        "traffic-generator",
    ]
    assert stack.max_restarts == 3
    assert [w.name for w in stack.component("bookinfo").workloads] == [
        "productpage-v1",
        "details-v1",
        "ratings-v1",
        "reviews-v1",
        "reviews-v2",
        "reviews-v3",
    ]
    assert {e.name: e.expect.status for e in stack.endpoints} == {
        "productpage": 200,
        "grafana-login": 302,
        "grafana-health": 200,
    }
    assert {j.job: j.min_targets for j in stack.scrape_jobs} == {
        "linkerd-proxy": 7,
        "linkerd-controller": 3,
    }
    assert stack.services["prometheus"].proxied == (
        "monitoring/prometheus-kube-prometheus-prometheus"
    )
    assert stack.source == str(REAL) and len(stack.sha256) == 64


def test_length_range_from_the_real_file() -> None:
    length = next(e for e in load_stack(REAL).endpoints if e.name == "productpage").expect.length
    assert length == LengthRange(min=9000, max=15500)  # Bookinfo 1.20.2: 9,429..15,072 bytes
    assert length.holds(9429) and length.holds(15072) and not length.holds(8999)
    assert not length.holds(15501) and not length.holds(3769)


# --- invalid stack files -------------------------------------------------------------------
def setting(path: str, value: Any) -> Edit:
    """Set a dotted key path (list indexes as numbers) to `value`."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = data
        for part in parents:
            node = node[part]
        node[last] = value

    return edit


def removing(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = data
        for part in parents:
            node = node[part]
        del node[last]

    return edit


def duplicating_component(data: dict[str, Any]) -> None:
    data["components"].append(copy.deepcopy(data["components"][0]))


INVALID: dict[str, tuple[Edit, tuple[str, ...]]] = {
    "unknown top-level key": (setting("verify", {"wait": 5}), ("verify: unknown key",)),
    "unknown workload key": (
        setting("components.0.workloads.0.replica", 1),
        ("components[0].workloads[0].replica: unknown key", "allowed: kind, name, replicas"),
    ),
    "wrong type": (
        setting("pods.max_restarts", "three"),
        ("pods.max_restarts", "'three' is not of type 'integer'"),
    ),
    "status as a string": (
        setting("endpoints.0.expect.status", "200"),
        ("endpoints[0].expect.status", "is not of type 'integer'"),
    ),
    "unknown workload kind": (
        setting("components.0.workloads.0.kind", "Deploy"),
        ("components[0].workloads[0].kind", "'Deploy'"),
    ),
    "missing namespace": (
        removing("components.1.namespace"),
        ("components[1]", "'namespace' is a required property"),
    ),
    "missing version": (removing("version"), ("(top level)", "'version' is a required property")),
    "wrong version": (setting("version", 2), ("version", "1 was expected")),
    "negative min_targets": (
        setting("prometheus.scrape_jobs.0.min_targets", -1),
        ("prometheus.scrape_jobs[0].min_targets", "minimum of 1"),
    ),
    "zero min_series": (
        setting("prometheus.queries.0.min_series", 0),
        ("prometheus.queries[0].min_series", "minimum of 1"),
    ),
    "bad location regex": (
        setting("endpoints.1.expect.location", "^/login("),
        ("endpoints[1].expect.location", "'^/login(' is not a 'regex'"),
    ),
    "length min above max": (
        setting("endpoints.0.expect.length", {"min": 6500, "max": 3500}),
        ("endpoints[0].expect.length", "min 6500", "max 3500"),
    ),
    "undefined service": (
        setting("endpoints.2.service", "grafna"),
        ("endpoints[2].service", "'grafna' is not defined under services"),
    ),
    "duplicate component": (
        duplicating_component,
        ("components", "duplicate name 'kube-prometheus-stack'"),
    ),
    "unknown placement": (
        setting("components.0.placement", "controlplane"),
        ("components[0].placement", "'controlplane'"),
    ),
    "bad helm repo URL": (
        setting("components.0.helm.repo", "prometheus-community"),
        ("components[0].helm.repo", "does not match"),
    ),
    "unknown service exposure": (
        setting("services.productpage.via", "hostport"),
        ("services.productpage.via", "'hostport'"),
    ),
    "hostPort through the API server": (
        setting("services.prometheus.via", "hostPort"),
        ("services.prometheus: via: hostPort and service: exclude each other",),
    ),
    "no samples": (setting("endpoints.0.samples", 0), ("endpoints[0].samples", "minimum of 1")),
    "restart window without a unit": (
        setting("pods.restart_window", "60"),
        ("pods.restart_window", "does not match"),
    ),
    "required as a string": (
        setting("components.2.workloads.3.required", "yes"),
        ("components[2].workloads[3].required", "not of type 'boolean'"),
    ),
}


def test_issue_11_keys_load() -> None:
    stack = load_stack(ROOT / "stack.yml")
    assert stack.restart_window == "1h"
    assert stack.services["productpage"].via == "hostPort"
    assert stack.services["grafana"].via == "nodePort"
    assert next(e for e in stack.endpoints if e.name == "productpage").samples == 3
    bookinfo = stack.component("bookinfo")
    assert {(w.name, w.git_replicas) for w in bookinfo.workloads} == {
        (name, 1)
        for name in (
            "productpage-v1",
            "details-v1",
            "ratings-v1",
            "reviews-v1",
            "reviews-v2",
            "reviews-v3",
        )
    }
    assert bookinfo.workloads[0].git_source == "manifests/applications/bookinfo-with-linkerd.yml"
    grafana = next(
        w
        for w in stack.component("kube-prometheus-stack").workloads
        if w.name == "prometheus-grafana"
    )
    assert grafana.git_replicas is None  # a chart's workload: stack.yml gives no number


def assert_one_clear_line(error: UsageError, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message and "Traceback" not in message, message
    assert message.startswith("stack file "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert error.__cause__ is None


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_stack_file_is_a_usage_error_naming_the_key(case: str) -> None:
    edit, fragments = INVALID[case]
    data = copy.deepcopy(BASE)
    edit(data)
    with pytest.raises(UsageError) as caught:
        parse_stack(yaml.safe_dump(data, sort_keys=False), "stack.yml")
    assert_one_clear_line(caught.value, "stack file stack.yml: ", *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "version: 1\ncomponents:\n  - name: [monitoring\n    namespace: x\n",
            ("line 4", "not valid YAML"),
        ),
        ("version: 1\n\tcomponents: []\n", ("line 2", "not valid YAML")),
        ("", ("is empty",)),
        ("# only a comment\n", ("is empty",)),
        ("- version: 1\n", ("expected a mapping at the top, got list",)),
    ],
)
def test_unreadable_stack_file_content(
    tmp_path: Path, text: str, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        load_stack(path)
    assert_one_clear_line(caught.value, str(path), *fragments)


def test_missing_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(UsageError) as caught:
        load_stack(path)
    assert_one_clear_line(caught.value, f"stack file {path}: ")
    assert "no such file" in str(caught.value).lower()


def test_valid_edit_of_the_base_still_loads() -> None:
    """The table's base is valid: each case fails because of its own edit."""
    data = copy.deepcopy(BASE)
    setting("endpoints.0.expect.length", {"min": 3500, "max": 3500})(data)
    stack = parse_stack(yaml.safe_dump(data, sort_keys=False), "stack.yml")
    assert stack.endpoints[0].expect.length == LengthRange(min=3500, max=3500)


# --- hostile YAML and PromQL (issue 13) ---------------------------------------------------
def _alias_bomb(depth: int = 9) -> str:
    lines = ["lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_in_bounded_memory() -> None:
    import tracemalloc

    from stackcheck.stackfile import YamlRefused, yaml_load

    bomb = _alias_bomb()
    assert len(bomb) < 2000
    tracemalloc.start()
    try:
        with pytest.raises(YamlRefused) as refused:
            yaml_load(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"{peak} bytes: the aliases were expanded"
    assert "aliases" in str(refused.value.problem)


def test_the_stack_file_refuses_aliases_with_one_short_line(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(REAL.read_text(encoding="utf-8") + "\n" + _alias_bomb(), encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        load_stack(path)
    message = str(refused.value)
    assert "\n" not in message and len(message) < 400, message
    assert "anchors and aliases" in message and "line " in message


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: 2\na: 3\n",
        "outer:\n  inner: x\n  inner: y\n",
        "- name: p\n  status: 200\n  status: 500\n",
    ],
)
def test_duplicate_keys_are_refused(text: str) -> None:
    from stackcheck.stackfile import YamlRefused, yaml_load

    with pytest.raises(YamlRefused, match="duplicate key"):
        yaml_load(text)


def test_ordinary_yaml_still_loads() -> None:
    from stackcheck.stackfile import yaml_load, yaml_load_all

    assert yaml_load("a: [1, 2]\nb: {c: d}\n") == {"a": [1, 2], "b": {"c": "d"}}
    assert yaml_load_all("a: 1\n---\na: 1\n") == [{"a": 1}, {"a": 1}]  # per document


@pytest.mark.parametrize(
    "promql",
    [
        "sum(rate(request_total[5m])",
        "request_total{namespace=}",
        "sum by namespace (request_total)",
    ],
)
def test_a_promql_syntax_error_is_bad_input(tmp_path: Path, promql: str) -> None:
    data = copy.deepcopy(BASE)
    data["prometheus"]["queries"][0]["promql"] = promql
    path = tmp_path / "stack.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    name = data["prometheus"]["queries"][0]["name"]
    with pytest.raises(UsageError, match=r"prometheus\.queries\[0\]\.promql") as refused:
        load_stack(path)
    assert repr(name) in str(refused.value) and "not valid PromQL" in str(refused.value)


def test_the_stack_files_queries_parse() -> None:
    assert load_stack(REAL).queries


def test_manifests_may_use_anchors_the_stack_file_may_not() -> None:
    """Helm values and manifests are read as helm and kubectl read them (anchors are common
    there: our values pin one placement by anchor); the stack file refuses them."""
    text = "a: &placement {x: 1}\nb: *placement\n"
    assert yaml_load(text, mode="bounded") == {"a": {"x": 1}, "b": {"x": 1}}
    with pytest.raises(YamlRefused, match="not accepted"):
        yaml_load(text)


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    bomb = "l0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)
    )
    with pytest.raises(YamlRefused, match="expand to more than 100,000"):
        yaml_load_all(bomb)
