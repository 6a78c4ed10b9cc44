"""Every setting is a command-line option and an environment variable; the option wins."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stackcheck.cache import ResultCache
from stackcheck.errors import UsageError
from stackcheck.redact import REDACTOR

TARGETS = ("kubeconfig", "kind", "sim")
CACHE_FOLDER = ".stackcheck_cache"


# Upper bounds: a longer wait is a typo, and a huge one overflows every timeout it reaches
MAX_WAIT = 86400.0  # a day
MAX_REQUEST_TIMEOUT = 3600.0  # an hour


def _seconds(text: str, most: float = MAX_WAIT) -> float:
    value = float(text)  # nan fails every comparison below: refused too
    if not 0 <= value <= most:
        raise ValueError
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text, MAX_REQUEST_TIMEOUT)
    if value == 0:
        raise ValueError
    return value


def _target(text: str) -> str:
    if text not in TARGETS:
        raise ValueError
    return text


_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")


def _url(text: str) -> str:
    if any(c.isspace() for c in text):
        raise ValueError
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ValueError from None
    _host(parts.hostname)
    return text.rstrip("/")


def _host(text: str) -> str:
    """A host name or IP address; IPv6 comes back in brackets, ready for a URL."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if bare != text or not _HOSTNAME.match(text) or text.replace(".", "").isdigit():
            raise ValueError from None
        return text
    return f"[{address}]" if address.version == 6 else str(address)


def _context(text: str) -> str:
    if not text.strip():
        raise ValueError
    return text


def _path(text: str) -> Path:
    if not text:
        raise ValueError
    return Path(text).expanduser()


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


FAIL_ON = ("failure", "warning")


def _fail_on(text: str) -> str:
    if text not in FAIL_ON:
        raise ValueError
    return text


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError


@dataclass(frozen=True)
class Option:
    """One setting: `--flag`, its environment variable, its parser and its help."""

    dest: str
    flag: str
    env: str
    parse: Callable[[str], Any]
    expects: str
    help: str
    default: str | None = None
    is_flag: bool = False
    repeatable: bool = False


OPTIONS: tuple[Option, ...] = (
    Option(
        "target",
        "--target",
        "STACKCHECK_TARGET",
        _target,
        "one of " + ", ".join(TARGETS),
        "where the stack runs: kubeconfig (a cluster you have), kind (a throwaway kind "
        "cluster), sim (the built-in simulated stack)",
        "kubeconfig",
    ),
    Option(
        "kubeconfig",
        "--kubeconfig",
        "STACKCHECK_KUBECONFIG",
        _path,
        "a file path",
        "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    ),
    Option(
        "kube_context",
        "--kube-context",
        "STACKCHECK_KUBE_CONTEXT",
        _context,
        "a context name",
        "kubeconfig context (default: the current context)",
    ),
    Option(
        "stack_file",
        "--stack-file",
        "STACKCHECK_STACK_FILE",
        _path,
        "a file path",
        "the stack file with every expectation",
        "stack.yml",
    ),
    Option(
        "node_address",
        "--node-address",
        "STACKCHECK_NODE_ADDRESS",
        _host,
        "a host name or IP",
        "where NodePort/hostPort endpoints are reached (default: a hostPort at its "
        "Ready pod's hostIP, a NodePort at a Ready node's ExternalIP, else InternalIP)",
    ),
    Option(
        "productpage_url",
        "--productpage-url",
        "STACKCHECK_PRODUCTPAGE_URL",
        _url,
        "an http(s) URL",
        "base URL of Bookinfo's productpage",
    ),
    Option(
        "grafana_url",
        "--grafana-url",
        "STACKCHECK_GRAFANA_URL",
        _url,
        "an http(s) URL",
        "base URL of Grafana",
    ),
    Option(
        "prometheus_url",
        "--prometheus-url",
        "STACKCHECK_PROMETHEUS_URL",
        _url,
        "an http(s) URL",
        "base URL of Prometheus (default: the API server's service "
        "proxy to the service named in the stack file)",
    ),
    Option(
        "wait",
        "--wait",
        "STACKCHECK_WAIT",
        _seconds,
        f"seconds from 0 to {MAX_WAIT:g}",
        "how long checks keep retrying before they fail; 0 = a single attempt",
        "300",
    ),
    Option(
        "request_timeout",
        "--request-timeout",
        "STACKCHECK_REQUEST_TIMEOUT",
        _positive_seconds,
        f"seconds > 0, at most {MAX_REQUEST_TIMEOUT:g}",
        "timeout of each API or HTTP request",
        "10",
    ),
    Option(
        "sim_faults",
        "--sim-fault",
        "STACKCHECK_SIM_FAULTS",
        _names,
        "fault names",
        "with --target sim: inject a fault from the catalog (repeatable; env: comma-separated)",
        repeatable=True,
    ),
    Option(
        "deploy",
        "--deploy",
        "STACKCHECK_DEPLOY",
        _flag,
        "true or false",
        "deploy the stack from stack.yml before verifying (writes to the cluster)",
        is_flag=True,
    ),
    Option(
        "keep_cluster",
        "--keep-cluster",
        "STACKCHECK_KEEP_CLUSTER",
        _flag,
        "true or false",
        "with --target kind: keep the cluster after the run",
        is_flag=True,
    ),
    Option(
        "report_dir",
        "--report-dir",
        "STACKCHECK_REPORT_DIR",
        _path,
        "a folder path",
        "where Allure results and the HTML report go",
        "reports",
    ),
    Option(
        "html_report",
        "--html-report",
        "STACKCHECK_HTML_REPORT",
        _flag,
        "true or false",
        "generate the Allure HTML report at the end (needs the allure CLI)",
        "true",
    ),
    Option(
        "fail_on",
        "--fail-on",
        "STACKCHECK_FAIL_ON",
        _fail_on,
        "failure or warning",
        "the worst check result that still lets the run pass is the one below this: "
        "failure (warnings pass) or warning (warnings fail the run too)",
        "failure",
    ),
    Option(
        "json_path",
        "--json",
        "STACKCHECK_JSON",
        _path,
        "a file path",
        "write the run's verdict and every check's result as one JSON document "
        "(schema: docs/result.schema.json)",
    ),
)


@dataclass(frozen=True)
class Settings:
    target: str = "kubeconfig"
    kubeconfig: Path | None = None
    kube_context: str | None = None
    stack_file: Path = Path("stack.yml")
    node_address: str | None = None
    productpage_url: str | None = None
    grafana_url: str | None = None
    prometheus_url: str | None = None
    wait: float = 300.0
    request_timeout: float = 10.0
    sim_faults: tuple[str, ...] = ()
    deploy: bool = False
    keep_cluster: bool = False
    report_dir: Path = Path("reports")
    html_report: bool = True
    fail_on: str = "failure"
    json_path: Path | None = None
    service_urls: dict[str, str] = field(default_factory=dict)

    def result_cache(self) -> ResultCache:
        """Where pure checks keep their results between runs (stackcheck/cache.py): next to
        the stack file, as .pytest_cache sits next to pytest.ini."""
        return ResultCache(self.stack_file.parent / CACHE_FOLDER)

    def url_for(self, service: str) -> str | None:
        """A URL the user (or the sim) gave for a stack-file service, if any."""
        given = getattr(self, f"{service}_url", None)
        return given if isinstance(given, str) else self.service_urls.get(service)


def resolve(
    cli: Callable[[str], Any], env: Mapping[str, str] | None = None, base: Path | None = None
) -> Settings:
    """Settings from CLI values (None = not given) and the environment; CLI wins.

    Relative paths resolve against `base` (the project root) when given.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw, source = _raw_value(option, cli(option.dest), env)
        if raw is None:
            continue
        values[option.dest] = _parse(option, raw, source)
    if "kubeconfig" not in values:
        values["kubeconfig"] = _default_kubeconfig(env)
    if base is not None:
        for key in ("stack_file", "report_dir"):
            if key in values and not values[key].is_absolute():
                values[key] = base / values[key]
        values.setdefault("stack_file", base / "stack.yml")
        values.setdefault("report_dir", base / "reports")
    if values.get("sim_faults") and values.get("target", "kubeconfig") != "sim":
        raise UsageError("--sim-fault (or STACKCHECK_SIM_FAULTS) needs --target sim")
    return Settings(**values)


# Host names the user gives must resolve: a name that does not exist is bad input (exit 4),
# not a failing endpoint. Only a definite "no such name" counts; a resolver that is down or
# slow leaves the verdict to the checks, which then report the endpoint unreachable.
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def check_hosts(
    settings: Settings, timeout: float, resolve_name: Callable[[str], object] | None = None
) -> None:
    """Raise UsageError for a --node-address or --*-url host name that does not exist."""
    lookup = resolve_name or (lambda host: socket.getaddrinfo(host, None))
    given = [
        (o, getattr(settings, o.dest))
        for o in OPTIONS
        if o.dest == "node_address" or o.dest.endswith("_url")
    ]
    for option, value in given:
        if not isinstance(value, str):
            continue
        host = (urlsplit(value).hostname or "") if option.dest.endswith("_url") else value
        host = host.strip("[]")
        if not host or _is_ip(host):
            continue
        if _does_not_exist(host, lookup, timeout):
            raise UsageError(
                f"{option.flag} (or {option.env}): host {host!r} does not resolve (no such name)"
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _does_not_exist(host: str, lookup: Callable[[str], object], timeout: float) -> bool:
    """True only when the resolver answers "no such name" within `timeout` seconds."""
    verdict: list[bool] = []

    def ask() -> None:
        try:
            lookup(host)
        except socket.gaierror as exc:
            verdict.append(exc.errno in _NO_SUCH_NAME)
            return
        except (OSError, UnicodeError):
            verdict.append(False)
            return
        verdict.append(False)

    worker = threading.Thread(target=ask, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(verdict and verdict[0])


def _raw_value(option: Option, given: Any, env: Mapping[str, str]) -> tuple[Any, str]:
    if option.is_flag and given:
        return "true", option.flag
    if option.repeatable and given:
        return ",".join(given), option.flag
    if not option.is_flag and not option.repeatable and given is not None:
        return given, option.flag
    if option.env in env:
        return env[option.env], option.env
    return option.default, "default"


def _parse(option: Option, raw: str, source: str) -> Any:
    try:
        return option.parse(raw)
    except ValueError:
        names = (
            f"{option.flag} (or {option.env})"
            if source == option.flag
            else f"{option.env} (or {option.flag})"
        )
        shown = REDACTOR.text(raw)  # a URL's password stays out of the terminal too
        raise UsageError(f"{names}: expected {option.expects}, got {shown!r}") from None


def _default_kubeconfig(env: Mapping[str, str]) -> Path:
    first = env.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"
