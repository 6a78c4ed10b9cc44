"""Redaction: secrets in headers, bearer tokens, `password=...`, private keys and registered
values never reach a report; the ordinary evidence around them is left as it was."""

from __future__ import annotations

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
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Cookie": "grafana_session=8f2c1a9e7b3d",
        "Content-Type": "text/html; charset=utf-8",
        "Location": "/login",
    }
    assert redactor.headers(headers) == {
        "Authorization": MASK,
        "Cookie": MASK,
        "Content-Type": "text/html; charset=utf-8",
        "Location": "/login",
    }


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {TOKEN}",
        "curl -H 'Authorization: Bearer sha256~Xq9vR2mT8kL4pW7zN1cB5yH3jF6dG0sA'",
        "proxy: Basic dmVyaWZpZXI6aHVudGVyMjI=",
        f"token {TOKEN} accepted",
    ],
)
def test_bearer_and_basic_credentials_are_masked(redactor: Redactor, text: str) -> None:
    redacted = redactor.text(text)
    assert MASK in redacted
    for secret in (TOKEN, "sha256~Xq9vR2mT8kL4pW7zN1cB5yH3jF6dG0sA", "dmVyaWZpZXI6aHVudGVyMjI="):
        assert secret not in redacted


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("password=hunter2222", "hunter2222", "password="),
        (
            "GF_SECURITY_ADMIN_PASSWORD=prom-operator",
            "prom-operator",
            "GF_SECURITY_ADMIN_PASSWORD=",
        ),
        ('{"user": "admin", "password": "s3cr3t-Pa55"}', "s3cr3t-Pa55", '"user": "admin"'),
        ("db connect host=mysql user=bookinfo passwd: Tr0ub4dor&3", "Tr0ub4dor", "host=mysql"),
        ("GET /api/search?q=x&api_key=9f8e7d6c5b4a HTTP/1.1", "9f8e7d6c5b4a", "GET /api/search"),
    ],
)
def test_values_of_secret_looking_keys_are_masked(
    redactor: Redactor, text: str, secret: str, kept: str
) -> None:
    redacted = redactor.text(text)
    assert secret not in redacted and MASK in redacted
    assert kept in redacted


@pytest.mark.parametrize("key", [EC_KEY, PKCS8_KEY])
def test_private_key_blocks_are_masked(redactor: Redactor, key: str) -> None:
    text = f"loaded issuer credentials:\n{key}\nissuer ready"
    assert redactor.text(text) == f"loaded issuer credentials:\n{MASK}\nissuer ready"


def test_kubeconfig_client_key_is_masked(redactor: Redactor) -> None:
    client_key = "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUJrZzRMVldNOW51"
    text = (
        "users:\n- name: kind-kind\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBD\n"
        f"    client-key-data: {client_key}\n"
    )
    redacted = redactor.text(text)
    assert client_key not in redacted
    assert "client-certificate-data: LS0tLS1CRUdJTiBD" in redacted  # a certificate is public


def test_registered_values_are_replaced_anywhere(redactor: Redactor) -> None:
    redactor.add("sc-planted-Zq8vN3xK7pLw2", None, "")
    text = (
        "2024-11-20T08:04:16Z INFO connecting with sc-planted-Zq8vN3xK7pLw2\n"
        "GET /?k=sc-planted-Zq8vN3xK7pLw2&x=1"
    )
    redacted = redactor.text(text)
    assert "sc-planted" not in redacted and redacted.count(MASK) == 2


def test_short_registered_values_are_ignored(redactor: Redactor) -> None:
    redactor.add("ok")  # would mask "database: ok" everywhere
    assert redactor.text('{"database": "ok"}') == '{"database": "ok"}'


def test_secret_environment_values_are_registered(redactor: Redactor) -> None:
    redactor.add_environment(
        {
            "GRAFANA_ADMIN_PASSWORD": "prom-operator-2024",
            "STACKCHECK_TARGET": "kubeconfig",
            "HOME": "/root",
        }
    )
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


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("GET http://admin:Pw-s3cret-9@grafana.example:3000/login", "Pw-s3cret-9", "http://admin:"),
        ("Location: https://bob:hunter22@10.0.0.5/signup", "hunter22", "@10.0.0.5/signup"),
        ('Get "http://scraper:xyzzy-42@10.244.0.7:4191/metrics": EOF', "xyzzy-42", "10.244.0.7"),
        ("GET /cb?state=1&access_token=ya29.a0Af-secret&x=2", "ya29.a0Af-secret", "&x=2"),
        (
            "https://b.s3.amazonaws.com/o?X-Amz-Signature=3f9a0c77e1&X-Amz-Date=20241120",
            "3f9a0c77e1",
            "X-Amz-Date=20241120",
        ),
        ("https://acct.blob.core.windows.net/c?sv=2022&sig=Qm9vbXNpZw%3D", "Qm9vbXNpZw", "sv=2022"),
        ("/login?redirect=%2F&token=tok-8d7f6e", "tok-8d7f6e", "redirect=%2F"),
        ("aws key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE", "aws key "),
        ("temporary ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", "temporary"),
    ],
)
def test_url_passwords_query_credentials_and_aws_key_ids_are_masked(
    redactor: Redactor, text: str, secret: str, kept: str
) -> None:
    redacted = redactor.text(text)
    assert secret not in redacted and MASK in redacted, redacted
    assert kept in redacted, redacted


@pytest.mark.parametrize(
    "text",
    [
        "http://user@grafana:3000/",  # a user name alone is not a secret
        "GET http://127.0.0.1:30080/productpage?u=normal -> 200",
        "AKIA is a prefix, AKIASHORT is no key id",
    ],
)
def test_urls_without_credentials_are_untouched(redactor: Redactor, text: str) -> None:
    assert redactor.text(text) == text


def test_redaction_is_idempotent(redactor: Redactor) -> None:
    text = "http://a:b-secret@h/?token=x1&sig=y2 password=z3 AKIAIOSFODNN7EXAMPLE"
    once = redactor.text(text)
    assert redactor.text(once) == once


def test_toleration_and_selector_keys_are_names_not_secrets(redactor: Redactor) -> None:
    """A values file's tolerations have a field `key`: the taint it names must stay readable
    in reports (pods.healthy quotes the scheduler's "untolerated taint {<key>: }")."""
    taint = "node-role.kubernetes.io/control-plane"
    redactor.add_values(
        {
            "tolerations": [{"key": taint, "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "matchExpressions": [{"key": "disktype-label", "operator": "In", "values": ["ssd"]}]
            },
            "tls": {"key": "plain-secret-key-value"},
        }
    )
    text = f"1 node(s) had untolerated taint {{{taint}: }}; disktype-label; plain-secret-key-value"
    assert redactor.text(text) == (
        f"1 node(s) had untolerated taint {{{taint}: }}; disktype-label; {MASK}"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-.-token: Abcdefgh12", f"-.-token: {MASK}"),
        ("token" * 2000 + "=s3cret-value", "token" * 2000 + f"={MASK}"),
        ("a." * 5000 + " password=x", "a." * 5000 + f" password={MASK}"),
        ("http://" + "a" * 5000 + ":pw-123456@h", "http://" + "a" * 5000 + f":{MASK}@h"),
        ("my_db_password_for_prod=abc def", f"my_db_password_for_prod={MASK}"),
        ("user=bob password=first second", f"user=bob password={MASK}"),
    ],
)
def test_keys_are_whole_runs_and_long_runs_are_handled(
    redactor: Redactor, text: str, expected: str
) -> None:
    """The patterns take a key as a whole run of [\\w.-] (atomic, so a long run costs no
    backtracking: see bench/ for speed); the results are the plain ones."""
    assert redactor.text(text) == expected


def test_a_value_registered_later_is_masked_in_a_text_redacted_before(
    redactor: Redactor,
) -> None:
    line = "connecting with s3cr3t-v4lue-9f2c to the API"
    assert redactor.text(line) == line  # nothing known yet: answered as is (and remembered)
    redactor.add("s3cr3t-v4lue-9f2c")
    assert redactor.text(line) == f"connecting with {MASK} to the API"


# Texts that each pattern matches, in the shapes the patterns take (case, separators, the
# Unicode letters that (?i) matches to ASCII ones: long s, Kelvin sign, dotless i).
PATTERN_SHAPES = [
    EC_KEY,
    PKCS8_KEY,
    f"Authorization: BEARER {TOKEN}",
    "proxy: basic dmVyaWZpZXI6aHVudGVyMjI=",
    f"jwt {TOKEN}",
    "aws key AKIAIOSFODNN7EXAMPLE",
    "GET http://admin:Pw-s3cret-9@grafana.example:3000/login",
    "GET /cb?state=1&ACCESS_TOKEN=ya29.a0Af-secret&x=2",
    "https://b.s3.amazonaws.com/o?X-Amz-Signature=3f9a0c77e1&Key=k1&code=c2&AUTH=a3&sig=s4",
    '{"user": "admin", "PassPhrase": "s3cr3t-Pa55"}',
    "my_db_password_for_prod=abc def",
    "client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=",
    "session=8f2c1a9e7b3d credentials: Abcdefgh12 api-key=x1 private_key: y2 accesskey=z3",
    "pa\u017fsword=\u017fhhh-1234 to\u212aen=ab12cd34 credent\u0131al: Abcdefgh12",
]


@pytest.mark.parametrize("text", PATTERN_SHAPES)
def test_every_match_of_a_pattern_holds_one_of_its_needles(text: str) -> None:
    """A pattern is skipped for a text holding none of its needles (speed): that must never
    skip a text the pattern would change."""
    matched = 0
    for pattern, needles in redact._PATTERNS:
        for match in pattern.finditer(text):
            matched += 1
            if needles:
                assert any(n in redact.fold(match.group(0)) for n in needles), (pattern, match)
    assert matched


def test_every_letter_ignorecase_matches_casefolds_to_it() -> None:
    """Needles are looked for in the case-folded text: each character that a (?i) pattern
    takes for a needle's letter must fold to that letter (all of Unicode is tried)."""
    everything = "".join(chr(i) for i in range(0x110000) if not 0xD800 <= i <= 0xDFFF)
    letters = {c for _, needles in redact._PATTERNS for n in needles for c in n if c.isalpha()}
    taken = set(re.findall(f"(?i)[{''.join(sorted(letters))}]", everything))
    assert len(taken) > 2 * len(letters)  # the upper cases and the odd ones
    for char in taken:
        for letter in letters:
            if re.fullmatch(f"(?i){letter}", char):
                assert letter in redact.fold(char), (letter, char, hex(ord(char)))


def test_a_text_redacted_with_needles_equals_one_searched_by_every_pattern(
    redactor: Redactor,
) -> None:
    for text in [*PATTERN_SHAPES, *ORDINARY]:
        plain = text
        for pattern, _ in redact._PATTERNS:
            plain = pattern.sub(redact._mask_match, plain)
        assert redactor.text(text) == plain
