"""The stack's HTTP endpoints, simulated: Bookinfo's productpage and Grafana.

Each is a werkzeug server on a free 127.0.0.1 port in a background thread. The `SimSpec`
is read at request time, so a test may break (or heal) an endpoint while it runs.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import itertools
import json
import math
import random
import socketserver
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import quote

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from stackcheck.sim.spec import SimSpec

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

REVIEW_VERSIONS = ("v1", "v2", "v3")
GRAFANA_VERSION = "11.3.0"
GRAFANA_COMMIT = "d9455ff7db73b694db7d412e49a68bec767f2b5a"


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (werkzeug logs every request by default)."""

    # TCP_NODELAY, as Go's servers (kube-apiserver, Grafana) set it: without it a response
    # written in two parts waited ~10 ms for the client's delayed ACK
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class _Http10Handler(_QuietHandler):
    """One request per connection: nothing lingers on a kept-alive socket after stop()."""

    protocol_version = "HTTP/1.0"


class _UnnamedServer(ThreadedWSGIServer):
    """werkzeug's threaded server without http.server's reverse DNS lookup of the address it
    binds (`socket.getfqdn`): for the sim's pod and node addresses that lookup goes to the
    resolver, where two sims starting at once each waited its 5 s timeout."""

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class ServerThread:
    """A werkzeug server in a daemon thread; `start()`/`stop()` are idempotent."""

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_alive: bool = True,
        name: str = "sim-http",
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._keep_alive = keep_alive
        self._name = name
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not running")
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        with self._lock:
            if self._server is None:
                handler = _QuietHandler if self._keep_alive else _Http10Handler
                server = _UnnamedServer(self._host, self._port, self._app, handler)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"{self._name}:{server.server_port}",
                    daemon=True,
                )
                thread.start()
                self._server, self._thread = server, thread
        return self.url

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()  # returns once serve_forever has left its loop
        server.server_close()
        thread.join(timeout=5.0)


def _transient_failure(rate: float) -> Response | None:
    if rate > 0.0 and random.random() < rate:
        return Response(
            "upstream connect error or disconnect/reset before headers\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    return None


# ----------------------------------------------------------------------------------------
# Bookinfo productpage (images 1.20.x: the Tailwind page)
# ----------------------------------------------------------------------------------------

# The real page's sizes in bytes (tests/data/facts/bookinfo.yml), measured with a reviews
# pod name of 27 characters; the page prints that name once per review, so each character
# more or less moves a healthy page by 2 bytes.
MEASURED_POD_NAME_LENGTH = 27
MEASURED_PAGE_BYTES = {"v1": 9429, "v2": 15072, "v3": 15068}
MEASURED_REVIEWS_ERROR_BYTES = 7712  # details fine, reviews failing
MEASURED_DETAILS_ERROR_BYTES = 7884  # details failing, reviews v1

_TITLE = "The Comedy of Errors"
_SUMMARY = (
    '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
    "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
    "shortest and one of his most farcical comedies, with a major part of the humour "
    "coming from slapstick and mistaken identity, in addition to puns and word play."
)
_DETAILS = (
    ("ISBN-10", "1234567890"),
    ("Publisher", "PublisherA"),
    ("Pages", "200"),
    ("Type", "paperback"),
    ("Language", "English"),
)
_REVIEWS = (
    (
        "Reviewer1",
        5,
        "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
    ),
    (
        "Reviewer2",
        4,
        "Absolutely fun and entertaining. The play lacks thematic depth when "
        "compared to other plays by Shakespeare.",
    ),
)
# who answers when the page is served without a cluster behind it (unit tests)
DEFAULT_REVIEW_PODS = {
    "v1": "reviews-v1-5c5b7b9f8d-9wr2x",
    "v2": "reviews-v2-65cb66b45c-m7kqj",
    "v3": "reviews-v3-7d6b8f9d4c-tq5zn",
}
STAR_COLOR = {"v2": "black", "v3": "red"}  # reviews v1 calls no ratings: no stars
_REFERENCE_POD = "reviews-v1-" + "x" * (MEASURED_POD_NAME_LENGTH - len("reviews-v1-"))


def _star_outline(samples: int = 40) -> str:
    """A five-pointed star with rounded tips, as polygon points in a 20x20 box."""
    points = []
    for index in range(samples):
        angle = 2 * math.pi * index / samples
        swell = (0.5 + 0.5 * math.cos(5 * angle)) ** 2
        radius = 4.2 + 5.6 * swell
        points.append(f"{10 + radius * math.sin(angle):.1f},{10 - radius * math.cos(angle):.1f}")
    return " ".join(points)


_STAR = _star_outline()
_FULL_STAR = (
    '<svg class="h-5 w-5 flex-none" viewBox="0 0 20 20" fill="currentColor" '
    f'aria-hidden="true"><polygon points="{_STAR}" /></svg>'
)
_EMPTY_STAR = (
    '<svg class="h-5 w-5 flex-none" viewBox="0 0 20 20" fill="none" '
    'stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" '
    f'aria-hidden="true"><polygon points="{_STAR}" /></svg>'
)
PodSource = Callable[[], list[dict[str, Any]]]


def _template(name: str) -> Template:
    text = resources.files("stackcheck.sim").joinpath("templates", name).read_text("utf-8")
    return Template(text)


def _blank(size: int) -> str:
    """`size` bytes of indentation: what makes a section as large as the real one."""
    if size < 0:
        raise ValueError(f"the simulated markup is {-size} bytes over the real page's budget")
    lines, rest = divmod(size, 64)  # blank indented lines, as a template engine leaves them
    return (" " * 63 + "\n") * lines + " " * rest


def _error_section(what: str) -> str:
    return (
        '    <p class="text-2xl font-semibold text-red-600">'
        f"Error fetching product {what}</p>\n"
        f'    <p class="mt-2 text-lg text-slate-600">Sorry, product {what} are currently '
        "unavailable for this book.</p>\n"
    )


def _details_markup() -> str:
    cells = "".join(
        f'      <div class="py-2"><dt class="text-sm font-semibold text-slate-900">{name}</dt>'
        f'<dd class="text-sm text-slate-500">{value}</dd></div>\n'
        for name, value in _DETAILS
    )
    return (
        '    <h4 class="text-3xl font-semibold">Book Details</h4>\n'
        '    <dl class="mt-4 grid grid-cols-2 gap-x-6 divide-y divide-slate-200 '
        f'sm:grid-cols-5">\n{cells}    </dl>\n'
    )


def _rating(version: str, stars: int, fill: int = 0) -> str:
    color = STAR_COLOR.get(version)
    if color is None:
        return ""
    icons = "\n          ".join([_FULL_STAR] * stars + [_EMPTY_STAR] * (5 - stars))
    return (
        f'        <div class="flex gap-x-1 text-{color}-500">\n          {icons}\n'
        f"        {_blank(fill)}</div>\n"
    )


def _review(version: str, reviewer: str, stars: int, text: str, pod: str, fill: int) -> str:
    return (
        '      <article class="px-6 py-8">\n'
        f"{_rating(version, stars, fill)}"
        '        <blockquote class="mt-8 text-xl font-semibold leading-8 text-slate-900">'
        f'<p>"{html.escape(text)}"</p></blockquote>\n'
        '        <div class="mt-4 text-sm leading-6">'
        f'<div class="font-semibold">{reviewer}</div>\n'
        '          <div class="mt-1 font-mono text-slate-600">Reviews served by:\n'
        f"            {pod}\n          </div></div>\n      </article>\n"
    )


def _reviews_markup(version: str, pod: str, fill: int, star_fill: int) -> str:
    articles = "".join(
        _review(version, reviewer, stars, text, pod, star_fill if index == 0 else 0)
        for index, (reviewer, stars, text) in enumerate(_REVIEWS)
    )
    return (
        '    <h4 class="text-3xl font-semibold">Book Reviews</h4>\n'
        f'    <div class="flex flex-col md:flex-row">\n{articles}    {_blank(fill)}</div>\n'
    )


@dataclass(frozen=True)
class _Fills:
    """Bytes of indentation per section, so that each section is as large as the real one."""

    details: int
    reviews: int
    stars: int
    page: int


@functools.cache
def _fills() -> _Fills:
    measured_v1 = MEASURED_PAGE_BYTES["v1"]
    details_ok = len(_error_section("details")) + measured_v1 - MEASURED_DETAILS_ERROR_BYTES
    reviews_v1 = len(_error_section("reviews")) + measured_v1 - MEASURED_REVIEWS_ERROR_BYTES
    stars = MEASURED_PAGE_BYTES["v2"] - measured_v1  # two reviews' ratings, black stars
    star_markup = sum(len(_rating("v2", count)) for _, count, _ in _REVIEWS)
    fills = _Fills(
        details=details_ok - len(_details_markup()),
        reviews=reviews_v1 - len(_reviews_markup("v1", _REFERENCE_POD, 0, 0)),
        stars=stars - star_markup,
        page=0,
    )
    page = len(_page(_details_section(fills), _reviews_section("v1", _REFERENCE_POD, fills), 0))
    return dataclasses.replace(fills, page=measured_v1 - page)


def _details_section(fills: _Fills) -> str:
    return _details_markup().replace("    </dl>\n", f"    {_blank(fills.details)}</dl>\n")


def _reviews_section(version: str, pod: str, fills: _Fills) -> str:
    return _reviews_markup(version, pod, fills.reviews, fills.stars)


def _page(details: str, reviews: str, fill: int) -> str:
    return _template("productpage.html").substitute(
        title=_TITLE, summary=_SUMMARY, details=details, reviews=reviews, fill=_blank(fill)
    )


def render_productpage(
    version: str, errors: Iterable[str] = (), padding: int = 0, reviews_pod: str | None = None
) -> bytes:
    """The productpage body as reviews `version` (v1/v2/v3), served by `reviews_pod`, makes
    it; `errors` names the backends that failed ("details", "reviews")."""
    failed = set(errors)
    fills = _fills()
    pod = reviews_pod or DEFAULT_REVIEW_PODS[version]
    details = _error_section("details") if "details" in failed else _details_section(fills)
    reviews = (
        _error_section("reviews") if "reviews" in failed else _reviews_section(version, pod, fills)
    )
    body = _page(details, reviews, fills.page)
    body += " " * max(0, padding)  # exactly `padding` more bytes
    return body.encode("utf-8")


def productpage_length_range() -> tuple[int, int]:
    """Min and max body length of a healthy /productpage over the three reviews versions."""
    lengths = [len(render_productpage(version)) for version in REVIEW_VERSIONS]
    return min(lengths), max(lengths)


def _status_page(status: int) -> str:
    reason = HTTP_STATUS_CODES.get(status, "Unknown Error")
    return (
        f"<!doctype html>\n<html lang=en>\n<title>{status} {reason}</title>\n"
        f"<h1>{reason}</h1>\n<p>The server could not complete your request.</p>\n"
    )


def is_serving(pod: dict[str, Any]) -> bool:
    """A pod a Service sends requests to: Running and Ready."""
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return (
        status.get("phase") == "Running" and ready and not pod["metadata"].get("deletionTimestamp")
    )


@dataclass(frozen=True)
class Backends:
    """What productpage can reach: details or not, and the reviews pods (version, name)."""

    details: bool
    reviews: tuple[tuple[str, str], ...]


def backends(pods: list[dict[str, Any]]) -> Backends:
    """The Ready details and reviews pods among `pods`, as the Services' endpoints list them."""
    serving = [p for p in pods if is_serving(p)]

    def labelled(app: str) -> list[dict[str, Any]]:
        return sorted(
            (p for p in serving if (p["metadata"].get("labels") or {}).get("app") == app),
            key=lambda p: str(p["metadata"]["name"]),
        )

    reviews = tuple(
        (str(p["metadata"]["labels"].get("version", "v1")), str(p["metadata"]["name"]))
        for p in labelled("reviews")
        if p["metadata"]["labels"].get("version", "v1") in REVIEW_VERSIONS
    )
    return Backends(details=bool(labelled("details")), reviews=reviews)


_STANDALONE = Backends(True, tuple((v, DEFAULT_REVIEW_PODS[v]) for v in REVIEW_VERSIONS))


class ProductPage:
    """Bookinfo's productpage: `/productpage`, `/health`, `/`.

    Each /productpage request goes to the next Ready reviews pod in turn (round robin over
    the reviews Service's endpoints, in name order), and names it. Round robin, not random:
    Linkerd's balancer spreads requests evenly over equally fast endpoints, and in turn
    every run of three requests sees each version once, so what a test sees is repeatable.
    No Ready details or reviews pod: that section's error, as productpage shows it. `pods`
    lists bookinfo's pods at request time; without it, one pod per reviews version answers.
    """

    def __init__(self, spec: SimSpec, pods: PodSource | None = None) -> None:
        self.spec = spec
        self._pods = pods
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.served: list[str] = []  # reviews version behind each healthy /productpage
        self._server_name = "productpage"
        self._server = ServerThread(self._wsgi, name=self._server_name)

    def start(self) -> str:
        return self._server.start()

    def listener(self, host: str, port: int) -> ServerThread:
        """One more address for the same app (a NodePort or hostPort on a node), not started."""
        return ServerThread(self._wsgi, host=host, port=port, name=f"{self._server_name}:{host}")

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def backends(self) -> Backends:
        return _STANDALONE if self._pods is None else backends(self._pods())

    def next_reviews(self, reachable: Backends) -> tuple[str, str] | None:
        """The reviews (version, pod) that answers this request; None: no reviews pod."""
        if not reachable.reviews:
            return None
        with self._lock:
            chosen = reachable.reviews[next(self._turn) % len(reachable.reviews)]
            self.served.append(chosen[0])
            return chosen

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self._respond(Request(environ))
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        spec = self.spec
        failure = _transient_failure(spec.http_transient_error_rate)
        if failure is not None:
            return failure
        if request.path == "/health":
            return Response("Product page is healthy", content_type="text/html; charset=utf-8")
        if request.path in ("/", "/index.html"):
            return Response(
                _template("index.html").template, content_type="text/html; charset=utf-8"
            )
        if request.path == "/productpage":
            if spec.productpage_status != 200:
                return Response(
                    _status_page(spec.productpage_status),
                    status=spec.productpage_status,
                    content_type="text/html; charset=utf-8",
                )
            return Response(self._page(), content_type="text/html; charset=utf-8")
        return Response(_status_page(404), status=404, content_type="text/html; charset=utf-8")

    def _page(self) -> bytes:
        reachable = self.backends()
        errors = set(self.spec.productpage_errors)
        if not reachable.details:
            errors.add("details")
        chosen = None if "reviews" in errors else self.next_reviews(reachable)
        if chosen is None:
            errors.add("reviews")
        version, pod = chosen or ("v1", "")
        return render_productpage(version, errors, self.spec.productpage_padding, pod or None)


# ----------------------------------------------------------------------------------------
# Grafana
# ----------------------------------------------------------------------------------------

_GRAFANA_SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "deny"),
    ("X-Xss-Protection", "1; mode=block"),
)

_GRAFANA_PAGE = """<!DOCTYPE html>
<html lang="en-US">
  <head>
    <meta charset="utf-8" />
    <meta http-equiv="X-UA-Compatible" content="IE=edge,chrome=1" />
    <meta name="viewport" content="width=device-width" />
    <meta name="theme-color" content="#000" />
    <title>Grafana</title>
    <base href="/" />
    <link rel="icon" type="image/png" href="public/img/fav32.png" />
    <link rel="mask-icon" href="public/img/grafana_mask_icon.svg" color="#F05A28" />
  </head>
  <body class="theme-dark app-grafana">
    <div id="reactRoot"></div>
    <script nonce="">
      window.grafanaBootData = {"user": {"isSignedIn": %(signed_in)s, "login": "%(login)s"},
        "settings": {"buildInfo": {"version": "%(version)s", "commit": "%(commit)s"}}};
    </script>
  </body>
</html>
"""


class Grafana:
    """Grafana behind its login: `/` redirects, `/login`, `/api/health`, other `/api/*` 401."""

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        self._server_name = "grafana"
        self._server = ServerThread(self._wsgi, name=self._server_name)

    def start(self) -> str:
        return self._server.start()

    def listener(self, host: str, port: int) -> ServerThread:
        """One more address for the same app (a NodePort or hostPort on a node), not started."""
        return ServerThread(self._wsgi, host=host, port=port, name=f"{self._server_name}:{host}")

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self._respond(Request(environ))
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        spec = self.spec
        failure = _transient_failure(spec.http_transient_error_rate)
        if failure is not None:
            return failure
        path = request.path
        if path == "/api/health":
            return self._health()
        if path.startswith("/api/"):
            body = {
                "extra": None,
                "message": "Unauthorized",
                "messageId": "auth.unauthorized",
                "statusCode": 401,
                "traceID": "",
            }
            return self._json(body, 401)
        if path == "/login":
            return self._page(signed_in=False)
        if path == "/" and spec.grafana_anonymous:
            return self._page(signed_in=True)
        target = spec.grafana_redirect if path == "/" else "/login"
        return self._redirect(target, path)

    def _headers(self, response: Response) -> Response:
        for name, value in _GRAFANA_SECURITY_HEADERS:
            response.headers[name] = value
        return response

    def _json(self, data: dict[str, Any], status: int) -> Response:
        body = (
            json.dumps(data, indent=2) if status != 401 else json.dumps(data, separators=(",", ":"))
        )
        return self._headers(Response(body, status=status, content_type="application/json"))

    def _health(self) -> Response:
        database = self.spec.grafana_database
        data = {"commit": GRAFANA_COMMIT, "database": database, "version": GRAFANA_VERSION}
        return self._json(data, 200 if database == "ok" else 503)

    def _page(self, signed_in: bool) -> Response:
        body = _GRAFANA_PAGE % {
            "signed_in": "true" if signed_in else "false",
            "login": "anonymous" if signed_in else "",
            "version": GRAFANA_VERSION,
            "commit": GRAFANA_COMMIT,
        }
        return self._headers(Response(body, content_type="text/html; charset=utf-8"))

    def _redirect(self, location: str, path: str) -> Response:
        # Go's http.Redirect body for a GET: an anchor, a period, two newlines
        body = f'<a href="{html.escape(location)}">Found</a>.\n\n'
        response = Response(body, status=302, content_type="text/html; charset=utf-8")
        response.headers["Location"] = location
        self._headers(response)
        response.headers.add(
            "Set-Cookie", f"redirect_to={quote(path, safe='')}; Path=/; HttpOnly; SameSite=Lax"
        )
        if path == "/" and self.spec.planted_secrets:
            response.headers.add(
                "Set-Cookie",
                f"grafana_session={self.spec.planted_secrets[0]}; "
                "Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax",
            )
        return response
