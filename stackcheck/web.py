"""GET an HTTP endpoint (productpage, Grafana, Prometheus): one answer, no redirect followed.

urllib3, the HTTP library the API client already uses (and requests is built on): importing
requests as well cost ~15 ms a run, about a tenth of what the suite adds to pytest's own
start. The environment's proxies are honoured as requests honours them: HTTP_PROXY,
HTTPS_PROXY and NO_PROXY (urllib's reading of them).
"""

from __future__ import annotations

import threading
import urllib.request
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3

from stackcheck.checks.model import HttpAnswer

USER_AGENT = "stackcheck"


class WebFailure(Exception):
    """No answer: `reason` is one line; `timed_out` when the server was too slow."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


class WebClient:
    """Thread-safe; keeps connections per host (and per proxy)."""

    def __init__(self, timeout: float, maxsize: int) -> None:
        self._timeout = timeout
        self._maxsize = maxsize
        self._direct = urllib3.PoolManager(
            maxsize=maxsize, headers={"User-Agent": USER_AGENT}, retries=False
        )
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._lock = threading.Lock()

    def get(self, url: str, query: list[tuple[str, str]] | None = None) -> HttpAnswer:
        full = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}" if query else url
        try:
            response = self._manager(full).request(
                "GET",
                full,
                redirect=False,
                preload_content=True,
                timeout=urllib3.Timeout(connect=self._timeout, read=self._timeout),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _failure(exc, self._timeout) from None
        return HttpAnswer(
            full, response.status, response.reason or "", dict(response.headers), response.data
        )

    def close(self) -> None:
        self._direct.clear()
        with self._lock:
            for manager in self._proxied.values():
                manager.clear()

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        proxy = urllib.request.getproxies().get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(parts.netloc):
            return self._direct
        with self._lock:
            if proxy not in self._proxied:
                self._proxied[proxy] = urllib3.ProxyManager(
                    proxy, maxsize=self._maxsize, headers={"User-Agent": USER_AGENT}, retries=False
                )
            return self._proxied[proxy]


def join_url(base: str, path: str) -> str:
    """`path` appended to the path of `base`, before its query (a `--productpage-url
    http://h/?lang=en` and `/productpage` give `http://h/productpage?lang=en`)."""
    parts = urlsplit(base)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, parts.fragment)
    )


def _failure(exc: urllib3.exceptions.HTTPError, timeout: float) -> WebFailure:
    # NewConnectionError is also a ConnectTimeoutError (urllib3's history): test it first
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        text = str(exc)
        return WebFailure(
            "connection refused" if "refused" in text.lower() else text.split(": ", 1)[-1][:200]
        )
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return WebFailure(f"timed out after {timeout:g}s", timed_out=True)
    text = (
        str(exc.__context__ or exc)
        if isinstance(exc, urllib3.exceptions.ProtocolError)
        else str(exc)
    )
    return WebFailure(text.split(": ", 1)[-1][:200])
