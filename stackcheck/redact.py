"""Nothing that looks like a secret value reaches a report.

Two nets: known values (the kubeconfig's token, secret-looking environment variables of this
process and of the pods we describe, anything registered) are replaced wherever they appear,
and patterns catch the usual shapes (`password=...`, bearer tokens, JWTs, PEM private keys,
kubeconfig client keys). Secret objects are never fetched in the first place.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

MASK = "[REDACTED]"
MIN_LENGTH = 6  # shorter registered values would mask innocent text
# Names whose values are secrets: DB_PASSWORD, API_TOKEN, CLIENT_SECRET, AWS_ACCESS_KEY, ...
_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential|session|"
    r"cookie|auth|(^|[-_.])key([-_.]|$)|(^|[-_.])pwd([-_.]|$))", re.IGNORECASE)
_KEY_WORDS = (r"pass(?:word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|"
              r"client[-_]key(?:[-_]data)?|access[-_]?key|session|credentials?")
_TOKEN = r"(?=[^\s\"',;]*"  # a lookahead within one token: _TOKEN + X + _REST
_REST = r")[^\s\"',;]+"
# Each pattern is applied in turn to the whole text (`sub`), but tried only where one of its
# matches can start (see _sub_at): the key words are found first, by str.find, instead of
# re trying every alternative at every position (~25 ms on Prometheus's targets).
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)",
                  re.DOTALL)
_SCHEME_WORDS = ("bearer", "basic")
_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# After a secret-looking key: a run of [\w.-] holding a key word.
_KEYED = (
    # a quoted value: "password": "x y", token='abc'
    re.compile(rf"(?i)(\b[\w.-]*(?:{_KEY_WORDS})[\w.-]*[\"']?\s*[:=]\s*)(\"[^\"\n]*\"|'[^'\n]*')"),
    # an unquoted one after `=` (log lines, query strings): the rest of the line goes, since a
    # careless log line may carry several words (`password=first second`)
    re.compile(rf"(?i)(\b[\w.-]*(?:{_KEY_WORDS})[\w.-]*\s*=\s*)([^\s\"'][^\n]*)"),
    # after `:` (YAML, headers, prose): one token, if it looks like a secret (a digit in it,
    # mixed case, or long), so that "these credentials: FAILED after 2s" stays readable
    re.compile(rf"(?i)(\b[\w.-]*(?:{_KEY_WORDS})[\w.-]*\s*:\s*)(?-i:({_TOKEN}\d{_REST}"
               rf"|(?=[^\s\"',;]*[a-z])(?=[^\s\"',;]*[A-Z])[^\s\"',;]{{8,}}"
               rf"|[^\s\"',;]{{16,}}))"),
)
_KEY_WORD = re.compile(rf"(?i){_KEY_WORDS}")  # the same flags as _KEYED: the same letters
# what every alternative of _KEY_WORDS starts with (tests/test_redact.py holds them together)
_KEY_PREFIXES = ("pass", "secret", "token", "api", "private", "client", "access", "session",
                 "credential")
_KEY_CHAR = re.compile(r"[\w.-]")
_KEY_RUN = re.compile(r"[\w.-]*")
_SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie",
                      "x-grafana-key", "x-api-key", "x-auth-token", "x-vault-token"}


def _names_a_label(mapping: Mapping[Any, Any], key: str) -> bool:
    """`key` of a toleration or a selector requirement ({key, operator, effect/values}): a
    taint or label name, which reports must show, not a secret."""
    return key == "key" and any(k in mapping for k in ("operator", "effect", "values"))


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
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
            self._values.update(v for v in found if len(v) >= MIN_LENGTH)

    def add_environment(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.add(*(value for name, value in env.items() if is_secret_name(name)))

    def add_pod(self, pod: Mapping[str, Any]) -> None:
        """Register the literal values of a pod's secret-looking env variables (a password
        in plain sight in a spec must not reach the report through its logs either)."""
        spec = pod.get("spec") or {}
        for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            for env in container.get("env") or []:
                if is_secret_name(str(env.get("name", ""))) and isinstance(env.get("value"), str):
                    self.add(env["value"])

    def add_values(self, data: Any) -> None:
        """Register the string values under secret-looking keys of a parsed values file
        (Helm values, kubeconfig): `adminPassword`, `client-key-data`, `token`, ..."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                if (isinstance(value, str) and is_secret_name(str(key))
                        and not _names_a_label(data, str(key))):
                    self.add(value)
                else:
                    self.add_values(value)
        elif isinstance(data, list):
            for item in data:
                self.add_values(item)

    def text(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        text = _PEM.sub(_mask_match, text)
        text = _sub_at(_SCHEME, text, _found(text, _SCHEME_WORDS, _SCHEME))
        text = _sub_at(_JWT, text, _found(text, ("eyJ",)))
        for pattern in _KEYED:
            text = _sub_at(pattern, text, _key_starts(text))
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: (MASK if k.lower() in _SENSITIVE_HEADERS or is_secret_name(k)
                    else self.text(v)) for k, v in headers.items()}

    def names(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, MASK if is_secret_name(k) else self.text(v)) for k, v in pairs]


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _sub_at(pattern: re.Pattern[str], text: str, starts: Iterable[int]) -> str:
    """`pattern.sub(_mask_match, text)`, given (ascending) every place where a match of
    `pattern` in `text` can start: `sub` resumes after each match at the leftmost place it
    matches again, which is the first of `starts` from there where `pattern.match` does."""
    parts: list[str] = []
    done = 0  # where the previous match ended
    for start in starts:
        if start < done:
            continue
        match = pattern.match(text, start)
        if match is not None:
            parts += (text[done:start], _mask_match(match))
            done = match.end()
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _found(text: str, words: tuple[str, ...], scan: re.Pattern[str] | None = None) -> list[int]:
    """Where one of `words` starts in `text`, in order; case-insensitively if `scan` (whose
    (?i) matches them) is given. ASCII text: str.find, in the lowered text if so. Elsewhere
    (case folding beyond ASCII: to (?i), U+017F, the long s, is an `s`): `scan`'s search."""
    if scan is not None and not text.isascii():
        return [hit.start() for hit in scan.finditer(text)]
    haystack = text.lower() if scan is not None else text
    starts: list[int] = []
    for word in words:
        at = haystack.find(word)
        while at >= 0:
            starts.append(at)
            at = haystack.find(word, at + 1)
    return sorted(starts)


def _key_starts(text: str) -> Iterator[int]:
    """Where a _KEYED match can start: a key is a whole run of [\\w.-] (what follows it, a
    quote, space, `:` or `=`, is none of those) holding a key word, and a match starts at
    the run's first word boundary, i.e. its first character other than `.` and `-`; a later
    start in the run matches only where that one does. One place per such run."""
    run_end = 0
    for at in _found(text, _KEY_PREFIXES, _KEY_WORD):
        if at < run_end or not _KEY_WORD.match(text, at):
            continue
        start = at
        while start > run_end and _KEY_CHAR.match(text, start - 1):
            start -= 1
        while start < at and text[start] in ".-":
            start += 1
        run = _KEY_RUN.match(text, at)
        run_end = run.end() if run is not None else at
        yield start


def _mask_match(match: re.Match[str]) -> str:
    if match.lastindex and match.lastindex >= 2:
        value = match.group(2)
        if value == MASK or value.startswith(MASK):
            return match.group(0)
        quote = value[0] if value[:1] in "\"'" else ""
        return f"{match.group(1)}{quote}{MASK}{quote}"  # keep `password=`, hide the value
    return MASK


REDACTOR = Redactor()
