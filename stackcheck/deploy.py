"""Deploy the stack file's components, in order, to a cluster; idempotent.

The plan is data: Helm commands (`helm repo add`, `helm upgrade --install ... --wait`),
server-side applies of manifests (field manager `stackcheck`, conflicts forced) and
readiness gates between phases:

- CRDs of custom resources are `Established` before those resources are applied;
- `linkerd-proxy-injector` is Available before a meshed component, so its pods get proxies;
- each manifest component's workloads are ready before the next component.

Subprocesses go through a `Runner` and the cluster through a `Cluster`, so tests capture the
exact commands and applies without helm or a cluster. `python -m stackcheck.deploy --dry-run`
prints the plan.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import urllib3
import yaml

from stackcheck import certs
from stackcheck.errors import UsageError
from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until
from stackcheck.stackfile import Component, Stack, load_stack

FIELD_MANAGER = "stackcheck"
HELM_TIMEOUT = "10m0s"
GATE_SECONDS = 600.0
GATE_INTERVAL = 5.0  # like `linkerd check`
REQUEST_SECONDS = 30.0  # each API call of a deploy (connect, then read)
NETWORK_ERRORS = (urllib3.exceptions.HTTPError, OSError)  # a call's, other than API answers
INJECTOR = "linkerd-proxy-injector"

INSTALL_HINTS = {
    "helm": "install Helm 3: https://helm.sh/docs/intro/install/",
    "kind": "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/",
    "docker": "install Docker (kind runs its nodes as containers): https://docs.docker.com/get-docker/",
}
_BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "autoscaling",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "node.k8s.io",
    "certificates.k8s.io",
}
_FIRST_KINDS = ("Namespace", "CustomResourceDefinition")


class DeployError(Exception):
    """A step failed; the message names the step and the reason in one line."""


# --- subprocesses ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    def which(self, tool: str) -> str | None: ...
    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed: ...


class SubprocessRunner:
    """The real thing: no shell, output captured, a timeout on every command."""

    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def run(self, argv: Sequence[str], timeout: float | None = None) -> Completed:
        try:
            done = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return Completed(124, "", f"timed out after {timeout:.0f}s")
        except OSError as exc:
            return Completed(127, "", str(exc))
        return Completed(done.returncode, done.stdout, done.stderr)


def require_tools(runner: Runner, tools: Sequence[str]) -> None:
    """One line naming the first missing tool and how to install it."""
    for tool in tools:
        if runner.which(tool) is None:
            hint = INSTALL_HINTS.get(tool, f"install {tool}")
            raise UsageError(f"{tool}: not found on PATH; {hint}")


def run_checked(
    runner: Runner, argv: Sequence[str], what: str, timeout: float | None = None
) -> Completed:
    done = runner.run(argv, timeout)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise DeployError(
            f"{what}: `{shlex.join(argv)}` exited {done.returncode}: "
            f"{lines[-1] if lines else 'no output'}"
        )
    return done


# --- the cluster ----------------------------------------------------------------------------
class Cluster(Protocol):
    def apply(self, obj: Mapping[str, Any], namespace: str | None) -> str: ...
    def crd_established(self, group: str, kind: str) -> Attempt[None]: ...
    def workload_ready(self, kind: str, namespace: str, name: str) -> Attempt[None]: ...
    def identity(self, namespace: str) -> certs.IdentityCertificates | None: ...


# --- the plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Command:
    component: str
    argv: tuple[str, ...]
    timeout: float | None = None

    def describe(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Apply:
    component: str
    path: Path
    namespace: str

    def describe(self) -> str:
        return (
            f"server-side apply {self.path} (default namespace {self.namespace}, "
            f"field manager {FIELD_MANAGER}, force conflicts)"
        )


@dataclass(frozen=True)
class Gate:
    component: str
    check: str  # "crd" | "workload"
    kind: str
    name: str  # CRD: the group; workload: its name
    namespace: str = ""

    def describe(self) -> str:
        if self.check == "crd":
            return f"wait until the CRD for {self.kind}.{self.name} is Established"
        return f"wait until {self.kind} {self.namespace}/{self.name} is ready"


@dataclass(frozen=True)
class Identity:
    """Reuse the cluster's Linkerd identity certificates, else generate them."""

    component: str
    namespace: str
    directory: Path

    def describe(self) -> str:
        return (
            f"identity certificates for {self.namespace}: reuse the installed trust anchor "
            f"and issuer, else generate (ECDSA P-256) into {self.directory} (0600)"
        )


Step = Command | Apply | Gate | Identity


@dataclass(frozen=True)
class KubeArgs:
    kubeconfig: Path | None = None
    context: str | None = None

    def helm(self) -> list[str]:
        flags = []
        if self.kubeconfig is not None:
            flags += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            flags += ["--kube-context", self.context]
        return flags


def repo_name(url: str) -> str:
    """A stable local name for a chart repository URL (`helm repo add <name> <url>`)."""
    parts = urlsplit(url)
    generic = {"www", "helm", "charts", "github", "io", "com", "org", "net", "dev", "sh"}
    labels = [p for p in (parts.hostname or "repo").split(".") if p not in generic]
    name = labels[0] if labels else (parts.hostname or "repo").split(".")[0]
    tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if tail in ("stable", "edge", "nightly"):
        name = f"{name}-{tail}"
    return name


def build_plan(
    stack: Stack, root: Path, kube: KubeArgs, cert_dir: Path, helm_timeout: str = HELM_TIMEOUT
) -> list[Step]:
    """Every step, in order; the same inputs always give the same plan."""
    steps: list[Step] = []
    repos = {
        c.helm.repo: repo_name(c.helm.repo)
        for c in stack.components
        if c.helm is not None and not c.helm.repo.startswith("oci://")
    }
    for url, name in repos.items():
        steps.append(Command("helm", ("helm", "repo", "add", name, url, "--force-update")))
    if repos:
        steps.append(Command("helm", ("helm", "repo", "update", *repos.values())))
    injector = _injector(stack)
    for component in stack.components:
        if component.meshed and injector is not None:
            steps.append(Gate(component.name, "workload", "Deployment", INJECTOR, injector))
        if component.helm is not None:
            steps += _helm_steps(component, root, kube, cert_dir, repos, helm_timeout)
        if component.manifests:
            steps += _manifest_steps(component, root)
    return steps


def _injector(stack: Stack) -> str | None:
    for component in stack.components:
        if any(w.kind == "Deployment" and w.name == INJECTOR for w in component.workloads):
            return component.namespace
    return None


def _helm_steps(
    component: Component,
    root: Path,
    kube: KubeArgs,
    cert_dir: Path,
    repos: Mapping[str, str],
    helm_timeout: str,
) -> list[Step]:
    helm = component.helm
    assert helm is not None
    steps: list[Step] = []
    chart = (
        f"{helm.repo.rstrip('/')}/{helm.chart}"
        if helm.repo.startswith("oci://")
        else f"{repos[helm.repo]}/{helm.chart}"
    )
    argv = [
        "helm",
        "upgrade",
        "--install",
        helm.release,
        chart,
        "--version",
        helm.version,
        "--namespace",
        component.namespace,
        "--create-namespace",
    ]
    if helm.values:
        argv += ["-f", str(root / helm.values)]
    if helm.identity_certificates:
        steps.append(Identity(component.name, component.namespace, cert_dir))
        argv += certs.helm_flags(cert_dir)
    argv += ["--wait", "--timeout", helm_timeout, *kube.helm()]
    steps.append(Command(component.name, tuple(argv), timeout=_seconds(helm_timeout) + 60))
    return steps


def _seconds(duration: str) -> float:
    total, number = 0.0, ""
    for char in duration:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number or 0) * {"h": 3600, "m": 60, "s": 1}.get(char, 0)
            number = ""
    return total


def _manifest_steps(component: Component, root: Path) -> list[Step]:
    steps: list[Step] = []
    crds_waited: set[tuple[str, str]] = set()
    for manifest in component.manifests:
        path = root / manifest
        for group, kind in _custom_kinds(path):
            if (group, kind) not in crds_waited:
                crds_waited.add((group, kind))
                steps.append(Gate(component.name, "crd", kind, group))
        steps.append(Apply(component.name, path, component.namespace))
    for workload in component.workloads:
        if workload.kind in ("Deployment", "StatefulSet", "DaemonSet"):
            steps.append(
                Gate(component.name, "workload", workload.kind, workload.name, component.namespace)
            )
    return steps


def _custom_kinds(path: Path) -> list[tuple[str, str]]:
    kinds: list[tuple[str, str]] = []
    defined = set()
    for obj in load_objects(path):
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec", {})
            defined.add((spec.get("group"), spec.get("names", {}).get("kind")))
        if group not in _BUILTIN_GROUPS and (group, obj.get("kind")) not in kinds:
            kinds.append((group, str(obj.get("kind"))))
    return [k for k in kinds if k not in defined]


def load_objects(path: Path) -> list[dict[str, Any]]:
    """The objects of a manifest file (empty documents skipped), Namespaces and CRDs first."""
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise UsageError(f"manifest {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"manifest {path}: not valid YAML ({exc})") from None
    objects = [d for d in docs if isinstance(d, dict) and d]
    return sorted(
        objects, key=lambda o: _FIRST_KINDS.index(o["kind"]) if o.get("kind") in _FIRST_KINDS else 2
    )


# --- running it -----------------------------------------------------------------------------
@dataclass
class Summary:
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, component: str, text: str) -> None:
        self.lines.append(f"{component}: {text}")


def execute(
    plan: Sequence[Step],
    runner: Runner,
    cluster: Cluster | None,
    gate_seconds: float = GATE_SECONDS,
    pause: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda line: None,
) -> Summary:
    """Run the plan; the first failing step raises DeployError naming it."""
    started = time.monotonic()
    summary = Summary()
    for step in plan:
        log(f"-> {step.describe()}")
        if isinstance(step, Command):
            run_checked(runner, step.argv, step.component, step.timeout)
            if step.argv[:3] == ("helm", "upgrade", "--install"):
                summary.add(
                    step.component,
                    f"helm release {step.argv[3]} {step.argv[4]} {step.argv[6]} deployed",
                )
            continue
        if cluster is None:
            raise DeployError(f"{step.component}: {step.describe()}: no cluster connection")
        if isinstance(step, Identity):
            summary.add(step.component, _identity(step, cluster))
        elif isinstance(step, Apply):
            applied = [cluster.apply(obj, step.namespace) for obj in load_objects(step.path)]
            summary.add(step.component, f"applied {len(applied)} object(s) from {step.path.name}")
        else:
            _wait(step, cluster, gate_seconds, pause)
    summary.seconds = time.monotonic() - started
    return summary


def _identity(step: Identity, cluster: Cluster) -> str:
    existing = cluster.identity(step.namespace)
    if existing is not None:
        try:
            certs.verify_chain(existing, step.namespace)
        except certs.CertificateError as exc:
            raise DeployError(
                f"{step.component}: the installed identity certificates are "
                f"unusable ({exc}); rotate them (see Linkerd's docs on manually "
                f"rotating control plane TLS credentials)"
            ) from None
        certs.write(existing, step.directory)
        return "identity certificates reused from the cluster"
    certs.write(certs.generate(step.namespace), step.directory)
    return "identity certificates generated (ECDSA P-256 trust anchor + issuer)"


def _wait(gate: Gate, cluster: Cluster, seconds: float, pause: Callable[[float], None]) -> None:
    def probe() -> Attempt[None]:
        if gate.check == "crd":
            return cluster.crd_established(gate.name, gate.kind)
        return cluster.workload_ready(gate.kind, gate.namespace, gate.name)

    try:
        poll_until(probe, Deadline.after(seconds), gate.describe(), GATE_INTERVAL, pause)
    except WaitExpired as expired:
        raise DeployError(f"{gate.component}: {expired}") from None


# --- the real cluster ------------------------------------------------------------------------
class KubeCluster:
    """Server-side apply and readiness reads through the official client's dynamic client.
    Every call is bounded by `request_seconds` and tried once: a gate polls again until its
    own deadline, an apply that fails stops the deploy (which is safe to run again)."""

    def __init__(
        self, kube: KubeArgs, workdir: Path, request_seconds: float = REQUEST_SECONDS
    ) -> None:
        from kubernetes import client as kube_client
        from kubernetes import config as kube_config
        from kubernetes import dynamic as kube_dynamic
        from kubernetes.config.config_exception import ConfigException

        config: Any = kube_config  # the client ships no annotations
        dynamic: Any = kube_dynamic
        settings: Any = kube_client.Configuration()
        settings.retries = False  # urllib3 would retry each timed-out read 3 times
        try:
            api = config.new_client_from_config(
                config_file=str(kube.kubeconfig) if kube.kubeconfig else None,
                context=kube.context,
                persist_config=False,
                client_configuration=settings,
            )
        except (ConfigException, OSError) as exc:
            raise UsageError(f"kubeconfig {kube.kubeconfig or '(default)'}: {exc}") from None
        _bound_calls(api, request_seconds)
        # its discovery cache in the deploy's own folder, not the client's default file in
        # /tmp (named after the server's address): a cluster recreated at an address, as
        # kind clusters and sims are, would be deployed with the API groups of an earlier one
        cache_file = str(workdir / "discovery.json")
        try:  # the dynamic client reads the server's version and discovery right away
            self._client: Any = dynamic.DynamicClient(api, cache_file=cache_file)
        except Exception as exc:  # urllib3/ApiException/...: any of them means unreachable
            raise DeployError(
                f"cannot reach the API server with kubeconfig "
                f"{kube.kubeconfig or '(default)'}: {_one_line(exc)}"
            ) from None

    def _resource(self, api_version: str, kind: str) -> Any:
        self._client.resources.invalidate_cache()
        return self._client.resources.get(api_version=api_version, kind=kind)

    def apply(self, obj: Mapping[str, Any], namespace: str | None) -> str:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        kind, name = obj.get("kind", "?"), obj.get("metadata", {}).get("name", "?")
        ns = obj.get("metadata", {}).get("namespace") or namespace
        try:
            try:
                resource = self._client.resources.get(api_version=obj["apiVersion"], kind=kind)
            except ResourceNotFoundError:
                resource = self._resource(obj["apiVersion"], kind)  # a CRD just became served
            ns = ns if resource.namespaced else None
            self._client.server_side_apply(
                resource,
                body=dict(obj),
                namespace=ns,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except ApiException as exc:
            raise DeployError(
                f"apply {kind} {ns + '/' if ns else ''}{name}: {exc.status} {exc.reason}"
            ) from None
        except NETWORK_ERRORS as exc:
            raise DeployError(
                f"apply {kind} {ns + '/' if ns else ''}{name}: {_unreachable(exc)}"
            ) from None
        return f"{kind}/{name}"

    def _get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            resource = self._resource(api_version, kind)
            got = self._client.get(resource, name=name, namespace=namespace)
        except (NotFoundError, ResourceNotFoundError):
            return None
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(got.to_dict())

    def crd_established(self, group: str, kind: str) -> Attempt[None]:
        from kubernetes.client.exceptions import ApiException

        try:
            resource = self._resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            items = self._client.get(resource).to_dict().get("items", [])
        except ApiException as exc:
            return Attempt(False, f"listing CRDs: {exc.status} {exc.reason}")
        except NETWORK_ERRORS as exc:
            return Attempt(False, f"listing CRDs: {_unreachable(exc)}")
        for crd in items:
            spec = crd.get("spec", {})
            if spec.get("group") == group and spec.get("names", {}).get("kind") == kind:
                return _condition(crd, "Established", f"CRD {crd['metadata']['name']}")
        return Attempt(False, f"no CRD defines {kind}.{group} yet")

    def workload_ready(self, kind: str, namespace: str, name: str) -> Attempt[None]:
        try:
            obj = self._get("apps/v1", kind, name, namespace)
        except NETWORK_ERRORS as exc:
            return Attempt(False, f"reading {kind} {namespace}/{name}: {_unreachable(exc)}")
        if obj is None:
            return Attempt(False, f"{kind} {namespace}/{name} does not exist yet")
        return workload_attempt(obj)

    def identity(self, namespace: str) -> certs.IdentityCertificates | None:
        import base64

        try:
            roots = self._get("v1", "ConfigMap", "linkerd-identity-trust-roots", namespace)
            issuer = self._get("v1", "Secret", "linkerd-identity-issuer", namespace)
        except NETWORK_ERRORS as exc:
            raise DeployError(
                f"reading the identity certificates in {namespace}: {_unreachable(exc)}"
            ) from None
        if roots is None or issuer is None:
            return None
        data = issuer.get("data") or {}
        if "crt.pem" not in data or "key.pem" not in data:
            return None
        return certs.IdentityCertificates(
            trust_anchor_pem=(roots.get("data") or {}).get("ca-bundle.crt", "").encode(),
            issuer_cert_pem=base64.b64decode(data["crt.pem"]),
            issuer_key_pem=base64.b64decode(data["key.pem"]),
        )


def _bound_calls(api: Any, seconds: float) -> None:
    """Give every call of the official client a timeout: its calls take one per call
    (_request_timeout) and wait forever without, and the dynamic client's discovery passes
    none."""
    call_api = api.call_api

    def bounded(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = (seconds, seconds)  # (connect, read)
        return call_api(*args, **kwargs)

    api.call_api = bounded


def _unreachable(exc: BaseException) -> str:
    return f"the API server did not answer ({type(exc).__name__}: {_one_line(exc)})"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _condition(obj: Mapping[str, Any], wanted: str, what: str) -> Attempt[None]:
    for condition in obj.get("status", {}).get("conditions") or []:
        if condition.get("type") == wanted:
            if condition.get("status") == "True":
                return Attempt(True)
            why = f"{condition.get('reason', '')}: {condition.get('message', '')}"
            return Attempt(False, f"{what}: {wanted}={condition.get('status')} ({why})")
    return Attempt(False, f"{what}: no {wanted} condition yet")


def workload_attempt(obj: Mapping[str, Any]) -> Attempt[None]:
    """Deployment Available and rolled out; StatefulSet/DaemonSet all replicas ready."""
    kind = obj.get("kind", "")
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status") or {}
    what = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return Attempt(False, f"{what}: the controller has not seen the latest spec yet")
    if kind == "Deployment":
        wanted = spec.get("replicas", 1)
        if status.get("updatedReplicas", 0) < wanted:
            return Attempt(False, f"{what}: {status.get('updatedReplicas', 0)}/{wanted} updated")
        return _condition(obj, "Available", what)
    if kind == "DaemonSet":
        wanted = status.get("desiredNumberScheduled", 0)
        ready = status.get("numberReady", 0)
    else:
        wanted, ready = spec.get("replicas", 1), status.get("readyReplicas", 0)
    if wanted == 0 or ready < wanted:
        return Attempt(False, f"{what}: {ready}/{wanted} ready")
    return Attempt(True)


# --- entry points ---------------------------------------------------------------------------
def deploy(
    stack: Stack,
    root: Path,
    kube: KubeArgs,
    runner: Runner | None = None,
    cluster: Cluster | None = None,
    log: Callable[[str], None] = lambda line: None,
    gate_seconds: float = GATE_SECONDS,
) -> Summary:
    """Deploy the whole stack; raises UsageError (missing tool) or DeployError (a step)."""
    runner = runner or SubprocessRunner()
    if any(c.helm is not None for c in stack.components):
        require_tools(runner, ["helm"])
    with tempfile.TemporaryDirectory(prefix="stackcheck-deploy-") as tmp:
        plan = build_plan(stack, root, kube, Path(tmp))
        if cluster is None:
            cluster = KubeCluster(kube, Path(tmp))
        return execute(plan, runner, cluster, gate_seconds=gate_seconds, log=log)


def main(
    argv: Sequence[str] | None = None,
    runner: Runner | None = None,
    cluster_factory: Callable[[KubeArgs], Cluster] | None = None,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stackcheck.deploy",
        description="Deploy the observability stack described by the stack file (idempotent).",
    )
    parser.add_argument(
        "--stack-file",
        type=Path,
        default=Path("stack.yml"),
        help="the stack file (default: stack.yml)",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)",
    )
    parser.add_argument("--context", default=None, help="kubeconfig context (default: current)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (every command and step) and change nothing",
    )
    parser.add_argument(
        "--gate-timeout",
        type=float,
        default=GATE_SECONDS,
        help="seconds each readiness gate waits (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    root = args.stack_file.resolve().parent
    kube = KubeArgs(args.kubeconfig, args.context)
    try:
        stack = load_stack(args.stack_file)
        if args.dry_run:
            for number, step in enumerate(_dry_plan(stack, root, kube), 1):
                print(f"{number:2d}. [{step.component}] {step.describe()}")
            return 0
        cluster = cluster_factory(kube) if cluster_factory else None
        summary = deploy(stack, root, kube, runner, cluster, log=print)
    except (UsageError, DeployError) as exc:
        print(f"deploy: ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"\ndeploy: done in {summary.seconds:.0f}s")
    for line in summary.lines:
        print(f"  {line}")
    return 0


def _dry_plan(stack: Stack, root: Path, kube: KubeArgs) -> Iterator[Step]:
    yield from build_plan(stack, root, kube, Path("<identity-certs>"))


def deploy_manifests(
    stack: Stack,
    root: Path,
    kube: KubeArgs,
    cluster: Cluster | None = None,
    gate_seconds: float = GATE_SECONDS,
) -> Summary:
    """Only the manifest steps and readiness gates: for the simulated stack, which stands in
    for the Helm charts (their objects are preloaded) but takes our manifests for real."""
    with tempfile.TemporaryDirectory(prefix="stackcheck-deploy-") as tmp:
        plan = [s for s in build_plan(stack, root, kube, Path(tmp)) if isinstance(s, (Apply, Gate))]
        return execute(
            plan,
            SubprocessRunner(),
            cluster or KubeCluster(kube, Path(tmp)),
            gate_seconds=gate_seconds,
            pause=lambda s: time.sleep(min(s, 0.2)),
        )


if __name__ == "__main__":
    sys.exit(main())
