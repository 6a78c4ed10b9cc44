"""Redaction: secrets in headers, bearer tokens, `password=...`, private keys and registered
values never reach a report; the ordinary evidence around them is left as it was."""

from __future__ import annotations

import random
import re

import pytest

from stackcheck import redact
from stackcheck.redact import MASK, Redactor

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ik1xTjd4In0.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXZhbHVl"
EC_KEY = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oac8tYc8rGm8oAoGCCqGSM49
AwEHoUQDQgAE8zO5ITmFMdXg2sBeA5TQx0Zb6Dqkh2r0m6E1d7vPRuYp8Fa0RnLk
-----END EC PRIVATE KEY-----"""
PKCS8_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2
-----END PRIVATE KEY-----"""
CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBjTCCATOgAwIBAgIQdz2Ux0Qv7Xh0rVw2sS5yLzAKBggqhkjOPQQDAjAlMSMw
-----END CERTIFICATE-----"""


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()  # a fresh one: registrations do not leak between tests


def test_sensitive_headers_are_masked(redactor: Redactor) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Cookie": "grafana_session=8f2c1a9e7b3d",
               "Content-Type": "text/html; charset=utf-8", "Location": "/login"}
    assert redactor.headers(headers) == {"Authorization": MASK, "Cookie": MASK,
                                         "Content-Type": "text/html; charset=utf-8",
                                         "Location": "/login"}


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {TOKEN}",
    "curl -H 'Authorization: Bearer sha256~Xq9vR2mT8kL4pW7zN1cB5yH3jF6dG0sA'",
    "proxy: Basic dmVyaWZpZXI6aHVudGVyMjI=",
    f"token {TOKEN} accepted",
])
def test_bearer_and_basic_credentials_are_masked(redactor: Redactor, text: str) -> None:
    redacted = redactor.text(text)
    assert MASK in redacted
    for secret in (TOKEN, "sha256~Xq9vR2mT8kL4pW7zN1cB5yH3jF6dG0sA", "dmVyaWZpZXI6aHVudGVyMjI="):
        assert secret not in redacted


@pytest.mark.parametrize(("text", "secret", "kept"), [
    ("password=hunter2222", "hunter2222", "password="),
    ("GF_SECURITY_ADMIN_PASSWORD=prom-operator", "prom-operator", "GF_SECURITY_ADMIN_PASSWORD="),
    ('{"user": "admin", "password": "s3cr3t-Pa55"}', "s3cr3t-Pa55", '"user": "admin"'),
    ("db connect host=mysql user=bookinfo passwd: Tr0ub4dor&3", "Tr0ub4dor", "host=mysql"),
    ("GET /api/search?q=x&api_key=9f8e7d6c5b4a HTTP/1.1", "9f8e7d6c5b4a", "GET /api/search"),
])
def test_values_of_secret_looking_keys_are_masked(redactor: Redactor, text: str, secret: str,
                                                  kept: str) -> None:
    redacted = redactor.text(text)
    assert secret not in redacted and MASK in redacted
    assert kept in redacted


@pytest.mark.parametrize("key", [EC_KEY, PKCS8_KEY])
def test_private_key_blocks_are_masked(redactor: Redactor, key: str) -> None:
    text = f"loaded issuer credentials:\n{key}\nissuer ready"
    assert redactor.text(text) == f"loaded issuer credentials:\n{MASK}\nissuer ready"


def test_kubeconfig_client_key_is_masked(redactor: Redactor) -> None:
    client_key = "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUJrZzRMVldNOW51"
    text = ("users:\n- name: kind-kind\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBD\n"
            f"    client-key-data: {client_key}\n")
    redacted = redactor.text(text)
    assert client_key not in redacted
    assert "client-certificate-data: LS0tLS1CRUdJTiBD" in redacted  # a certificate is public


def test_registered_values_are_replaced_anywhere(redactor: Redactor) -> None:
    redactor.add("sc-planted-Zq8vN3xK7pLw2", None, "")
    text = ("2024-11-20T08:04:16Z INFO connecting with sc-planted-Zq8vN3xK7pLw2\n"
            "GET /?k=sc-planted-Zq8vN3xK7pLw2&x=1")
    redacted = redactor.text(text)
    assert "sc-planted" not in redacted and redacted.count(MASK) == 2


def test_short_registered_values_are_ignored(redactor: Redactor) -> None:
    redactor.add("ok")  # would mask "database: ok" everywhere
    assert redactor.text('{"database": "ok"}') == '{"database": "ok"}'


def test_secret_environment_values_are_registered(redactor: Redactor) -> None:
    redactor.add_environment({"GRAFANA_ADMIN_PASSWORD": "prom-operator-2024",
                              "STACKCHECK_TARGET": "kubeconfig", "HOME": "/root"})
    text = "login as admin / prom-operator-2024 from /root with target kubeconfig"
    assert redactor.text(text) == f"login as admin / {MASK} from /root with target kubeconfig"


ORDINARY = [
    '10.244.0.1 - - [20/Nov/2024 08:20:31] "GET /productpage HTTP/1.1" 200 5183',
    'request_total{direction="inbound",namespace="bookinfo",tls="true"} 1532',
    "Ready=False ContainersNotReady containers with unready status: [destination]",
    "linkerd-proxy: image=cr.l5d.io/linkerd/proxy:stable-2.14.10 ready=True restarts=0",
    "    env (names only): _pod_name, LINKERD2_PROXY_ADMIN_LISTEN_ADDR",
    "  - mountPath: /var/run/secrets/tokens\n    name: linkerd-identity-token",
    '{"commit": "5f6c9bbd8e", "database": "ok", "version": "11.3.0"}',
    "back-off 5m0s restarting failed container=destination pod=linkerd-destination-7d9c8b6f5d",
    "kubectl annotate namespace bookinfo linkerd.io/inject=enabled",
    "3 checks passed, 1 failed",
    CERTIFICATE,
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_evidence_is_untouched(redactor: Redactor, text: str) -> None:
    redactor.add("sc-planted-Hf4tR9mB1cYe6")
    assert redactor.text(text) == text


# --- the patterns are tried only where a match can start (stackcheck/redact.py: _sub_at) ----
# Each must redact exactly what the pattern's own `sub` over the whole text redacts.
PIECES = ["password", "PassWord", "passwd", "secret", "token", "TOKEN", "api-key", "apikey",
          "private_key", "client-key-data", "access-key", "session", "credentials", "Bearer",
          "basic", "eyJ", "eyJhbGciOiJSUzI1", "abcdefgh12", "AbCdEfGhIj", "_", ".", "-", ":",
          "=", " ", "\n", '"', "'", ",", ";", "/", "\u017f", "\u212a", "\u00e9", "apiVersion",
          "1234567890abcdefXYZ", "[REDACTED]", "-----BEGIN EC PRIVATE KEY-----"]


def _edge_cases() -> list[str]:
    rng = random.Random(20241120)  # fixed: the same texts every run
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 20))) for _ in range(3000)]
    return [*texts, *ORDINARY, "-.-token: Abcdefgh12", "x.password=a b\ny-token: 'q'",
            "\u017fecret: Abcdefgh12", "pa\u017fsword=x", "\u212a\u212a", TOKEN, EC_KEY]


def test_redaction_is_the_patterns_own_sub() -> None:
    for text in _edge_cases():
        expected = redact._PEM.sub(redact._mask_match, text)
        expected = redact._SCHEME.sub(redact._mask_match, expected)
        expected = redact._JWT.sub(redact._mask_match, expected)
        for pattern in redact._KEYED:
            expected = pattern.sub(redact._mask_match, expected)
        assert Redactor().text(text) == expected, text


def test_key_prefixes_cover_every_key_word() -> None:
    """Each alternative of the key words starts with one of the prefixes searched for."""
    depth, alternatives, current = 0, [], ""
    for char in redact._KEY_WORDS:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            alternatives.append(current)
            current = ""
        else:
            current += char
    alternatives.append(current)
    for alternative in alternatives:
        found = re.match(r"[a-z]*", alternative)
        assert found is not None
        literal = found.group()
        if alternative[len(literal):][:1] in ("?", "*", "{"):
            literal = literal[:-1]  # the last letter is optional
        assert literal.startswith(redact._KEY_PREFIXES), alternative


def test_toleration_and_selector_keys_are_names_not_secrets(redactor: Redactor) -> None:
    """A values file's tolerations have a field `key`: the taint it names must stay readable
    in reports (pods.healthy quotes the scheduler's "untolerated taint {<key>: }")."""
    taint = "node-role.kubernetes.io/control-plane"
    redactor.add_values({"tolerations": [{"key": taint, "operator": "Exists",
                                          "effect": "NoSchedule"}],
                         "affinity": {"matchExpressions": [{"key": "disktype-label",
                                                            "operator": "In",
                                                            "values": ["ssd"]}]},
                         "tls": {"key": "plain-secret-key-value"}})
    text = f"1 node(s) had untolerated taint {{{taint}: }}; disktype-label; plain-secret-key-value"
    assert redactor.text(text) == (f"1 node(s) had untolerated taint {{{taint}: }}; "
                                   f"disktype-label; {MASK}")
