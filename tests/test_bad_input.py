"""Bad input is a usage error: one `ERROR:` line naming the problem, exit code 4, never a
traceback, and nothing started (no sim, no deploy).

Each case is a real `python -m pytest suites/ ...` in a subprocess, from the repository root,
with every STACKCHECK_* variable and KUBECONFIG removed from its environment.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.suite import suite_command

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 60
USAGE_ERROR = 4

Setup = Callable[[Path], list[str]]  # writes the case's files under tmp_path, returns its args


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    names: tuple[str, ...]  # substrings the ERROR line must contain
    env: dict[str, str] = field(default_factory=dict)


# --- files the cases write ---------------------------------------------------------------
def _stack(tmp: Path, text: str, name: str = "stack.yml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _edited_stack(tmp: Path, edit: Callable[[dict[str, object]], None]) -> Path:
    data = yaml.safe_load((ROOT / "stack.yml").read_text(encoding="utf-8"))
    edit(data)
    return _stack(tmp, yaml.safe_dump(data, sort_keys=False))


def _kubeconfig(
    tmp: Path,
    cluster: dict[str, object] | None = None,
    user: dict[str, object] | None = None,
    contexts: bool = True,
) -> Path:
    data: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": "http://127.0.0.1:9"} if cluster is None else cluster,
            }
        ],
        "users": [{"name": "u", "user": {"token": "t"} if user is None else user}],
    }
    if contexts:
        data["contexts"] = [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}]
        data["current-context"] = "ctx"
    path = tmp / "kubeconfig"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _args(*args: str) -> Setup:
    return lambda tmp: list(args)


def _stack_args(make: Callable[[Path], Path]) -> Setup:
    return lambda tmp: ["--stack-file", str(make(tmp))]


def _kube_args(make: Callable[[Path], Path], *extra: str) -> Setup:
    return lambda tmp: ["--kubeconfig", str(make(tmp)), *extra]


def _unknown_top_key(tmp: Path) -> Path:
    return _edited_stack(tmp, lambda d: d.__setitem__("verify_tls", True))


def _unknown_nested_key(tmp: Path) -> Path:
    def edit(data: dict[str, object]) -> None:
        data["components"][0]["workloads"][0]["replica"] = 2  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _wrong_type(tmp: Path) -> Path:
    def edit(data: dict[str, object]) -> None:
        data["components"][0]["meshed"] = "yes"  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _undefined_service(tmp: Path) -> Path:
    def edit(data: dict[str, object]) -> None:
        data["endpoints"][0]["service"] = "nginx"  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _fifo(tmp: Path) -> Path:
    path = tmp / "stack.fifo"
    os.mkfifo(path)  # opening it would block forever: it must be refused, not read
    return path


def _unreadable(tmp: Path) -> Path:
    if os.geteuid() == 0:  # root reads anything: a file that is not UTF-8 text instead
        path = tmp / "stack.yml"
        path.write_bytes(b"version: 1\n\xff\xfe components: []\n")
        return path
    path = _stack(tmp, (ROOT / "stack.yml").read_text(encoding="utf-8"))
    path.chmod(0)
    return path


def _missing_user(tmp: Path) -> Path:
    path = _kubeconfig(tmp)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["contexts"][0]["context"]["user"] = "ghost"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


def _unwritable_folder(tmp: Path) -> str:
    if os.geteuid() == 0:  # root writes anywhere on a normal file system; not into /proc
        return "/proc/1"
    folder = tmp / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return str(folder)


# 1.5 KB that a loader expanding aliases would turn into 10**9 strings (issue 13, case 4)
ALIAS_BOMB = (
    "version: 1\nlol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    + "components: []\n"
)


def _duplicate_key(tmp: Path) -> Path:
    text = (ROOT / "stack.yml").read_text(encoding="utf-8")
    return _stack(tmp, text + "\nversion: 1\n")


def _broken_promql(tmp: Path) -> Path:
    def edit(data: dict[str, object]) -> None:
        data["prometheus"]["queries"][0]["promql"] = "sum(rate(request_total[5m])"  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _empty_manifest_stack(tmp: Path) -> Path:
    empty = tmp / "empty-podmonitors.yml"
    empty.write_text("# nothing here\n---\n", encoding="utf-8")

    def edit(data: dict[str, object]) -> None:
        data["components"][0]["manifests"] = [str(empty)]  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _hostile_manifest_stack(tmp: Path) -> Path:
    hostile = tmp / "podmonitor.yml"
    hostile.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: '1', a: '2'}\n",
        encoding="utf-8",
    )

    def edit(data: dict[str, object]) -> None:
        data["components"][0]["manifests"] = [str(hostile)]  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _alias_bomb_manifest_stack(tmp: Path) -> Path:
    bomb = tmp / "bomb.yml"
    bomb.write_text(
        ALIAS_BOMB.replace("version: 1\n", "apiVersion: v1\nkind: List\n").replace(
            "components: []\n", "items: []\n"
        ),
        encoding="utf-8",
    )

    def edit(data: dict[str, object]) -> None:
        data["components"][0]["manifests"] = [str(bomb)]  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _missing_manifest_stack(tmp: Path) -> Path:
    def edit(data: dict[str, object]) -> None:
        data["components"][0]["manifests"] = [str(tmp / "gone.yml")]  # type: ignore[index]

    return _edited_stack(tmp, edit)


def _client_key_missing(tmp: Path) -> Path:
    cert = tmp / "client.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return _kubeconfig(
        tmp, user={"client-certificate": str(cert), "client-key": str(tmp / "missing-client.key")}
    )


def _not_yaml(tmp: Path) -> Path:
    path = tmp / "kubeconfig"
    path.write_text("apiVersion: v1\nclusters: [unclosed\n", encoding="utf-8")
    return path


def _empty_file(tmp: Path) -> Path:
    path = tmp / "kubeconfig"
    path.write_text("", encoding="utf-8")
    return path


CASES = [
    # --- the stack file ---
    Case(
        "stack-unknown-top-level-key",
        _stack_args(_unknown_top_key),
        ("stack file", "verify_tls: unknown key"),
    ),
    Case(
        "stack-unknown-nested-key",
        _stack_args(_unknown_nested_key),
        ("components[0].workloads[0].replica: unknown key", "replicas"),
    ),
    Case(
        "stack-wrong-type",
        _stack_args(_wrong_type),
        ("components[0].meshed", "not of type 'boolean'"),
    ),
    Case(
        "stack-malformed-yaml",
        _stack_args(lambda t: _stack(t, "version: 1\ncomponents: [\n")),
        ("line 3", "not valid YAML"),
    ),
    Case("stack-empty-file", _stack_args(lambda t: _stack(t, "")), ("stack file", "is empty")),
    Case(
        "stack-not-a-mapping",
        _stack_args(lambda t: _stack(t, "- version: 1\n")),
        ("expected a mapping at the top, got list",),
    ),
    Case(
        "stack-missing-file",
        _args("--stack-file", "no/such/stack.yml"),
        ("no/such/stack.yml", "no such file"),
    ),
    Case("stack-directory", lambda t: ["--stack-file", str(t)], ("is a directory",)),
    Case("stack-fifo", _stack_args(_fifo), ("stack.fifo", "not a regular file")),
    Case(
        "stack-unreadable",
        _stack_args(_unreadable),
        ("Permission denied",) if os.geteuid() != 0 else ("not UTF-8 text",),
    ),
    Case(
        "stack-undefined-service",
        _stack_args(_undefined_service),
        ("endpoints[0].service", "'nginx' is not defined"),
    ),
    Case(
        "stack-env-missing-file",
        _args(),
        ("elsewhere.yml", "no such file"),
        env={"STACKCHECK_STACK_FILE": "elsewhere.yml"},
    ),
    # --- option values ---
    Case("target-unknown", _args("--target", "foo"), ("--target", "'foo'", "sim")),
    Case("wait-negative", _args("--wait", "-1"), ("--wait", "seconds from 0", "'-1'")),
    Case("wait-huge", _args("--wait", "1e300"), ("--wait", "86400", "'1e300'")),
    Case("wait-inf", _args("--wait", "inf"), ("--wait", "'inf'")),
    Case(
        "request-timeout-huge",
        _args("--request-timeout", "1e300"),
        ("--request-timeout", "at most 3600", "'1e300'"),
    ),
    Case("request-timeout-nan", _args("--request-timeout", "nan"), ("--request-timeout", "'nan'")),
    Case("request-timeout-inf", _args("--request-timeout", "inf"), ("--request-timeout", "'inf'")),
    Case(
        "request-timeout-negative", _args("--request-timeout", "-5"), ("--request-timeout", "'-5'")
    ),
    Case(
        "grafana-url-password-not-shown",
        _args("--grafana-url", "http://admin:pw-Zx81q@h:x"),
        ("--grafana-url", "http://admin:[REDACTED]@h:x"),
    ),
    # --- where the run writes ---
    Case(
        "report-dir-is-a-file",
        lambda t: ["--report-dir", str(_file(t))],
        ("--report-dir", "is not a folder"),
    ),
    Case(
        "report-dir-under-a-file",
        lambda t: ["--report-dir", str(_file(t) / "reports")],
        ("--report-dir", "cannot create the folder"),
    ),
    Case(
        "report-dir-dev-null",
        _args("--report-dir", "/dev/null"),
        ("--report-dir", "/dev/null", "is not a folder"),
    ),
    Case(
        "report-dir-unwritable",
        lambda t: ["--report-dir", _unwritable_folder(t)],
        ("--report-dir", "cannot"),
    ),
    Case(
        "junitxml-under-a-file",
        lambda t: ["--junitxml", str(_file(t) / "junit.xml")],
        ("--junitxml", "a-file exists and is not a folder"),
    ),
    Case(
        "junitxml-is-a-folder",
        lambda t: ["--junitxml", str(t)],
        ("--junitxml", "must be a filename"),
    ),
    Case("json-is-a-folder", lambda t: ["--json", str(t)], ("--json", "is a folder")),
    Case(
        "json-under-a-file",
        lambda t: ["--json", str(_file(t) / "result.json")],
        ("--json", "a-file exists and is not a folder"),
    ),
    Case(
        "json-env-empty",
        _args(),
        ("STACKCHECK_JSON", "--json", "a file path"),
        env={"STACKCHECK_JSON": ""},
    ),
    # --- the stack file's YAML and PromQL ---
    Case(
        "stack-yaml-alias-bomb",
        _stack_args(lambda t: _stack(t, ALIAS_BOMB)),
        ("line", "aliases", "not accepted"),
    ),
    Case("stack-duplicate-key", _stack_args(_duplicate_key), ("duplicate key 'version'",)),
    Case(
        "stack-promql-syntax",
        _stack_args(_broken_promql),
        ("prometheus.queries[0].promql", "not valid PromQL"),
    ),
    Case("wait-not-a-number", _args("--wait", "abc"), ("--wait", "'abc'")),
    Case(
        "wait-env-not-a-number",
        _args(),
        ("STACKCHECK_WAIT", "--wait", "'abc'"),
        env={"STACKCHECK_WAIT": "abc"},
    ),
    Case("wait-nan", _args("--wait", "nan"), ("--wait", "'nan'")),
    Case(
        "request-timeout-zero",
        _args("--request-timeout", "0"),
        ("--request-timeout", "seconds > 0"),
    ),
    Case(
        "html-report-not-a-bool",
        _args("--html-report", "maybe"),
        ("--html-report", "true or false", "'maybe'"),
    ),
    Case(
        "fail-on-unknown-level",
        _args("--fail-on", "error"),
        ("--fail-on", "failure or warning", "'error'"),
    ),
    Case(
        "fail-on-env-unknown-level",
        _args(),
        ("STACKCHECK_FAIL_ON", "'never'"),
        env={"STACKCHECK_FAIL_ON": "never"},
    ),
    Case(
        "deploy-env-not-a-bool",
        _args(),
        ("STACKCHECK_DEPLOY", "'sometimes'"),
        env={"STACKCHECK_DEPLOY": "sometimes"},
    ),
    Case(
        "productpage-url-not-a-url",
        _args("--productpage-url", "not-a-url"),
        ("--productpage-url", "http(s) URL", "'not-a-url'"),
    ),
    Case("grafana-url-ftp", _args("--grafana-url", "ftp://x"), ("--grafana-url", "'ftp://x'")),
    Case(
        "prometheus-url-no-host",
        _args("--prometheus-url", "http://"),
        ("--prometheus-url", "'http://'"),
    ),
    Case(
        "grafana-url-env-bad-port",
        _args(),
        ("STACKCHECK_GRAFANA_URL", "'http://g:99999'"),
        env={"STACKCHECK_GRAFANA_URL": "http://g:99999"},
    ),
    Case("kube-context-empty", _args("--kube-context", ""), ("--kube-context", "context name")),
    # --- hosts ---
    Case(
        "node-address-malformed",
        _args("--node-address", "bad host!"),
        ("--node-address", "host name or IP", "'bad host!'"),
    ),
    Case(
        "node-address-unresolvable",
        _args("--node-address", "no-such-host.invalid"),
        ("--node-address", "STACKCHECK_NODE_ADDRESS", "'no-such-host.invalid'", "does not resolve"),
    ),
    Case(
        "productpage-url-unresolvable",
        _args("--productpage-url", "http://nowhere.invalid:1"),
        ("--productpage-url", "'nowhere.invalid'", "does not resolve"),
    ),
    # --- the kubeconfig ---
    Case(
        "kubeconfig-missing",
        _args("--kubeconfig", "no/such/kubeconfig"),
        ("kubeconfig", "no/such/kubeconfig", "no such file", "KUBECONFIG"),
    ),
    Case(
        "kubeconfig-env-missing",
        _args(),
        ("missing-config", "no such file"),
        env={"KUBECONFIG": "missing-config"},
    ),
    Case("kubeconfig-default-missing", _args(), (".kube/config", "no such file", "KUBECONFIG")),
    Case("kubeconfig-not-yaml", _kube_args(_not_yaml), ("kubeconfig", "not valid YAML")),
    Case("kubeconfig-empty", _kube_args(_empty_file), ("kubeconfig", "is empty")),
    Case("kubeconfig-directory", lambda t: ["--kubeconfig", str(t)], ("is a directory",)),
    Case(
        "kubeconfig-no-contexts",
        _kube_args(lambda t: _kubeconfig(t, contexts=False)),
        ("kubeconfig", "has no contexts"),
    ),
    Case(
        "kube-context-unknown",
        _kube_args(_kubeconfig, "--kube-context", "nonexistent"),
        ("--kube-context", "'nonexistent'", "contexts: ctx"),
    ),
    Case(
        "kubeconfig-context-missing-user",
        _kube_args(_missing_user),
        ("kubeconfig", "names user 'ghost'", "not among its users"),
    ),
    Case(
        "kubeconfig-no-server",
        _kube_args(lambda t: _kubeconfig(t, cluster={})),
        ("kubeconfig", "no http(s) server URL"),
    ),
    Case(
        "kubeconfig-client-key-missing",
        _kube_args(_client_key_missing),
        ("kubeconfig", "missing-client.key"),
    ),
    Case(
        "deploy-bad-kubeconfig-first",
        _kube_args(lambda t: _kubeconfig(t, contexts=False), "--deploy"),
        ("kubeconfig", "has no contexts"),
    ),
    # --- the simulated stack ---
    Case(
        "sim-fault-unknown",
        _args("--target", "sim", "--sim-fault", "unknown-fault"),
        ("--sim-fault", "'unknown-fault'", "api-flaky"),
    ),
    Case(
        "sim-fault-env-unknown",
        _args("--target", "sim"),
        ("STACKCHECK_SIM_FAULTS", "'nope'"),
        env={"STACKCHECK_SIM_FAULTS": "api-flaky,nope"},
    ),
    Case(
        "sim-fault-without-sim", _args("--sim-fault", "api-flaky"), ("--sim-fault", "--target sim")
    ),
    Case(
        "deploy-empty-manifest",
        lambda t: ["--target", "sim", "--deploy", "--stack-file", str(_empty_manifest_stack(t))],
        ("components[0].manifests[0]", "empty-podmonitors.yml", "empty manifest"),
    ),
    Case(
        "sim-manifest-duplicate-key",
        lambda t: ["--target", "sim", "--stack-file", str(_hostile_manifest_stack(t))],
        ("components[0].manifests[0]", "podmonitor.yml", "line 4", "duplicate key 'a'"),
    ),
    Case(
        "sim-manifest-alias-bomb",
        lambda t: ["--target", "sim", "--stack-file", str(_alias_bomb_manifest_stack(t))],
        ("components[0].manifests[0]", "bomb.yml", "aliases expand to more than"),
    ),
    Case(
        "sim-missing-manifest",
        lambda t: ["--target", "sim", "--stack-file", str(_missing_manifest_stack(t))],
        ("components[0].manifests[0]", "gone.yml", "no such file"),
    ),
]


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str


def run_suite(tmp_path: Path, args: list[str], env: dict[str, str]) -> Run:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_") and k != "KUBECONFIG"
    }
    home = tmp_path / "home"  # no ~/.kube/config unless a case writes one
    home.mkdir()
    clean.update({"HOME": str(home), **env})
    command = suite_command(
        "-q", "-p", "no:randomly", "--report-dir", str(tmp_path / "reports"), *args
    )
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr)


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 22
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_4(case: Case, tmp_path: Path) -> None:
    run = run_suite(tmp_path, case.setup(tmp_path), case.env)
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert run.exit_code == USAGE_ERROR, f"exit {run.exit_code}:\n{run.output[-3000:]}"
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, run.output
    assert len(errors) == 1, run.output
    for name in case.names:
        assert name in errors[0], f"{name!r} not in: {errors[0]}"
    assert "deploy:" not in run.output, run.output  # nothing was applied anywhere


@pytest.mark.sim
def test_a_resolvable_host_with_nothing_listening_is_a_failing_check(tmp_path: Path) -> None:
    """The other side of `node-address-unresolvable`: a host that exists is good input even
    when its ports are closed; the endpoint checks fail and say why (exit 1, not 4)."""
    run = run_suite(
        tmp_path,
        [
            "--target",
            "sim",
            "--wait",
            "0",
            "--html-report",
            "false",
            "--productpage-url",
            "http://127.0.0.1:9",
            "-k",
            "endpoint and productpage",
        ],
        {},
    )
    assert run.exit_code == 1, run.output[-3000:]
    assert "connection refused" in run.output, run.output[-3000:]
    assert not [line for line in run.output.splitlines() if line.startswith("ERROR:")]
