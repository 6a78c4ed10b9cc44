"""Linkerd identity evaluations on API-shaped inputs (ConfigMaps and pods as the API server
returns them; shapes from linkerd2 stable-2.14.10's charts, see stackcheck/checks/identity.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from stackcheck import certs
from stackcheck.checks import identity
from stackcheck.checks.model import Status
from tests.kubefakes import evaluate

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
Obj = dict[str, Any]


def _pem(days_from_now: float, now: dt.datetime = NOW) -> certs.IdentityCertificates:
    """An anchor + issuer pair that ends `days_from_now` days after NOW."""
    born = now - dt.timedelta(days=30)
    return certs.generate(
        now=born, anchor_days=int(days_from_now) + 30, issuer_days=int(days_from_now) + 30
    )


def _self_signed(key: Any, days: int = 365, not_before: dt.datetime | None = None) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root.linkerd.cluster.local")])
    start = not_before or NOW - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def trust_roots(bundle: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "linkerd-identity-trust-roots", "namespace": "linkerd"},
        "data": {"ca-bundle.crt": bundle.strip()},
    }


def linkerd_config(values: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "linkerd-config", "namespace": "linkerd"},
        "data": {"values": yaml.safe_dump(values)},
    }


def pod(
    name: str,
    anchors: str | Obj | None = None,
    namespace: str = "bookinfo",
    version: str = "stable-2.14.10",
    phase: str = "Running",
    meshed: bool = True,
) -> Obj:
    env: list[Obj] = [{"name": "LINKERD2_PROXY_LOG", "value": "warn"}]
    if isinstance(anchors, dict):
        env.append({"name": identity.ANCHORS_ENV, "valueFrom": anchors})
    elif anchors is not None:
        env.append({"name": identity.ANCHORS_ENV, "value": anchors})
    containers: list[Obj] = [{"name": "app", "image": "app"}]
    if meshed:
        containers.insert(0, {"name": "linkerd-proxy", "env": env})
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"linkerd.io/proxy-version": version},
        },
        "spec": {"containers": containers},
        "status": {"phase": phase},
    }


# ----------------------------------------------------------------------------------------
# trust anchor
# ----------------------------------------------------------------------------------------


def test_a_fresh_anchor_passes() -> None:
    pair = _pem(3650)
    finding = identity.judge_trust_anchor(trust_roots(pair.trust_anchor_pem.decode()), NOW, 60)
    assert finding.status is Status.PASSED
    assert "valid for 3650 more days" in finding.summary


def test_an_anchor_expiring_soon_warns_with_its_days_left() -> None:
    pair = _pem(10)
    finding = identity.judge_trust_anchor(trust_roots(pair.trust_anchor_pem.decode()), NOW, 30)
    assert finding.status is Status.WARNING
    assert "root.linkerd.cluster.local" in finding.reasons[0]
    assert (
        "expires in 10.0 days" in finding.reasons[0] and "under the 30 wanted" in finding.reasons[0]
    )


def test_an_expired_anchor_fails() -> None:
    pair = _pem(-3)
    finding = identity.judge_trust_anchor(trust_roots(pair.trust_anchor_pem.decode()), NOW)
    assert finding.status is Status.FAILED
    assert "expired 3.0 days ago" in finding.reasons[0]


def test_an_anchor_not_yet_valid_fails() -> None:
    bundle = _self_signed(
        ec.generate_private_key(ec.SECP256R1()), not_before=NOW + dt.timedelta(days=2)
    )
    finding = identity.judge_trust_anchor(trust_roots(bundle), NOW)
    assert finding.status is Status.FAILED
    assert "is not valid before" in finding.reasons[0]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (ec.generate_private_key(ec.SECP384R1()), "curve secp384r1; Linkerd needs P-256"),
        (rsa.generate_private_key(65537, 1024), "1024-bit RSA key"),
    ],
)
def test_unsupported_anchor_algorithms_fail(key: Any, problem: str) -> None:
    finding = identity.judge_trust_anchor(trust_roots(_self_signed(key)), NOW)
    assert finding.status is Status.FAILED
    assert problem in finding.reasons[0]


def test_an_rsa_2048_anchor_is_supported() -> None:
    bundle = _self_signed(rsa.generate_private_key(65537, 2048), days=3650)
    assert identity.judge_trust_anchor(trust_roots(bundle), NOW).status is Status.PASSED


def test_a_bundle_mid_rotation_holds_two_anchors() -> None:
    old, new = _pem(400), _pem(3650)
    bundle = old.trust_anchor_pem.decode() + new.trust_anchor_pem.decode()
    finding = identity.judge_trust_anchor(trust_roots(bundle), NOW)
    assert finding.status is Status.PASSED and finding.summary.startswith("2 trust anchor(s)")


@pytest.mark.parametrize(
    ("configmap", "text"),
    [
        (None, "ConfigMap linkerd/linkerd-identity-trust-roots does not exist"),
        (trust_roots(""), "has no ca-bundle.crt"),
        (trust_roots("not a certificate"), "holds no PEM certificate"),
        (
            trust_roots("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            "does not parse",
        ),
    ],
)
def test_an_unreadable_bundle_fails_saying_why(configmap: Obj | None, text: str) -> None:
    finding = identity.judge_trust_anchor(configmap, NOW)
    assert finding.status is Status.FAILED
    assert text in finding.reasons[0]


# ----------------------------------------------------------------------------------------
# proxies
# ----------------------------------------------------------------------------------------

ANCHOR = _pem(3650).trust_anchor_pem.decode()
OLD_ANCHOR = _pem(3650).trust_anchor_pem.decode()
FROM_CONFIGMAP = {
    "configMapKeyRef": {"name": "linkerd-identity-trust-roots", "key": "ca-bundle.crt"}
}


def test_proxies_holding_the_bundle_pass_whitespace_aside() -> None:
    pods = [
        pod("details-v1-abc", ANCHOR + "\n"),
        pod("linkerd-identity-xyz", FROM_CONFIGMAP, namespace="linkerd"),
        pod("unmeshed", meshed=False),
    ]
    finding = identity.judge_proxies_trust(trust_roots(ANCHOR), pods)
    assert finding.status is Status.PASSED
    assert finding.summary == "all 2 meshed pods trust the current anchor"


def test_a_proxy_with_the_old_anchor_is_named() -> None:
    pods = [pod("details-v1-abc", ANCHOR), pod("ratings-v1-def", OLD_ANCHOR), pod("reviews-v1-ghi")]
    finding = identity.judge_proxies_trust(trust_roots(ANCHOR), pods)
    assert finding.status is Status.FAILED
    assert "pod bookinfo/ratings-v1-def holds an old trust anchor" in finding.reasons[0]
    assert "pod bookinfo/reviews-v1-ghi: its proxy has no" in finding.reasons[1]
    assert finding.summary.startswith("2 of 3 meshed pods")


def test_a_native_sidecar_proxy_is_judged_as_a_classic_one() -> None:
    """proxy.nativeSidecar: the proxy is an init container (restartPolicy: Always)."""
    stale, fresh = pod("ratings-v1-def", OLD_ANCHOR), pod("details-v1-abc", ANCHOR)
    for each in (stale, fresh):
        spec = each["spec"]
        spec["initContainers"] = [{"name": "linkerd-init"}, spec["containers"].pop(0)]
        spec["initContainers"][1]["restartPolicy"] = "Always"
    finding = identity.judge_proxies_trust(trust_roots(ANCHOR), [stale, fresh])
    assert len(finding.reasons) == 1
    assert finding.reasons[0].startswith("pod bookinfo/ratings-v1-def holds an old trust anchor")
    assert finding.summary == "1 of 2 meshed pods do not trust the current anchor"


def test_finished_pods_are_not_judged() -> None:
    pods = [pod("linkerd-heartbeat-1", OLD_ANCHOR, namespace="linkerd", phase="Succeeded")]
    assert identity.judge_proxies_trust(trust_roots(ANCHOR), pods).status is Status.PASSED


def test_a_reference_to_another_configmap_fails() -> None:
    ref = {"configMapKeyRef": {"name": "my-roots", "key": "ca.crt"}}
    finding = identity.judge_proxies_trust(trust_roots(ANCHOR), [pod("x", ref)])
    assert finding.status is Status.FAILED and "ConfigMap my-roots key ca.crt" in finding.reasons[0]


def test_proxy_version_skew_is_a_warning_naming_the_pod() -> None:
    config = linkerd_config({"linkerdVersion": "stable-2.14.10"})
    pods = [pod("details-v1-abc"), pod("ratings-v1-def", version="stable-2.14.9")]
    finding = identity.judge_proxy_versions(config, pods)
    assert finding.status is Status.WARNING
    assert finding.reasons == (
        "pod bookinfo/ratings-v1-def runs proxy stable-2.14.9, the control plane stable-2.14.10",
    )
    assert identity.judge_proxy_versions(config, pods[:1]).status is Status.PASSED


def test_the_proxy_image_version_overrides_linkerd_version() -> None:
    config = linkerd_config(
        {"linkerdVersion": "stable-2.14.10", "proxy": {"image": {"version": "stable-2.14.9"}}}
    )
    assert (
        identity.judge_proxy_versions(config, [pod("a", version="stable-2.14.9")]).status
        is Status.PASSED
    )


def test_an_unreadable_control_plane_version_warns() -> None:
    assert identity.judge_proxy_versions(None, [pod("a")]).status is Status.WARNING


# ----------------------------------------------------------------------------------------
# issuer
# ----------------------------------------------------------------------------------------


def _values(pair: certs.IdentityCertificates, scheme: str = "linkerd.io/tls") -> Obj:
    issuer: Obj = {"scheme": scheme}
    if scheme == "linkerd.io/tls":
        issuer["tls"] = {"crtPEM": pair.issuer_cert_pem.decode()}
    return {"linkerdVersion": "stable-2.14.10", "identity": {"issuer": issuer}}


def test_the_issuer_from_helm_values_is_checked_against_the_anchor() -> None:
    pair = _pem(365)
    finding = identity.judge_issuer(
        linkerd_config(_values(pair)), trust_roots(pair.trust_anchor_pem.decode()), NOW
    )
    assert finding.status is Status.PASSED and "identity.linkerd.cluster.local" in finding.summary
    other = identity.judge_issuer(linkerd_config(_values(pair)), trust_roots(ANCHOR), NOW)
    assert other.status is Status.FAILED and "is not signed by any anchor" in other.reasons[0]


def test_an_issuer_expiring_soon_warns() -> None:
    pair = _pem(20)
    finding = identity.judge_issuer(
        linkerd_config(_values(pair)), trust_roots(pair.trust_anchor_pem.decode()), NOW, 60
    )
    assert finding.status is Status.WARNING and "expires in 20.0 days" in finding.reasons[0]


@pytest.mark.parametrize(
    ("config", "why"),
    [
        (None, "ConfigMap linkerd/linkerd-config does not exist"),
        (
            linkerd_config(_values(_pem(365), "kubernetes.io/tls")),
            "scheme kubernetes.io/tls (an external issuer such as cert-manager)",
        ),
        (
            linkerd_config({"identity": {"issuer": {"scheme": "linkerd.io/tls"}}}),
            "carry no identity.issuer.tls.crtPEM",
        ),
    ],
)
def test_the_issuer_not_readable_says_why(config: Obj | None, why: str) -> None:
    """Secrets are not read: an issuer kept only there passes, saying it was not checked;
    a missing linkerd-config is odd enough for a warning."""
    finding = identity.judge_issuer(config, trust_roots(ANCHOR), NOW)
    assert finding.summary.startswith("not checked: ") and why in finding.summary
    expected = Status.WARNING if config is None else Status.PASSED
    assert finding.status is expected


def test_the_records_read_configmaps_and_pods_as_the_suite_does() -> None:
    """Through the runner and the pod list's view (the proxy's env must survive it)."""
    pods = [
        {"apiVersion": "v1", "kind": "Pod", **p}
        for p in (pod("details-v1-abc", ANCHOR), pod("ratings-v1-def", OLD_ANCHOR))
    ]
    objects = [trust_roots(ANCHOR), *pods]
    trust = evaluate("identity.proxies-trust[bookinfo]", *objects)
    assert trust.status is Status.FAILED
    assert trust.failures == (
        f"pod bookinfo/ratings-v1-def holds an old trust anchor "
        f"({identity.describe(identity.parse_bundle(OLD_ANCHOR)[0])}); "
        "restart it",
    )
    assert evaluate("identity.trust-anchor", *objects).status is Status.PASSED
    issuer = evaluate("identity.issuer", *objects)  # no linkerd-config: unsure, not red
    assert issuer.status is Status.WARNING and issuer.summary.startswith("not checked: ")
