"""Nothing that looks like a secret value reaches a report.

Two nets: known values (the kubeconfig's token, secret-looking environment variables of this
process and of the pods we describe, anything registered) are replaced wherever they appear,
and patterns catch the usual shapes (`password=...`, bearer tokens, JWTs, PEM private keys,
kubeconfig client keys, a URL's password, credentials in a query string, AWS access key ids).
Every output goes through `Redactor.text`: the terminal, JUnit XML, the Allure results (and
so the HTML report, its single file and the history), the environment.
Secret objects are never fetched in the first place.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from stackcheck.podview import container_env

MASK = "[REDACTED]"
MIN_LENGTH = 6  # shorter registered values would mask innocent text
# Answers kept per distinct text until a value is registered: a run redacts ~3,000 strings,
# ~750 of them distinct (labels, step titles and messages seen again when the Allure results
# are redacted once more at the end); nine regular expressions a string cost a stock run
# ~30 ms (bench/ row (a)). Only short texts are kept: memory stays bounded.
MEMO_ENTRIES = 4096
MEMO_TEXT_LENGTH = 4096
# Names whose values are secrets: DB_PASSWORD, API_TOKEN, CLIENT_SECRET, AWS_ACCESS_KEY, ...
_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential|session|"
    r"cookie|auth|(^|[-_.])key([-_.]|$)|(^|[-_.])pwd([-_.]|$))",
    re.IGNORECASE,
)
_KEY_WORDS = (
    r"pass(?:word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|"
    r"client[-_]key(?:[-_]data)?|access[-_]?key|session|credentials?"
)
_TOKEN = r"(?=[^\s\"',;]*"  # a lookahead within one token: _TOKEN + X + _REST
_REST = r")[^\s\"',;]+"
_PEM = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# AWS access key ids: long-term (AKIA), temporary (ASIA) and the other documented prefixes
_AWS_KEY_ID = re.compile(
    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)"
    r"[A-Z0-9]{16}\b"
)
# the password of a URL's userinfo: scheme://user:PASSWORD@host (the user name stays)
_USERINFO = re.compile(
    r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*+://[^\s/?#@:\"'<>]*:)"
    r"([^\s/?#@\"'<>]+)(?=@)"
)
# query parameters that carry credentials or signatures: ?token=..., &X-Amz-Signature=...
_QUERY = re.compile(
    r"(?i)((?<![\w.-])(?=[\w.-]*?(?:token|password|passwd|secret|signature|"
    r"api[-_]?key|credential|session)|(?:sig|key|code|auth)=)[\w.-]*+=)"
    r"([^&#\s\"'<>]+)"
)
# A secret-looking key: a whole run of [\w.-] holding a key word. Atomic: the run is taken
# whole (possessive), found only where it starts, and looked into once (the lookahead), so
# the time stays linear on any text (a megabyte of "tokentoken..." included).
_KEY = rf"(?<![\w.-])(?=[\w.-]*?(?:{_KEY_WORDS}))[\w.-]*+"
_KEYED = (
    # a quoted value: "password": "x y", token='abc'
    re.compile(rf"(?i)({_KEY}[\"']?\s*[:=]\s*)(\"[^\"\n]*\"|'[^'\n]*')"),
    # an unquoted one after `=` (log lines, query strings): the rest of the line goes, since a
    # careless log line may carry several words (`password=first second`)
    re.compile(rf"(?i)({_KEY}\s*=\s*)([^\s\"'][^\n]*)"),
    # after `:` (YAML, headers, prose): one token, if it looks like a secret (a digit in it,
    # mixed case, or long), so that "these credentials: FAILED after 2s" stays readable
    re.compile(
        rf"(?i)({_KEY}\s*:\s*)(?-i:({_TOKEN}\d{_REST}"
        rf"|(?=[^\s\"',;]*[a-z])(?=[^\s\"',;]*[A-Z])[^\s\"',;]{{8,}}"
        rf"|[^\s\"',;]{{16,}}))"
    ),
)
# In this order: the narrow shapes first, so the rest-of-line rule finds them masked already.
# Each with the words (case-folded) one of which every match of it holds: a text holding none
# is not searched by it. The key-word patterns look ahead at every position (~3 ms a run
# each); one text in seven holds a key word (bench/ row (a)). tests/test_redact.py holds each
# needle to its pattern.
# (?i) takes the dotless i (U+0131) for an i, which casefold() keeps
_FOLD_MORE = str.maketrans({"\u0131": "i"})
_KEY_NEEDLES = ("pass", "secret", "token", "key", "session", "credential")
_PATTERNS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (_PEM, ("private key",)),
    (_SCHEME, ("bearer", "basic")),
    (_JWT, ("eyj",)),
    (_AWS_KEY_ID, ()),  # no needle: always searched (it starts with a literal: cheap)
    (_USERINFO, ("://",)),
    (_QUERY, (*_KEY_NEEDLES, "signature", "sig=", "code=", "auth=")),
    *((pattern, _KEY_NEEDLES) for pattern in _KEYED),
)
_SENSITIVE_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-grafana-key",
    "x-api-key",
    "x-auth-token",
    "x-vault-token",
}


def _names_a_label(mapping: Mapping[Any, Any], key: str) -> bool:
    """`key` of a toleration or a selector requirement ({key, operator, effect/values}): a
    taint or label name, which reports must show, not a secret."""
    return key == "key" and any(k in mapping for k in ("operator", "effect", "values"))


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._longest_first: tuple[str, ...] = ()
        self._memo: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        """Register literal secret values; each whitespace-separated word of a value too,
        since a value split over a log line must not leak word by word."""
        found: set[str] = set()
        for value in values:
            if not value:
                continue
            found.add(value)
            found.update(value.split())
        with self._lock:
            new = {v for v in found if len(v) >= MIN_LENGTH} - self._values
            if new:
                self._values |= new
                self._longest_first = tuple(sorted(self._values, key=len, reverse=True))
                self._memo = {}  # a new value may be in any text answered before

    def add_environment(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.add(*(value for name, value in env.items() if is_secret_name(name)))

    def add_pod(self, pod: Mapping[str, Any]) -> None:
        """Register the literal values of a pod's secret-looking env variables (a password
        in plain sight in a spec must not reach the report through its logs either)."""
        spec = pod.get("spec") or {}
        for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            for env in container_env(container):
                if is_secret_name(str(env.get("name", ""))) and isinstance(env.get("value"), str):
                    self.add(env["value"])

    def add_values(self, data: Any) -> None:
        """Register the string values under secret-looking keys of a parsed values file
        (Helm values, kubeconfig): `adminPassword`, `client-key-data`, `token`, ..."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                if (
                    isinstance(value, str)
                    and is_secret_name(str(key))
                    and not _names_a_label(data, str(key))
                ):
                    self.add(value)
                else:
                    self.add_values(value)
        elif isinstance(data, list):
            for item in data:
                self.add_values(item)

    def text(self, text: str) -> str:
        with self._lock:
            memo, values = self._memo, self._longest_first
        known = memo.get(text)
        if known is not None:
            return known
        clean = text
        for value in values:
            clean = clean.replace(value, MASK)
        folded = fold(clean)
        for pattern, needles in _PATTERNS:
            if not needles or any(needle in folded for needle in needles):
                clean = pattern.sub(_mask_match, clean)
        if len(text) <= MEMO_TEXT_LENGTH and len(memo) < MEMO_ENTRIES:
            memo[text] = clean  # the memo of the values used: add() replaces, not clears it
        return clean

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            k: (MASK if k.lower() in _SENSITIVE_HEADERS or is_secret_name(k) else self.text(v))
            for k, v in headers.items()
        }

    def names(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, MASK if is_secret_name(k) else self.text(v)) for k, v in pairs]


def fold(text: str) -> str:
    """The text as needles are looked for in it: every letter (?i) takes for a needle's
    letter folds to it (a long s to an s, the Kelvin sign to a k, the dotless i to an i)."""
    return text.casefold().translate(_FOLD_MORE)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _mask_match(match: re.Match[str]) -> str:
    if match.lastindex and match.lastindex >= 2:
        value = match.group(2)
        # masked already (by an earlier pattern, or an earlier run): a query's next
        # parameter stays; the rest of a line after `password=[REDACTED]` does not
        if value in (MASK, f'"{MASK}"', f"'{MASK}'") or value.startswith(f"{MASK}&"):
            return match.group(0)
        quote = value[0] if value[:1] in "\"'" else ""
        return f"{match.group(1)}{quote}{MASK}{quote}"  # keep `password=`, hide the value
    return MASK


REDACTOR = Redactor()
