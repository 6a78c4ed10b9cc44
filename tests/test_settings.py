"""Settings: every option is also an environment variable; the option wins over the variable,
the variable over the default; a bad value is one UsageError naming both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stackcheck.errors import UsageError
from stackcheck.settings import OPTIONS, Settings, resolve


def cli(**given: Any) -> Callable[[str], Any]:
    """What pytest's config.getoption would return: None for options not given."""
    known = {o.dest for o in OPTIONS}
    assert set(given) <= known, set(given) - known
    return lambda dest: given.get(dest)


def settings(env: dict[str, str] | None = None, **given: Any) -> Settings:
    return resolve(cli(**given), env or {})


# --- precedence ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        ({}, {}, 300.0),
        ({}, {"STACKCHECK_WAIT": "30"}, 30.0),
        ({"wait": "5"}, {"STACKCHECK_WAIT": "30"}, 5.0),
        ({"wait": "0"}, {"STACKCHECK_WAIT": "30"}, 0.0),
    ],
)
def test_wait_cli_beats_env_beats_default(
    given: dict[str, str], env: dict[str, str], expected: float
) -> None:
    assert settings(env, **given).wait == expected


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        ({}, {}, "kubeconfig"),
        ({}, {"STACKCHECK_TARGET": "kind"}, "kind"),
        ({"target": "sim"}, {"STACKCHECK_TARGET": "kind"}, "sim"),
    ],
)
def test_target_cli_beats_env_beats_default(
    given: dict[str, str], env: dict[str, str], expected: str
) -> None:
    assert settings(env, **given).target == expected


def test_flags_from_cli_and_env() -> None:
    assert settings().deploy is False
    assert settings({"STACKCHECK_DEPLOY": "yes"}).deploy is True
    assert settings({"STACKCHECK_DEPLOY": "false"}, deploy=True).deploy is True


def test_fail_on_defaults_to_failure_and_env_or_cli_set_it() -> None:
    assert settings().fail_on == "failure"
    assert settings({"STACKCHECK_FAIL_ON": "warning"}).fail_on == "warning"
    assert settings({"STACKCHECK_FAIL_ON": "warning"}, fail_on="failure").fail_on == "failure"


def test_html_report_defaults_on_and_env_or_cli_turn_it_off() -> None:
    assert settings().html_report is True
    assert settings({"STACKCHECK_HTML_REPORT": "false"}).html_report is False
    assert settings({"STACKCHECK_HTML_REPORT": "false"}, html_report="true").html_report is True


def test_url_from_env_is_kept_without_trailing_slash() -> None:
    resolved = settings({"STACKCHECK_GRAFANA_URL": "http://192.0.2.10:30300/"})
    assert resolved.grafana_url == "http://192.0.2.10:30300"
    assert resolved.url_for("grafana") == "http://192.0.2.10:30300"
    assert resolved.url_for("productpage") is None


def test_kubeconfig_falls_back_to_the_kubeconfig_variable() -> None:
    assert settings({"KUBECONFIG": "/etc/kube/admin.conf"}).kubeconfig == Path(
        "/etc/kube/admin.conf"
    )
    assert settings(
        {"KUBECONFIG": "/a.conf", "STACKCHECK_KUBECONFIG": "/b.conf"}, kubeconfig="/c.conf"
    ).kubeconfig == Path("/c.conf")


def test_relative_paths_resolve_against_the_project_root(tmp_path: Path) -> None:
    resolved = resolve(cli(stack_file="other.yml"), {}, base=tmp_path)
    assert resolved.stack_file == tmp_path / "other.yml"
    assert resolved.report_dir == tmp_path / "reports"


# --- invalid values ------------------------------------------------------------------------
INVALID = [  # (option dest, value, from the environment?)
    ("wait", "-1", False),
    ("wait", "-1", True),
    ("wait", "abc", False),
    ("wait", "abc", True),
    ("target", "foo", False),
    ("target", "foo", True),
    ("productpage_url", "productpage:30080", False),
    ("grafana_url", "ftp://192.0.2.10/", True),
    ("grafana_url", "http://grafana:99999", False),
    ("html_report", "maybe", False),
    ("html_report", "maybe", True),
    ("request_timeout", "0", False),
]


@pytest.mark.parametrize(
    ("dest", "value", "from_env"),
    INVALID,
    ids=[f"{d}={v}{'-env' if e else ''}" for d, v, e in INVALID],
)
def test_invalid_value_names_option_variable_and_value(
    dest: str, value: str, from_env: bool
) -> None:
    option = next(o for o in OPTIONS if o.dest == dest)
    with pytest.raises(UsageError) as caught:
        if from_env:
            settings({option.env: value})
        else:
            settings(**{dest: value})
    message = str(caught.value)
    assert option.flag in message and option.env in message, message
    assert repr(value) in message and option.expects in message, message
    assert "\n" not in message
    first = option.env if from_env else option.flag  # where the bad value came from
    assert message.startswith(first), message


def test_bad_env_value_is_ignored_when_the_option_is_given() -> None:
    assert settings({"STACKCHECK_WAIT": "abc"}, wait="7").wait == 7.0


def test_sim_fault_needs_the_sim_target() -> None:
    with pytest.raises(UsageError, match="--sim-fault"):
        settings(sim_faults=["api-flaky"])
    assert settings(sim_faults=["api-flaky"], target="sim").sim_faults == ("api-flaky",)


@pytest.mark.parametrize(
    ("flag", "raw"),
    [
        ("--wait", "1e300"),
        ("--wait", "86401"),
        ("--wait", "nan"),
        ("--wait", "-inf"),
        ("--request-timeout", "1e300"),
        ("--request-timeout", "3601"),
        ("--request-timeout", "inf"),
        ("--request-timeout", "-1"),
        ("--request-timeout", "NaN"),
    ],
)
def test_numbers_are_bounded(flag: str, raw: str) -> None:
    dest = flag.lstrip("-").replace("-", "_")
    with pytest.raises(UsageError, match=rf"{flag} .*got '{raw}'"):
        resolve(lambda d: raw if d == dest else None, env={})


def test_the_bounds_themselves_are_accepted() -> None:
    settings = resolve(lambda d: {"wait": "86400", "request_timeout": "3600"}.get(d), env={})
    assert (settings.wait, settings.request_timeout) == (86400.0, 3600.0)


def test_a_bad_url_value_is_shown_without_its_password() -> None:
    with pytest.raises(UsageError) as refused:
        resolve(
            lambda d: "http://admin:pw-Zx81q@h:notaport" if d == "grafana_url" else None, env={}
        )
    assert "pw-Zx81q" not in str(refused.value) and "admin:[REDACTED]@h" in str(refused.value)
