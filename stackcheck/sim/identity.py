"""Linkerd identity in the sim: a trust anchor and issuer generated per sim (by the deploy's
own `stackcheck.certs`), and the two ConfigMaps the chart renders from them.

Facts (linkerd/linkerd2, tag stable-2.14.10): templates/identity.yaml renders ConfigMap
`linkerd-identity-trust-roots` with `ca-bundle.crt: |-` the trimmed anchors PEM;
templates/config.yaml renders ConfigMap `linkerd-config` whose `values` are the Helm values
minus `identity.issuer.tls.keyPEM` (the issuer's crtPEM stays). No key is ever stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from stackcheck import certs
from stackcheck.sim.spec import SimSpec

Obj = dict[str, Any]
NAMESPACE = "linkerd"
LINKERD_VERSION = "stable-2.14.10"
_ISSUER_DAYS = 365
_PAST_LIFETIME_DAYS = 30  # an expired anchor lived this long before it expired


def sim_certificates(
    days_left: float, now: dt.datetime | None = None
) -> certs.IdentityCertificates:
    """An anchor (and issuer) whose validity ends about `days_left` whole days from `now`
    (negative: ended that long ago), generated and chain-checked as the deploy does."""
    now = now or dt.datetime.now(dt.UTC)
    if days_left > 0:
        born = now - dt.timedelta(days=1)
        lifetime = int(days_left) + 1
    else:
        born = now + dt.timedelta(days=days_left - _PAST_LIFETIME_DAYS)
        lifetime = _PAST_LIFETIME_DAYS
    return certs.generate(now=born, anchor_days=lifetime, issuer_days=min(_ISSUER_DAYS, lifetime))


def _labels() -> dict[str, str]:
    return {
        "linkerd.io/control-plane-component": "identity",
        "linkerd.io/control-plane-ns": NAMESPACE,
    }


def trust_roots(anchor_pem: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "linkerd-identity-trust-roots",
            "namespace": NAMESPACE,
            "labels": _labels(),
            "annotations": {"linkerd.io/created-by": f"linkerd/helm {LINKERD_VERSION}"},
        },
        "data": {"ca-bundle.crt": anchor_pem.strip()},
    }


def linkerd_config(anchor_pem: str, issuer_pem: str, external_issuer: bool = False) -> Obj:
    """The part of linkerd-config's values the checks read (a real one holds every value).
    An external issuer (cert-manager; linkerd.io "Automatically Rotating Control Plane TLS
    Credentials": `identity.issuer.scheme=kubernetes.io/tls`) leaves the chart's default
    empty `crtPEM`: the certificate is in Secret linkerd-identity-issuer only."""
    values = {
        "clusterDomain": "cluster.local",
        "identityTrustDomain": "cluster.local",
        "identityTrustAnchorsPEM": anchor_pem,
        "linkerdVersion": LINKERD_VERSION,
        "identity": {
            "externalCA": False,
            "serviceAccountTokenProjection": True,
            "issuer": {
                "scheme": "kubernetes.io/tls" if external_issuer else "linkerd.io/tls",
                "clockSkewAllowance": "20s",
                "issuanceLifetime": "24h0m0s",
                "tls": {"crtPEM": "" if external_issuer else issuer_pem},
            },
        },
        "proxy": {
            "image": {"name": "cr.l5d.io/linkerd/proxy", "version": ""},
            "logLevel": "warn,linkerd=info,trust_dns=error",
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "linkerd-config",
            "namespace": NAMESPACE,
            "labels": {
                "linkerd.io/control-plane-component": "controller",
                "linkerd.io/control-plane-ns": NAMESPACE,
            },
            "annotations": {"linkerd.io/created-by": f"linkerd/helm {LINKERD_VERSION}"},
        },
        "data": {
            "linkerd-crds-chart-version": "linkerd-crds-1.0.0-edge",
            "values": yaml.safe_dump(values, sort_keys=False),
        },
    }


def identity_objects(spec: SimSpec, now: dt.datetime | None = None) -> list[Obj]:
    """The ConfigMaps for this sim; fills `spec.previous_trust_anchor_pem` when some
    workloads hold the anchor from before a rotation."""
    current = sim_certificates(spec.trust_anchor_days_left, now)
    if spec.stale_anchor_workloads and not spec.previous_trust_anchor_pem:
        spec.previous_trust_anchor_pem = sim_certificates(3650.0, now).trust_anchor_pem.decode()
    anchor = current.trust_anchor_pem.decode()
    return [
        trust_roots(anchor),
        linkerd_config(anchor, current.issuer_cert_pem.decode(), spec.issuer_external),
    ]
