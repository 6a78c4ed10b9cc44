"""Nothing that looks like a secret value reaches a report.

Two nets: known values (the kubeconfig's token, secret-looking environment variables,
anything registered) are replaced wherever they appear, and patterns catch the usual
shapes (`password=...`, bearer tokens, JWTs, PEM private keys).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping

MASK = "[REDACTED]"
_SECRET_NAME = re.compile(r"(pass(word|wd)?|secret|token|api[-_]?key|private[-_]?key|"
                          r"credential|session|cookie|auth)", re.IGNORECASE)
_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
               re.DOTALL),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(\b[\w.-]*(?:pass(?:word|wd)?|secret|token|api[-_]?key|session)[\w.-]*"
               r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]{3,})"),
)
_SENSITIVE_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie",
                      "x-grafana-key", "x-api-key"}


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *values: str | None) -> None:
        """Register literal secret values (short ones would mask innocent text)."""
        with self._lock:
            self._values.update(v for v in values if v and len(v) >= 6)

    def add_environment(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.add(*(value for name, value in env.items() if _SECRET_NAME.search(name)))

    def text(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(_mask_match, text)
        return text

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: (MASK if k.lower() in _SENSITIVE_HEADERS else self.text(v))
                for k, v in headers.items()}

    def names(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, MASK if _SECRET_NAME.search(k) else self.text(v)) for k, v in pairs]


def _mask_match(match: re.Match[str]) -> str:
    if match.lastindex and match.lastindex >= 2:
        return match.group(1) + MASK  # keep `password=`, hide the value
    return MASK


REDACTOR = Redactor()
