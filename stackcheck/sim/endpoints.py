"""The stack's HTTP endpoints, simulated: Bookinfo's productpage and Grafana.

Each is a werkzeug server on a free 127.0.0.1 port in a background thread. The `SimSpec`
is read at request time, so a test may break (or heal) an endpoint while it runs.
"""

from __future__ import annotations

import html
import itertools
import json
import random
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import quote

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
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


class ServerThread:
    """A werkzeug server in a daemon thread; `start()`/`stop()` are idempotent."""

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0,
                 keep_alive: bool = True, name: str = "sim-http") -> None:
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
                server = make_server(self._host, self._port, self._app, threaded=True,
                                     request_handler=handler)
                thread = threading.Thread(target=server.serve_forever,
                                          kwargs={"poll_interval": 0.1},
                                          name=f"{self._name}:{server.server_port}", daemon=True)
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
        return Response("upstream connect error or disconnect/reset before headers\n",
                        status=503, content_type="text/plain; charset=utf-8")
    return None


# ----------------------------------------------------------------------------------------
# Bookinfo productpage
# ----------------------------------------------------------------------------------------

_DETAILS = (("Type", "paperback"), ("Pages", "200"), ("Publisher", "PublisherA"),
            ("Language", "English"), ("ISBN-10", "1234567890"), ("ISBN-13", "123-1234567890"))
_REVIEWS = (
    ("Reviewer1", 5, "An extremely entertaining play by Shakespeare. The slapstick humour "
                     "is refreshing!"),
    ("Reviewer2", 4, "Absolutely fun and entertaining. The play lacks thematic depth when "
                     "compared to other plays by Shakespeare."),
)
_REVIEW_PODS = {"v1": "reviews-v1-5c5b7b9f8d-9wr2x", "v2": "reviews-v2-65cb66b45c-m7kqj",
                "v3": "reviews-v3-7d6b8f9d4c-tq5zn"}
_STAR_COLOR = {"v2": "black", "v3": "red"}


def _template(name: str) -> Template:
    text = resources.files("stackcheck.sim").joinpath("templates", name).read_text("utf-8")
    return Template(text)


def _error_section(what: str) -> str:
    return ("      \n"
            f'        <h4 class="text-center text-primary">Error fetching product {what}!</h4>\n'
            "        \n"
            f"          <p>Sorry, product {what} are currently unavailable for this book.</p>\n"
            "        \n      \n")


def _details_section() -> str:
    rows = "".join(f"          <dt>{name}:</dt>{value}\n" for name, value in _DETAILS)
    return ("      \n"
            '        <h4 class="text-center text-primary">Book Details</h4>\n'
            f"        <dl>\n{rows}          \n        </dl>\n      \n")


def _stars(version: str, stars: int) -> str:
    color = _STAR_COLOR.get(version)
    if color is None:
        return ""
    pad = " " * 18
    full = f'\n{pad}  <span class="glyphicon glyphicon-star"></span>\n{pad}' * stars
    empty = f'\n{pad}  <span class="glyphicon glyphicon-star-empty"></span>\n{pad}' * (5 - stars)
    return (f"              \n                <font color=\"{color}\">\n"
            f"{pad}<!-- full stars: -->\n{pad}{full}\n"
            f"{pad}<!-- empty stars: -->\n{pad}{empty}\n"
            "                </font>\n              \n            \n")


def _reviews_section(version: str) -> str:
    parts = ["      \n        <h4 class=\"text-center text-primary\">Book Reviews</h4>\n        "]
    for reviewer, stars, text in _REVIEWS:
        parts.append(
            "\n          <blockquote>\n"
            f"            <p>{html.escape(text)}</p>\n"
            f"            <small>{reviewer}</small>\n"
            f"            \n{_stars(version, stars)}"
            "          </blockquote>\n        ")
    parts.append(f"\n        <dl>\n          <dt>Reviews served by:</dt>\n"
                 f"          <u>{_REVIEW_PODS[version]}</u>\n        </dl>\n      \n")
    return "".join(parts)


def render_productpage(version: str, errors: Iterable[str] = (), padding: int = 0) -> bytes:
    """The productpage body as reviews `version` (v1/v2/v3) would make it."""
    failed = set(errors)
    details = _error_section("details") if "details" in failed else _details_section()
    reviews = _error_section("reviews") if "reviews" in failed else _reviews_section(version)
    body = _template("productpage.html").substitute(details=details, reviews=reviews)
    body += " " * max(0, padding)  # exactly `padding` more bytes
    return body.encode("utf-8")


def productpage_length_range() -> tuple[int, int]:
    """Min and max body length of a healthy /productpage over the three reviews versions."""
    lengths = [len(render_productpage(version)) for version in REVIEW_VERSIONS]
    return min(lengths), max(lengths)


def _status_page(status: int) -> str:
    reason = HTTP_STATUS_CODES.get(status, "Unknown Error")
    return (f"<!doctype html>\n<html lang=en>\n<title>{status} {reason}</title>\n"
            f"<h1>{reason}</h1>\n<p>The server could not complete your request.</p>\n")


class ProductPage:
    """Bookinfo's productpage: `/productpage`, `/health`, `/`."""

    def __init__(self, spec: SimSpec) -> None:
        self.spec = spec
        self._versions = itertools.cycle(REVIEW_VERSIONS)
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

    def next_version(self) -> str:
        with self._lock:
            version = next(self._versions)
            self.served.append(version)
            return version

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
            return Response(_template("index.html").template,
                            content_type="text/html; charset=utf-8")
        if request.path == "/productpage":
            if spec.productpage_status != 200:
                return Response(_status_page(spec.productpage_status),
                                status=spec.productpage_status,
                                content_type="text/html; charset=utf-8")
            body = render_productpage(self.next_version(), spec.productpage_errors,
                                      spec.productpage_padding)
            return Response(body, content_type="text/html; charset=utf-8")
        return Response(_status_page(404), status=404, content_type="text/html; charset=utf-8")


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
            body = {"extra": None, "message": "Unauthorized", "messageId": "auth.unauthorized",
                    "statusCode": 401, "traceID": ""}
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
        body = json.dumps(data, indent=2) if status != 401 else json.dumps(data,
                                                                           separators=(",", ":"))
        return self._headers(Response(body, status=status, content_type="application/json"))

    def _health(self) -> Response:
        database = self.spec.grafana_database
        data = {"commit": GRAFANA_COMMIT, "database": database, "version": GRAFANA_VERSION}
        return self._json(data, 200 if database == "ok" else 503)

    def _page(self, signed_in: bool) -> Response:
        body = _GRAFANA_PAGE % {"signed_in": "true" if signed_in else "false",
                                "login": "anonymous" if signed_in else "",
                                "version": GRAFANA_VERSION, "commit": GRAFANA_COMMIT}
        return self._headers(Response(body, content_type="text/html; charset=utf-8"))

    def _redirect(self, location: str, path: str) -> Response:
        # Go's http.Redirect body for a GET: an anchor, a period, two newlines
        body = f'<a href="{html.escape(location)}">Found</a>.\n\n'
        response = Response(body, status=302, content_type="text/html; charset=utf-8")
        response.headers["Location"] = location
        self._headers(response)
        response.headers.add("Set-Cookie",
                             f"redirect_to={quote(path, safe='')}; Path=/; HttpOnly; SameSite=Lax")
        if path == "/" and self.spec.planted_secrets:
            response.headers.add("Set-Cookie", f"grafana_session={self.spec.planted_secrets[0]}; "
                                               "Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax")
        return response

