"""The API client's performance plumbing changes nothing it answers: msgspec decodes as json
did (what msgspec refuses, json still reads), the garbage collector is paused only while
lists are read and comes back as it was, and the TLS context checked at load is the one
the session uses (without the system CAs when verification is off)."""

from __future__ import annotations

import gc
import json
import ssl
from pathlib import Path

import pytest
import yaml

from stackcheck import kube
from stackcheck.kube import ApiFailure, Kube, KubeTarget, load_configuration


@pytest.mark.parametrize(
    "body",
    [
        b'{"kind": "PodList", "items": [{"metadata": {"name": "a"}, "spec": {"n": 3}}]}',
        b'{"a": NaN, "b": Infinity}',  # json reads these, msgspec does not
        b'{"a": "\\ud800"}',  # a lone surrogate: json reads it
        b'\xef\xbb\xbf{"a": 1}',  # a BOM
        b'{"a": 9223372036854775807, "b": -0.0, "c": 1.0000000000000002, "a": 2}',
    ],
)
def test_decoding_is_json_s(body: bytes) -> None:
    decoded = kube._decode(body, "x")
    assert json.dumps(decoded, sort_keys=True) == json.dumps(json.loads(body), sort_keys=True)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b""])
def test_not_a_json_object_is_an_api_failure(body: bytes) -> None:
    with pytest.raises(ApiFailure):
        kube._decode(body, "x")


def test_collector_paused_while_reading_and_restored() -> None:
    pause = kube._CollectorPause()
    assert gc.isenabled()
    with pause.reading():
        assert not gc.isenabled()
        with pause.reading():  # a concurrent list
            assert not gc.isenabled()
        assert not gc.isenabled()  # still one reading
    assert gc.isenabled()
    with pytest.raises(RuntimeError), pause.reading():
        raise RuntimeError("a failed list")
    assert gc.isenabled()
    gc.disable()  # whoever disabled it keeps it so
    try:
        with pause.reading():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def _kubeconfig(tmp_path: Path, skip_verify: bool) -> Path:
    cluster: dict[str, object] = {"server": "https://127.0.0.1:6443"}
    if skip_verify:
        cluster["insecure-skip-tls-verify"] = True
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": {"token": "abcdefgh"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_tls_context_built_once_without_system_cas_when_not_verifying(tmp_path: Path) -> None:
    configuration = load_configuration(KubeTarget(_kubeconfig(tmp_path, True), None, 5.0))
    context = configuration.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    session = Kube(configuration, 5.0)
    assert session._pool.connection_pool_kw["ssl_context"] is context


def test_tls_context_verifies_with_the_system_cas(tmp_path: Path) -> None:
    configuration = load_configuration(KubeTarget(_kubeconfig(tmp_path, False), None, 5.0))
    context = configuration.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats() == ssl.create_default_context().cert_store_stats()
