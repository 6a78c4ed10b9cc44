"""The hand-written kubeconfig reader and TLS client (stackcheck/kube.py) against the
official client's loader and against a real HTTPS server.

1. Equivalence: for realistic kubeconfigs (kubeadm's admin.conf, a token with a CA file
   relative to the kubeconfig, a tokenFile, insecure-skip-tls-verify, tls-server-name,
   contexts chosen by name or by current-context, and two that only the official loader
   reads: an exec plugin and basic auth), `load_configuration` must say what
   `kubernetes.config.load_kube_config` says: host, Authorization header, verification,
   server name and the same CA, client certificate and key.
2. End to end: `Kube` talks to a local HTTPS server (stdlib http.server, a test CA, client
   certificates required or not) with each kind of credential, and fails with one clear
   line when the CA does not match or a required client certificate is missing.

Certificates and keys are generated per module and written only under tmp_path.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import ssl
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stackcheck.errors import UsageError
from stackcheck.kube import ApiFailure, Configuration, Kube, KubeTarget, load_configuration

TIMEOUT = 5.0
VERSION = {"major": "1", "minor": "28", "gitVersion": "v1.28.15"}
NAMESPACES = ("default", "kube-system", "linkerd")
SERVER_NAME = "kubernetes.default.svc"  # the only name of the "named" server certificate
TOKEN = "abcdef.0123456789abcdef"  # a kubeadm bootstrap-token-shaped bearer token


# --- a small PKI: CA, server certificates, a kubeadm-style client certificate ----------
@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem  # SANs 127.0.0.1, ::1, localhost
    named_server: Pem  # SAN kubernetes.default.svc only: reachable only with tls-server-name
    client: Pem  # CN kubernetes-admin, O system:masters, RSA PKCS#1 key like kubeadm's
    other_ca: Pem  # a CA that signed none of the above


def _certificate(
    key: Any,
    common_name: str,
    issuer: tuple[x509.Certificate, Any] | None,
    *,
    ca: bool = False,
    organization: str | None = None,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    client: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    subject = x509.Name(attributes)
    issuer_cert, issuer_key = issuer if issuer is not None else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(
    cert: x509.Certificate,
    key: Any,
    key_format: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> Pem:
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption()),
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate(ca_key, "kubernetes", None, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_cert = _certificate(other_key, "kubernetes", None, ca=True)
    issuer = (ca_cert, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate(
        server_key,
        "kube-apiserver",
        issuer,
        dns=("localhost", "kubernetes"),
        ips=("127.0.0.1", "::1"),
    )
    named_key = ec.generate_private_key(ec.SECP256R1())
    named_cert = _certificate(named_key, "kube-apiserver", issuer, dns=(SERVER_NAME,))
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_cert = _certificate(
        client_key, "kubernetes-admin", issuer, organization="system:masters", client=True
    )
    return Pki(
        ca=_pem(ca_cert, ca_key),
        server=_pem(server_cert, server_key),
        named_server=_pem(named_cert, named_key),
        client=_pem(client_cert, client_key, serialization.PrivateFormat.TraditionalOpenSSL),
        other_ca=_pem(other_cert, other_key),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    path.chmod(0o600)
    return path


# --- kubeconfigs ---------------------------------------------------------------------
def _kubeconfig(
    path: Path, contexts: dict[str, tuple[dict[str, Any], dict[str, Any]]], current: str
) -> Path:
    """A kubeconfig whose contexts each have their own cluster and user (named after it)."""
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": f"{n}-cluster", "cluster": c} for n, (c, _) in contexts.items()],
        "users": [{"name": f"{n}-user", "user": u} for n, (_, u) in contexts.items()],
        "contexts": [
            {"name": n, "context": {"cluster": f"{n}-cluster", "user": f"{n}-user"}}
            for n in contexts
        ],
        "current-context": current,
    }
    return _write(path, yaml.safe_dump(data, sort_keys=False))


def kubeadm_admin_conf(pki: Pki, folder: Path, server: str) -> Path:
    """As `kubeadm init` writes /etc/kubernetes/admin.conf: everything inline."""
    cluster = {"certificate-authority-data": _b64(pki.ca.cert), "server": server}
    user = {
        "client-certificate-data": _b64(pki.client.cert),
        "client-key-data": _b64(pki.client.key),
    }
    return _kubeconfig(
        folder / "admin.conf",
        {"kubernetes-admin@kubernetes": (cluster, user)},
        "kubernetes-admin@kubernetes",
    )


def token_with_ca_file(pki: Pki, folder: Path, server: str) -> Path:
    """A token and a CA file named relative to the kubeconfig's folder."""
    _write(folder / "kube" / "pki" / "ca.crt", pki.ca.cert)
    cluster = {"server": server, "certificate-authority": "pki/ca.crt"}
    return _kubeconfig(
        folder / "kube" / "config", {"verifier": (cluster, {"token": TOKEN})}, "verifier"
    )


def token_file(pki: Pki, folder: Path, server: str) -> Path:
    """A tokenFile (relative), as a projected service-account token: no trailing newline."""
    _write(folder / "secrets" / "token", TOKEN)
    cluster = {"server": server, "certificate-authority-data": _b64(pki.ca.cert)}
    return _kubeconfig(folder / "config", {"sa": (cluster, {"tokenFile": "secrets/token"})}, "sa")


def insecure_token(pki: Pki, folder: Path, server: str) -> Path:
    cluster = {"server": server, "insecure-skip-tls-verify": True}
    return _kubeconfig(folder / "config", {"insecure": (cluster, {"token": TOKEN})}, "insecure")


def tls_server_name(pki: Pki, folder: Path, server: str) -> Path:
    """tls-server-name, with the client certificate and key as (relative) files."""
    _write(folder / "certs" / "admin.crt", pki.client.cert)
    _write(folder / "certs" / "admin.key", pki.client.key)
    cluster = {
        "server": server,
        "certificate-authority-data": _b64(pki.ca.cert),
        "tls-server-name": SERVER_NAME,
    }
    user = {"client-certificate": "certs/admin.crt", "client-key": "certs/admin.key"}
    return _kubeconfig(folder / "config", {"named": (cluster, user)}, "named")


def _two_contexts(pki: Pki, folder: Path, server: str, current: str) -> Path:
    """`dev` (a token, insecure, another port) and `prod` (kubeadm-style certificates)."""
    dev = (
        {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True},
        {"token": "dev-token"},
    )
    prod = (
        {"server": server, "certificate-authority-data": _b64(pki.ca.cert)},
        {"client-certificate-data": _b64(pki.client.cert), "client-key-data": _b64(pki.client.key)},
    )
    return _kubeconfig(folder / "config", {"dev": dev, "prod": prod}, current)


def context_by_name(pki: Pki, folder: Path, server: str) -> Path:
    return _two_contexts(pki, folder, server, current="dev")


def current_context_switched(pki: Pki, folder: Path, server: str) -> Path:
    """As after `kubectl config use-context prod`."""
    return _two_contexts(pki, folder, server, current="prod")


def exec_plugin(pki: Pki, folder: Path, server: str) -> Path:
    """An exec credential plugin (as EKS's and GKE's): read by the official loader."""
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": TOKEN},
    }
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
        }
    }
    cluster = {"server": server, "certificate-authority-data": _b64(pki.ca.cert)}
    return _kubeconfig(folder / "config", {"exec": (cluster, user)}, "exec")


def basic_auth(pki: Pki, folder: Path, server: str) -> Path:
    """username/password: read by the official loader."""
    cluster = {"server": server, "certificate-authority-data": _b64(pki.ca.cert)}
    user = {"username": "admin", "password": "s3cret"}
    return _kubeconfig(folder / "config", {"basic": (cluster, user)}, "basic")


Writer = Callable[[Pki, Path, str], Path]
EQUIVALENCE: list[Any] = [
    pytest.param(kubeadm_admin_conf, None, id="kubeadm-admin.conf"),
    pytest.param(token_with_ca_file, None, id="token+relative-ca-file"),
    pytest.param(token_file, None, id="tokenFile"),
    pytest.param(insecure_token, None, id="insecure-skip-tls-verify+token"),
    pytest.param(tls_server_name, None, id="tls-server-name+cert-files"),
    pytest.param(context_by_name, "prod", id="non-current-context-by-name"),
    pytest.param(context_by_name, None, id="current-context"),
    pytest.param(current_context_switched, None, id="current-context-switched"),
    pytest.param(current_context_switched, "dev", id="switched-back-by-name"),
    pytest.param(exec_plugin, None, id="official-loader:exec-plugin"),
    pytest.param(basic_auth, None, id="official-loader:basic-auth"),
]


# --- 1. equivalence with the official loader -------------------------------------------
def _text(path: str | None) -> str | None:
    return Path(path).read_text(encoding="utf-8") if path else None


def _ours(configuration: Configuration) -> dict[str, Any]:
    kube = Kube(configuration, TIMEOUT)  # the headers it would send, from the real code
    try:
        authorization = kube._headers().get("Authorization")
    finally:
        kube.close()
    return {
        "host": configuration.host,
        "authorization": authorization,
        "verify_ssl": configuration.verify_ssl,
        "tls_server_name": configuration.tls_server_name,
        "ca": configuration.ca_data or _text(configuration.ssl_ca_cert),
        "cert": _text(configuration.cert_file),
        "key": _text(configuration.key_file),
    }


def _official(path: Path, context: str | None) -> dict[str, Any]:
    from kubernetes import client, config

    official = client.Configuration()
    load: Any = config.load_kube_config  # unannotated
    load(
        config_file=str(path), context=context, client_configuration=official, persist_config=False
    )
    authorization = official.auth_settings().get("BearerToken", {}).get("value")
    return {
        "host": official.host,
        "authorization": authorization,
        "verify_ssl": official.verify_ssl,
        "tls_server_name": official.tls_server_name,
        "ca": _text(official.ssl_ca_cert),
        "cert": _text(official.cert_file),
        "key": _text(official.key_file),
    }


@pytest.mark.parametrize(("write", "context"), EQUIVALENCE)
def test_same_configuration_as_the_official_loader(
    pki: Pki, tmp_path: Path, write: Writer, context: str | None
) -> None:
    path = write(pki, tmp_path, "https://127.0.0.1:6443/")
    ours = _ours(load_configuration(KubeTarget(path, context, TIMEOUT)))
    assert ours == _official(path, context)
    assert ours["host"].startswith("https://127.0.0.1:")  # and the fields are not all empty
    assert ours["ca"] or not ours["verify_ssl"]
    assert ours["authorization"] or ours["cert"]


def test_equivalence_cases_are_what_they_say(pki: Pki, tmp_path: Path) -> None:
    """The table's expectations spelled out, so that both loaders agreeing on nothing
    (e.g. both dropping the CA) cannot pass."""

    def load(write: Writer, context: str | None = None) -> dict[str, Any]:
        folder = tmp_path / f"{write.__name__}-{context}"
        return _ours(
            load_configuration(
                KubeTarget(write(pki, folder, "https://127.0.0.1:6443"), context, TIMEOUT)
            )
        )

    admin = load(kubeadm_admin_conf)
    assert (admin["ca"], admin["cert"], admin["key"]) == (
        pki.ca.cert.decode(),
        pki.client.cert.decode(),
        pki.client.key.decode(),
    )
    assert "BEGIN RSA PRIVATE KEY" in admin["key"]  # kubeadm's PKCS#1 key
    assert admin["authorization"] is None and admin["verify_ssl"] is True
    for write in (token_with_ca_file, token_file, exec_plugin):
        assert load(write)["authorization"] == f"Bearer {TOKEN}", write.__name__
    insecure = load(insecure_token)
    assert (insecure["verify_ssl"], insecure["ca"]) == (False, None)
    assert load(tls_server_name)["tls_server_name"] == SERVER_NAME
    assert load(context_by_name)["authorization"] == "Bearer dev-token"
    assert load(context_by_name, "prod")["cert"] == pki.client.cert.decode()
    assert load(current_context_switched)["host"] == "https://127.0.0.1:6443"
    expected = "Basic " + _b64(b"admin:s3cret")
    assert load(basic_auth)["authorization"] == expected


def test_token_file_is_trimmed_like_kubectl(pki: Pki, tmp_path: Path) -> None:
    """client-go trims a tokenFile's whitespace (the official Python loader does not)."""
    path = token_file(pki, tmp_path, "https://127.0.0.1:6443")
    _write(tmp_path / "secrets" / "token", TOKEN + "\n")
    configuration = load_configuration(KubeTarget(path, None, TIMEOUT))
    assert configuration.api_key == {"authorization": f"Bearer {TOKEN}"}


# --- 2. end to end over TLS ----------------------------------------------------------
@dataclass
class Seen:
    """What the server saw of each request it answered."""

    authorization: list[str | None] = field(default_factory=list)
    client_subjects: list[str | None] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = TIMEOUT

    def do_GET(self) -> None:
        self.server.seen.authorization.append(self.headers.get("Authorization"))
        peer: Any = (
            self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        )
        names = [
            value
            for part in (peer or {}).get("subject", ())
            for key, value in part
            if key == "commonName"
        ]
        self.server.seen.client_subjects.append(names[0] if names else None)
        path = self.path.split("?", 1)[0]
        if path == "/version":
            self._answer(200, VERSION)
        elif path == "/api/v1/namespaces":
            self._answer(
                200,
                {
                    "kind": "NamespaceList",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": "4711"},
                    "items": [
                        {
                            "metadata": {"name": n, "resourceVersion": "1"},
                            "status": {"phase": "Active"},
                        }
                        for n in NAMESPACES
                    ],
                },
            )
        else:
            self._answer(
                404,
                {
                    "kind": "Status",
                    "status": "Failure",
                    "reason": "NotFound",
                    "message": "the server could not find the requested resource",
                    "code": 404,
                },
            )

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: Seen


@contextmanager
def https_server(
    tmp_path: Path, identity: Pem, client_ca: bytes | None
) -> Iterator[tuple[str, Seen]]:
    """A TLS server on 127.0.0.1; with `client_ca`, client certificates signed by it are
    required (as kube-apiserver's --client-ca-file, but strict). Yields (url, Seen)."""
    folder = tmp_path / "server"
    cert = _write(folder / "apiserver.crt", identity.cert)
    key = _write(folder / "apiserver.key", identity.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca.decode())
    server = _Server(("127.0.0.1", 0), _Handler)
    server.seen = Seen()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-https", daemon=True
    )
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@contextmanager
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in caught] == []


def _read_through(path: Path, context: str | None = None) -> Kube:
    return Kube(load_configuration(KubeTarget(path, context, TIMEOUT)), TIMEOUT)


def _version_and_list(path: Path, context: str | None = None) -> None:
    with no_warnings():
        kube = _read_through(path, context)
        try:
            assert kube.version() == VERSION
            names = [n["metadata"]["name"] for n in kube.list_all("/api/v1/namespaces")]
        finally:
            kube.close()
    assert names == list(NAMESPACES)
    assert kube.list_versions["/api/v1/namespaces"] == "4711"


def test_kubeadm_client_certificate(pki: Pki, tmp_path: Path) -> None:
    """(a) admin.conf: inline CA, client certificate and key; the server requires them."""
    with https_server(tmp_path, pki.server, client_ca=pki.ca.cert) as (url, seen):
        _version_and_list(kubeadm_admin_conf(pki, tmp_path, url))
    assert seen.client_subjects == ["kubernetes-admin", "kubernetes-admin"]
    assert seen.authorization == [None, None]


def test_bearer_token_with_ca_file(pki: Pki, tmp_path: Path) -> None:
    """(b) a token over TLS, the CA as a file relative to the kubeconfig."""
    with https_server(tmp_path, pki.server, client_ca=None) as (url, seen):
        _version_and_list(token_with_ca_file(pki, tmp_path, url))
    assert seen.authorization == [f"Bearer {TOKEN}"] * 2
    assert seen.client_subjects == [None, None]


def test_token_file(pki: Pki, tmp_path: Path) -> None:
    with https_server(tmp_path, pki.server, client_ca=None) as (url, seen):
        _version_and_list(token_file(pki, tmp_path, url))
    assert seen.authorization == [f"Bearer {TOKEN}"] * 2


def test_insecure_skip_tls_verify(pki: Pki, tmp_path: Path) -> None:
    """(c) no CA at all (the test CA is in no system store): verification is skipped, and
    urllib3's InsecureRequestWarning is not emitted for what the kubeconfig asked for."""
    with https_server(tmp_path, pki.server, client_ca=None) as (url, seen):
        _version_and_list(insecure_token(pki, tmp_path, url))
    assert seen.authorization == [f"Bearer {TOKEN}"] * 2


def test_tls_server_name(pki: Pki, tmp_path: Path) -> None:
    """The server's certificate names only kubernetes.default.svc, not 127.0.0.1: it is
    verified against tls-server-name (and sent as SNI); without it, the name does not match."""
    with https_server(tmp_path, pki.named_server, client_ca=pki.ca.cert) as (url, seen):
        path = tls_server_name(pki, tmp_path, url)
        _version_and_list(path)
        assert seen.client_subjects == ["kubernetes-admin"] * 2
        data = yaml.safe_load(path.read_text())
        del data["clusters"][0]["cluster"]["tls-server-name"]
        _write(path, yaml.safe_dump(data))
        failure = _failure(path, final=True)
    assert "certificate verify failed: IP address mismatch" in failure
    assert "not valid for '127.0.0.1'" in failure


def test_non_current_context_by_name(pki: Pki, tmp_path: Path) -> None:
    with https_server(tmp_path, pki.server, client_ca=pki.ca.cert) as (url, seen):
        path = context_by_name(pki, tmp_path, url)
        _version_and_list(path, "prod")
        current = _read_through(path)  # dev: another server
        current.close()
    assert current.server == "https://127.0.0.1:1"
    assert seen.client_subjects == ["kubernetes-admin"] * 2


def test_exec_plugin_token_over_tls(pki: Pki, tmp_path: Path) -> None:
    """A kubeconfig only the official loader reads still sends its token."""
    with https_server(tmp_path, pki.server, client_ca=None) as (url, seen):
        _version_and_list(exec_plugin(pki, tmp_path, url))
    assert seen.authorization == [f"Bearer {TOKEN}"] * 2


def _failure(path: Path, final: bool | None = None) -> str:
    """The one-line reason `version()` fails with; with `final`, whether it was retried
    (a final failure is neither retried per request nor by the runner until --wait)."""
    with no_warnings():
        kube = _read_through(path)
        try:
            with pytest.raises(ApiFailure) as caught:
                kube.version()
        finally:
            kube.close()
    reason = caught.value.reason
    assert "\n" not in reason and "Traceback" not in reason and len(reason) < 300, reason
    assert "_ssl.c" not in reason and "[SSL" not in reason, reason
    assert str(caught.value) == reason
    if final is not None:
        assert caught.value.transient is not final
        assert kube.requests["get"] == (1 if final else 3)
    return reason


def test_ca_mismatch_fails_clearly(pki: Pki, tmp_path: Path) -> None:
    """(d) the kubeconfig's CA did not sign the server's certificate (a cluster rebuilt,
    an admin.conf from another one)."""
    with https_server(tmp_path, pki.server, client_ca=None) as (url, seen):
        path = token_with_ca_file(pki, tmp_path, url)
        _write(tmp_path / "kube" / "pki" / "ca.crt", pki.other_ca.cert)
        reason = _failure(path, final=True)
    assert reason.startswith(f"{url}: TLS: certificate verify failed: ")
    assert "unable to get local issuer certificate" in reason
    assert "certificate-authority" in reason  # what to fix
    assert seen.authorization == []  # the token never left the client


def test_missing_client_certificate_fails_clearly(pki: Pki, tmp_path: Path) -> None:
    """(e) the server requires a client certificate; the kubeconfig has only a token."""
    with https_server(tmp_path, pki.server, client_ca=pki.ca.cert) as (url, seen):
        reason = _failure(token_with_ca_file(pki, tmp_path, url))
    # the server's alert, or (a race in TLS 1.3, where the client finishes its handshake
    # first) the connection closed: both say what is missing
    assert reason.startswith(f"{url}: TLS: ")
    assert "client certificate" in reason and "the kubeconfig's user has none" in reason
    assert seen.authorization == []


def test_client_certificate_from_another_ca_fails_clearly(pki: Pki, tmp_path: Path) -> None:
    """The server's alert (unknown ca) or, when the race loses it, the closed connection."""
    with https_server(tmp_path, pki.server, client_ca=pki.other_ca.cert) as (url, seen):
        reason = _failure(kubeadm_admin_conf(pki, tmp_path, url))
    assert reason.startswith(f"{url}: TLS: ")
    assert "client certificate" in reason
    assert seen.client_subjects == []


@pytest.mark.parametrize("field_name", ["client-key-data", "certificate-authority-data"])
def test_unusable_tls_material_is_a_usage_error(pki: Pki, tmp_path: Path, field_name: str) -> None:
    """A key that does not match its certificate, a CA that is not a certificate: one line
    at load time, before any request."""
    path = kubeadm_admin_conf(pki, tmp_path, "https://127.0.0.1:6443")
    data = yaml.safe_load(path.read_text())
    wrong = {
        "client-key-data": _b64(pki.other_ca.key),
        "certificate-authority-data": _b64(
            b"-----BEGIN CERTIFICATE-----\nnot\n-----END CERTIFICATE-----\n"
        ),
    }[field_name]
    section = "users" if field_name.startswith("client") else "clusters"
    data[section][0]["user" if section == "users" else "cluster"][field_name] = wrong
    _write(path, yaml.safe_dump(data))
    with pytest.raises(UsageError) as caught:
        load_configuration(KubeTarget(path, None, TIMEOUT))
    message = str(caught.value)
    assert message.startswith(f"kubeconfig {path}: TLS settings unusable (")
    assert "\n" not in message and "Traceback" not in message
