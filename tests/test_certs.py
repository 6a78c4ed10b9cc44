"""Linkerd identity certificates: generated, chained, P-256, private, never committed."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from stackcheck import certs
from stackcheck.static import PRIVATE_KEY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated() -> certs.IdentityCertificates:
    return certs.generate()


def test_chain_verifies(generated: certs.IdentityCertificates) -> None:
    certs.verify_chain(generated)  # raises if not


def test_keys_are_ecdsa_p256(generated: certs.IdentityCertificates) -> None:
    for pem in (generated.trust_anchor_pem, generated.issuer_cert_pem):
        key = x509.load_pem_x509_certificate(pem).public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert isinstance(key.curve, ec.SECP256R1)


def test_names_and_constraints_are_what_linkerd_expects(
    generated: certs.IdentityCertificates,
) -> None:
    root = x509.load_pem_x509_certificate(generated.trust_anchor_pem)
    issuer = x509.load_pem_x509_certificate(generated.issuer_cert_pem)
    sans = issuer.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["identity.linkerd.cluster.local"]
    assert root.subject.rfc4514_string() == "CN=root.linkerd.cluster.local"
    assert issuer.issuer == root.subject
    root_bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    issuer_bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (root_bc.ca, root_bc.path_length) == (True, 1)
    assert (issuer_bc.ca, issuer_bc.path_length) == (True, 0)
    assert issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert issuer.not_valid_after_utc < root.not_valid_after_utc
    assert issuer.not_valid_after_utc - issuer.not_valid_before_utc > dt.timedelta(days=300)


def test_issuer_from_another_root_is_rejected(generated: certs.IdentityCertificates) -> None:
    other = certs.generate()
    mixed = certs.IdentityCertificates(
        generated.trust_anchor_pem, other.issuer_cert_pem, other.issuer_key_pem
    )
    with pytest.raises(certs.CertificateError, match="not signed by the trust anchor"):
        certs.verify_chain(mixed)


def test_key_must_match_the_issuer(generated: certs.IdentityCertificates) -> None:
    other = certs.generate()
    mixed = certs.IdentityCertificates(
        generated.trust_anchor_pem, generated.issuer_cert_pem, other.issuer_key_pem
    )
    with pytest.raises(certs.CertificateError, match="does not match"):
        certs.verify_chain(mixed)


def test_expired_issuer_is_rejected(generated: certs.IdentityCertificates) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=certs.ISSUER_DAYS + 1)
    with pytest.raises(certs.CertificateError, match="issuer: not valid at"):
        certs.verify_chain(generated, at=later)


def test_wrong_namespace_name_is_rejected(generated: certs.IdentityCertificates) -> None:
    with pytest.raises(certs.CertificateError, match=r"identity\.other\.cluster\.local"):
        certs.verify_chain(generated, namespace="other")


def test_written_private_and_passed_to_helm(
    generated: certs.IdentityCertificates, tmp_path: Path
) -> None:
    folder = certs.write(generated, tmp_path / "identity")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("ca.crt", "issuer.crt", "issuer.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert (folder / "issuer.key").read_bytes() == generated.issuer_key_pem
    assert certs.helm_flags(folder) == [
        "--set-file",
        f"identityTrustAnchorsPEM={folder / 'ca.crt'}",
        "--set-file",
        f"identity.issuer.tls.crtPEM={folder / 'issuer.crt'}",
        "--set-file",
        f"identity.issuer.tls.keyPEM={folder / 'issuer.key'}",
    ]


def test_default_folder_is_a_fresh_private_temp_dir(generated: certs.IdentityCertificates) -> None:
    folder = certs.write(generated)
    try:
        assert ROOT not in folder.parents
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_no_private_key_is_committed() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in listed.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if PRIVATE_KEY.search(text) and not name.startswith("tests/"):
            offenders.append(name)
    assert offenders == []
