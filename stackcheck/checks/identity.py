"""Linkerd identity, judged from what the API server returns (no Secret is ever read).

Facts (linkerd/linkerd2, tag stable-2.14.10):
- charts/linkerd-control-plane/templates/identity.yaml: ConfigMap
  `linkerd-identity-trust-roots` holds the anchors under `ca-bundle.crt`.
- charts/partials/templates/_proxy.tpl: injected proxies carry the anchors as the literal
  value of env `LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`; control-plane pods
  (`proxy.loadTrustBundleFromConfigMap`) take it from that ConfigMap by `configMapKeyRef`.
- pkg/healthcheck/healthcheck.go `checkPodsProxiesCertificate`: a pod whose trimmed anchors
  differ from the trimmed bundle "must be restarted"; control-plane pods are skipped.
- pkg/issuercerts/issuercerts.go: anchors ECDSA P-256 (signed ECDSA-SHA256 or SHA256-RSA) or
  RSA 2048/4096 (SHA256-RSA); the issuer ECDSA P-256 only; `linkerd check` warns under 60 days.
- charts/linkerd-control-plane/templates/config.yaml: ConfigMap `linkerd-config` key `values`
  is the Helm values minus `identity.issuer.tls.keyPEM`: the issuer's `crtPEM` stays readable
  when the issuer was given through Helm values (scheme `linkerd.io/tls`).
- charts/partials/templates/_metadata.tpl: annotation `linkerd.io/proxy-version` is
  `proxy.image.version`, defaulting to `linkerdVersion`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from stackcheck.checks import model
from stackcheck.checks.model import Check, Obj, Readings, Result
from stackcheck.checks.pods import derived, finished
from stackcheck.podview import env_entry
from stackcheck.stackfile import yaml_load

CONTROL_PLANE_NAMESPACE = "linkerd"
TRUST_ROOTS = "linkerd-identity-trust-roots"
BUNDLE_KEY = "ca-bundle.crt"
LINKERD_CONFIG = "linkerd-config"
ANCHORS_ENV = "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"
PROXY_CONTAINER = "linkerd-proxy"
PROXY_VERSION = "linkerd.io/proxy-version"
DEFAULT_MIN_DAYS = 60  # `linkerd check`'s expirationWarningThresholdInDays
_DAY = 86400.0


class BundleError(ValueError):
    """The trust bundle is missing or does not parse; the message says which."""


@dataclass(frozen=True)
class ConfigMapRef:
    """An env var filled from a ConfigMap key (the control plane's way)."""

    name: str
    key: str


# ----------------------------------------------------------------------------------------
# certificates
# ----------------------------------------------------------------------------------------


def parse_bundle(pem: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; BundleError when there is none or one is broken."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise BundleError("holds no PEM certificate")
    try:
        return x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError as exc:
        raise BundleError(f"does not parse: {exc}") from None


def describe(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    name = str(names[0].value) if names else cert.subject.rfc4514_string()
    return f"{name} (serial {cert.serial_number:x})"


def algorithm_problem(cert: x509.Certificate, issuer: bool = False) -> str | None:
    """Why Linkerd would refuse this key, or None. Anchors: ECDSA P-256 or RSA 2048/4096;
    the issuer: ECDSA P-256 only."""
    key = cert.public_key()
    signature = cert.signature_algorithm_oid
    sha256_sigs = {
        x509.oid.SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256,
    }
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            return f"uses ECDSA curve {key.curve.name}; Linkerd needs P-256"
        if signature not in sha256_sigs:
            return f"is signed with {signature._name}; Linkerd needs SHA-256"
        return None
    if isinstance(key, rsa.RSAPublicKey) and not issuer:
        if key.key_size not in (2048, 4096):
            return f"uses a {key.key_size}-bit RSA key; Linkerd needs 2048 or 4096 bits"
        if signature != x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256:
            return f"is signed with {signature._name}; Linkerd needs SHA256-RSA"
        return None
    wanted = "ECDSA P-256" if issuer else "ECDSA P-256 or RSA"
    return f"uses a {type(key).__name__} key; Linkerd needs {wanted}"


def days_left(cert: x509.Certificate, now: dt.datetime) -> float:
    return (cert.not_valid_after_utc - now).total_seconds() / _DAY


def _validity(
    cert: x509.Certificate, now: dt.datetime, min_days: float, what: str
) -> tuple[str | None, str | None]:
    """(failure, warning) about the validity period, at most one of them set."""
    name = f"{what} {describe(cert)}"
    if now < cert.not_valid_before_utc:
        return f"{name} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC", None
    left = days_left(cert, now)
    if left <= 0:
        return (
            f"{name} expired {-left:.1f} days ago ({cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        ), None
    if left < min_days:
        return None, (
            f"{name} expires in {left:.1f} days "
            f"({cert.not_valid_after_utc:%Y-%m-%d}), under the {min_days:g} wanted"
        )
    return None, None


def bundle_text(configmap: Obj | None) -> str:
    """The trust bundle of ConfigMap linkerd-identity-trust-roots; BundleError when absent."""
    where = f"ConfigMap {CONTROL_PLANE_NAMESPACE}/{TRUST_ROOTS}"
    if configmap is None:
        raise BundleError(f"{where} does not exist")
    text = (configmap.get("data") or {}).get(BUNDLE_KEY)
    if not text or not str(text).strip():
        raise BundleError(f"{where} has no {BUNDLE_KEY}")
    return str(text)


def judge_trust_anchor(
    configmap: Obj | None, now: dt.datetime, min_days: float = DEFAULT_MIN_DAYS
) -> Result:
    """Every anchor parses, uses a supported algorithm, is valid now and for `min_days`."""
    where = f"ConfigMap {CONTROL_PLANE_NAMESPACE}/{TRUST_ROOTS} {BUNDLE_KEY}"
    try:
        anchors = parse_bundle(bundle_text(configmap))
    except BundleError as exc:
        text = str(exc) if str(exc).startswith("ConfigMap") else f"{where} {exc}"
        return Result("the trust anchor cannot be read", failures=(text,))
    failed: list[str] = []
    warned: list[str] = []
    for anchor in anchors:
        problem = algorithm_problem(anchor)
        if problem:
            failed.append(f"trust anchor {describe(anchor)} {problem}")
        failure, warning = _validity(anchor, now, min_days, "trust anchor")
        failed += [failure] if failure else []
        warned += [warning] if warning else []
    soonest = min(days_left(a, now) for a in anchors)
    return Result(
        f"{len(anchors)} trust anchor(s), the soonest valid for {soonest:.0f} more days",
        tuple(failed),
        tuple(warned),
    )


# ----------------------------------------------------------------------------------------
# proxies
# ----------------------------------------------------------------------------------------


def proxy_container(pod: Obj) -> Obj | None:
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):  # an app container or a native sidecar
        for container in spec.get(key) or []:
            if container.get("name") == PROXY_CONTAINER and isinstance(container, dict):
                return container  # read only: 10,000 pods were 30,000 copies
    return None


def container_anchors(proxy: Obj) -> str | ConfigMapRef | None:
    """The anchors a proxy container was given: the literal PEM, a ConfigMap reference, or
    None."""
    env = env_entry(proxy, ANCHORS_ENV)
    if env is None:
        return None
    if "value" in env:
        return str(env["value"])
    ref = (env.get("valueFrom") or {}).get("configMapKeyRef") or {}
    if ref:
        return ConfigMapRef(str(ref.get("name", "")), str(ref.get("key", "")))
    return None


def _name(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def meshed_pods(pods: list[Obj]) -> list[tuple[Obj, Obj]]:
    """(pod, its proxy container) of the running meshed pods."""
    return derived(pods, _meshed_pods)


def _meshed_pods(pods: list[Obj]) -> list[tuple[Obj, Obj]]:
    # a finished pod (a CronJob's completed run, an evicted one) holds no live proxy
    return [
        (p, proxy) for p in pods if not finished(p) and (proxy := proxy_container(p)) is not None
    ]


def proxy_versions(pods: list[Obj]) -> list[tuple[Obj, Any]]:
    """(pod, the version its injector stamped: linkerd.io/proxy-version) of the running
    meshed pods; shared with the report's environment (fixtures/reporting.py)."""
    return derived(pods, _proxy_versions)


def _proxy_versions(pods: list[Obj]) -> list[tuple[Obj, Any]]:
    return [
        (pod, ((pod.get("metadata") or {}).get("annotations") or {}).get(PROXY_VERSION))
        for pod, _ in meshed_pods(pods)
    ]


def judge_proxies_trust(configmap: Obj | None, pods: list[Obj]) -> Result:
    """Every meshed pod's proxy trusts the current bundle (a rotated anchor with stale
    proxies fails here, naming the pods to restart)."""
    try:
        bundle = bundle_text(configmap).strip()
    except BundleError as exc:
        return Result("the trust bundle cannot be read", failures=(str(exc),))
    meshed = meshed_pods(pods)
    stale: list[str] = []
    for pod, proxy in meshed:
        anchors = container_anchors(proxy)
        if isinstance(anchors, ConfigMapRef):
            if (anchors.name, anchors.key) != (TRUST_ROOTS, BUNDLE_KEY):
                stale.append(
                    f"pod {_name(pod)} takes its anchors from ConfigMap "
                    f"{anchors.name} key {anchors.key}, not {TRUST_ROOTS}"
                )
            continue
        if anchors is None:
            stale.append(f"pod {_name(pod)}: its proxy has no {ANCHORS_ENV}")
        elif anchors.strip() != bundle:
            stale.append(
                f"pod {_name(pod)} holds an old trust anchor "
                f"({_first_subject(anchors)}); restart it"
            )
    if stale:
        return Result(
            f"{len(stale)} of {len(meshed)} meshed pods do not trust the current anchor",
            failures=tuple(stale),
        )
    return Result(f"all {len(meshed)} meshed pods trust the current anchor")


def _first_subject(pem: str) -> str:
    try:
        return describe(parse_bundle(pem)[0])
    except BundleError as exc:
        return f"its bundle {exc}"


def control_plane_version(linkerd_config: Obj | None) -> str | None:
    """The proxy version the control plane injects (`proxy.image.version` or
    `linkerdVersion` of linkerd-config's values); None when not readable."""
    values = config_values(linkerd_config)
    proxy_image = (values.get("proxy") or {}).get("image") or {}
    version = proxy_image.get("version") or values.get("linkerdVersion")
    return str(version) if version else None


def judge_proxy_versions(linkerd_config: Obj | None, pods: list[Obj]) -> Result:
    """Data-plane proxies run the control plane's version (a warning when not: proxies
    are updated by restarting their pods)."""
    expected = control_plane_version(linkerd_config)
    if expected is None:
        return Result(
            "the control plane's version cannot be read",
            warnings=(
                f"ConfigMap {CONTROL_PLANE_NAMESPACE}/{LINKERD_CONFIG} has no linkerdVersion in "
                "its values",
            ),
        )
    versions = proxy_versions(pods)
    skewed = [
        f"pod {_name(pod)} runs proxy {version or '(no annotation)'}, the control plane {expected}"
        for pod, version in versions
        if version != expected
    ]
    if skewed:
        return Result(
            f"{len(skewed)} of {len(versions)} proxies differ from {expected}",
            warnings=tuple(skewed),
        )
    return Result(f"all {len(versions)} proxies run {expected}")


# ----------------------------------------------------------------------------------------
# issuer
# ----------------------------------------------------------------------------------------


def config_values(linkerd_config: Obj | None) -> Obj:
    """linkerd-config's `values` (Helm values, keys removed), or {} when unreadable."""
    text = ((linkerd_config or {}).get("data") or {}).get("values")
    if not text:
        return {}
    try:
        values = yaml_load(str(text), "lenient")
    except yaml.YAMLError:
        return {}
    return values if isinstance(values, dict) else {}


def issuer_pem(linkerd_config: Obj | None) -> tuple[str | None, str]:
    """(the issuer certificate PEM, "") or (None, why it cannot be read without Secrets)."""
    where = f"ConfigMap {CONTROL_PLANE_NAMESPACE}/{LINKERD_CONFIG}"
    if linkerd_config is None:
        return None, f"{where} does not exist"
    values = config_values(linkerd_config)
    if not values:
        return None, f"{where} has no readable values"
    issuer = (values.get("identity") or {}).get("issuer") or {}
    scheme = issuer.get("scheme") or "linkerd.io/tls"
    if scheme != "linkerd.io/tls":
        return None, (
            f"the issuer uses scheme {scheme} (an external issuer such as "
            "cert-manager): its certificate is only in Secret "
            f"{CONTROL_PLANE_NAMESPACE}/linkerd-identity-issuer, and Secrets are "
            "not read"
        )
    pem = (issuer.get("tls") or {}).get("crtPEM")
    if not pem:
        return None, (
            f"{where} values carry no identity.issuer.tls.crtPEM (the issuer was "
            "not given through Helm values); its Secret is not read"
        )
    return str(pem), ""


def _signed_by(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    if cert.issuer != anchor.subject:
        return False
    key = anchor.public_key()
    hash_algorithm = cert.signature_hash_algorithm or hashes.SHA256()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hash_algorithm
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True


def judge_issuer(
    linkerd_config: Obj | None,
    trust_roots: Obj | None,
    now: dt.datetime,
    min_days: float = DEFAULT_MIN_DAYS,
) -> Result:
    """The issuer certificate (where readable without Secrets): ECDSA P-256, valid now and
    for `min_days`, signed by a current trust anchor. Unreadable without Secrets is no
    defect (cert-manager keeps it in a Secret only): passed, its summary saying why it was
    not checked; a linkerd-config missing or without values is a warning."""
    pem, why = issuer_pem(linkerd_config)
    if pem is None and not config_values(linkerd_config):  # the install itself is odd
        return Result(f"not checked: {why}", warnings=(why,))
    if pem is None:
        return Result(f"not checked: {why}")
    try:
        issuer = parse_bundle(pem)[0]
    except BundleError as exc:
        return Result(
            "the issuer certificate does not parse",
            failures=(f"identity.issuer.tls.crtPEM in {LINKERD_CONFIG} {exc}",),
        )
    failed: list[str] = []
    warned: list[str] = []
    problem = algorithm_problem(issuer, issuer=True)
    if problem:
        failed.append(f"issuer {describe(issuer)} {problem}")
    failure, warning = _validity(issuer, now, min_days, "issuer")
    failed += [failure] if failure else []
    warned += [warning] if warning else []
    try:
        anchors = parse_bundle(bundle_text(trust_roots))
    except BundleError as exc:
        warned.append(f"the issuer's chain is not checked: {exc}")
        anchors = []
    if anchors and not any(_signed_by(issuer, anchor) for anchor in anchors):
        failed.append(f"issuer {describe(issuer)} is not signed by any anchor of {TRUST_ROOTS}")
    return Result(
        f"issuer {describe(issuer)} valid for {days_left(issuer, now):.0f} more days",
        tuple(failed),
        tuple(warned),
    )


# ----------------------------------------------------------------------------------------
# the checks
# ----------------------------------------------------------------------------------------

CONFIGMAPS = model.objects("ConfigMap", CONTROL_PLANE_NAMESPACE)
FEATURE = "Identity"
_ROTATE_HINT = (
    "rotate the trust anchor and issuer (linkerd.io: 'Manually Rotating Control "
    "Plane TLS Credentials'), then restart the meshed workloads"
)


def _configmap(readings: Readings, name: str) -> Obj | None:
    found: Obj | None = readings[CONFIGMAPS].get(name)
    return found


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def trust_anchor_check(min_days: float) -> Check:
    return Check(
        "identity.trust-anchor",
        "identity.trust-anchor",
        FEATURE,
        f"Linkerd's trust anchor ({TRUST_ROOTS} {BUNDLE_KEY}) parses, uses a supported "
        f"algorithm and is valid for at least {min_days:g} more days",
        _ROTATE_HINT,
        (CONFIGMAPS,),
        lambda readings: judge_trust_anchor(_configmap(readings, TRUST_ROOTS), _now(), min_days),
    )


def issuer_check(min_days: float) -> Check:
    return Check(
        "identity.issuer",
        "identity.issuer",
        FEATURE,
        f"Linkerd's issuer certificate (where readable without Secrets) is ECDSA P-256, signed "
        f"by the trust anchor and valid for at least {min_days:g} more days",
        _ROTATE_HINT,
        (CONFIGMAPS,),
        lambda readings: judge_issuer(
            _configmap(readings, LINKERD_CONFIG),
            _configmap(readings, TRUST_ROOTS),
            _now(),
            min_days,
        ),
    )


def proxies_trust_check(namespace: str) -> Check:
    pods = model.pods(namespace)
    return Check(
        f"identity.proxies-trust[{namespace}]",
        "identity.proxies-trust",
        FEATURE,
        f"every meshed pod in {namespace} trusts the current trust anchor",
        f"kubectl -n {namespace} rollout restart deploy/<name> for each pod named",
        (CONFIGMAPS, pods),
        lambda readings: judge_proxies_trust(_configmap(readings, TRUST_ROOTS), readings[pods]),
    )


def proxy_versions_check(namespace: str) -> Check:
    pods = model.pods(namespace)
    return Check(
        f"identity.proxy-versions[{namespace}]",
        "identity.proxy-versions",
        FEATURE,
        f"every proxy in {namespace} runs the control plane's version",
        f"kubectl -n {namespace} rollout restart deploy/<name>: proxies update on restart",
        (CONFIGMAPS, pods),
        lambda readings: judge_proxy_versions(_configmap(readings, LINKERD_CONFIG), readings[pods]),
    )
