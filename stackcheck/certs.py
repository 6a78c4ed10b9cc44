"""Linkerd identity certificates, generated at deploy time and never committed.

Linkerd's identity controller needs a trust anchor (a root CA) and an issuer certificate and
key signed by it. Both are ECDSA P-256, as Linkerd requires. Linkerd verifies the issuer
against the trust anchors for the DNS name `identity.<namespace>.<trust domain>`, so the
issuer carries that name as a SAN; the root is `root.<namespace>.<trust domain>`. The files
are written 0600 into a private temporary folder and handed to Helm with `--set-file`.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ANCHOR_DAYS = 3650  # the trust anchor outlives many issuer rotations
ISSUER_DAYS = 365  # `linkerd check` warns when the issuer has under 60 days left
CLOCK_SKEW = dt.timedelta(minutes=5)  # not-before slightly in the past: nodes' clocks differ

# Helm value -> file name in the certificate folder
HELM_FILES = (
    ("identityTrustAnchorsPEM", "ca.crt"),
    ("identity.issuer.tls.crtPEM", "issuer.crt"),
    ("identity.issuer.tls.keyPEM", "issuer.key"),
)


class CertificateError(Exception):
    """The certificates do not form the chain Linkerd needs; the message says why."""


@dataclass(frozen=True)
class IdentityCertificates:
    trust_anchor_pem: bytes
    issuer_cert_pem: bytes
    issuer_key_pem: bytes


def issuer_name(namespace: str = "linkerd", trust_domain: str = "cluster.local") -> str:
    return f"identity.{namespace}.{trust_domain}"


def root_name(namespace: str = "linkerd", trust_domain: str = "cluster.local") -> str:
    return f"root.{namespace}.{trust_domain}"


def generate(
    namespace: str = "linkerd",
    trust_domain: str = "cluster.local",
    now: dt.datetime | None = None,
    anchor_days: int = ANCHOR_DAYS,
    issuer_days: int = ISSUER_DAYS,
) -> IdentityCertificates:
    """A fresh trust anchor and an issuer signed by it; the chain is verified before return."""
    now = now or dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    root_cn = root_name(namespace, trust_domain)
    issuer_cn = issuer_name(namespace, trust_domain)
    root = _ca_certificate(
        subject=root_cn,
        issuer=root_cn,
        public_key=root_key.public_key(),
        signing_key=root_key,
        path_length=1,
        not_before=now - CLOCK_SKEW,
        not_after=now + dt.timedelta(days=anchor_days),
        authority=root_key.public_key(),
    )
    issuer = _ca_certificate(
        subject=issuer_cn,
        issuer=root_cn,
        public_key=issuer_key.public_key(),
        signing_key=root_key,
        path_length=0,
        not_before=now - CLOCK_SKEW,
        not_after=now + dt.timedelta(days=issuer_days),
        authority=root_key.public_key(),
    )
    certs = IdentityCertificates(
        trust_anchor_pem=root.public_bytes(serialization.Encoding.PEM),
        issuer_cert_pem=issuer.public_bytes(serialization.Encoding.PEM),
        issuer_key_pem=issuer_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    verify_chain(certs, namespace, trust_domain, at=now)
    return certs


def _ca_certificate(
    *,
    subject: str,
    issuer: str,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    path_length: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    authority: ec.EllipticCurvePublicKey,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority), critical=False
        )
    )
    return builder.sign(signing_key, hashes.SHA256())


def verify_chain(
    certs: IdentityCertificates,
    namespace: str = "linkerd",
    trust_domain: str = "cluster.local",
    at: dt.datetime | None = None,
) -> None:
    """Raise CertificateError unless the issuer is what Linkerd's identity controller accepts."""
    at = at or dt.datetime.now(dt.UTC)
    try:
        root = x509.load_pem_x509_certificate(certs.trust_anchor_pem)
        issuer = x509.load_pem_x509_certificate(certs.issuer_cert_pem)
        key = serialization.load_pem_private_key(certs.issuer_key_pem, password=None)
    except ValueError as exc:
        raise CertificateError(f"unreadable PEM: {exc}") from None
    for label, cert in (("trust anchor", root), ("issuer", issuer)):
        public = cert.public_key()
        if not (
            isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1)
        ):
            raise CertificateError(f"{label}: key is not ECDSA P-256")
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise CertificateError(
                f"{label}: not valid at {at.isoformat()} "
                f"({cert.not_valid_before_utc} .. {cert.not_valid_after_utc})"
            )
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            raise CertificateError(f"{label}: not a CA certificate")
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)):
        raise CertificateError("issuer key: not an ECDSA P-256 private key")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != issuer.public_key().public_bytes(*spki):
        raise CertificateError("issuer key does not match the issuer certificate")
    try:
        issuer.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature) as exc:
        reason = str(exc) or "bad signature"
        raise CertificateError(f"issuer is not signed by the trust anchor ({reason})") from None
    wanted = issuer_name(namespace, trust_domain)
    names = issuer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if wanted not in names.get_values_for_type(x509.DNSName):
        raise CertificateError(f"issuer: no DNS name {wanted} (Linkerd verifies it)")
    if issuer.not_valid_after_utc > root.not_valid_after_utc:
        raise CertificateError("issuer outlives the trust anchor")


def write(certs: IdentityCertificates, directory: Path | None = None) -> Path:
    """Write the three PEM files (0600) into `directory` (a new private temp folder if None)."""
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="stackcheck-identity-"))  # mode 0700
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    contents = dict(
        zip(
            (name for _, name in HELM_FILES),
            (certs.trust_anchor_pem, certs.issuer_cert_pem, certs.issuer_key_pem),
            strict=True,
        )
    )
    for name, data in contents.items():
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        path.chmod(0o600)  # O_CREAT's mode does not apply to an existing file
    return directory


def helm_flags(directory: Path) -> list[str]:
    """`--set-file` flags handing the PEM files in `directory` to the control-plane chart."""
    flags: list[str] = []
    for value, name in HELM_FILES:
        flags += ["--set-file", f"{value}={directory / name}"]
    return flags
