"""WebClient, the endpoints' HTTP client: one GET, the answer as it came (a redirect is not
followed), failures as one line, and the environment's proxies honoured."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from stackcheck.web import WebClient, WebFailure


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 302 to /login for every GET, or stalls on /slow; records request lines."""

    server: RecordingServer

    def do_GET(self) -> None:
        self.server.lines.append(self.requestline)
        if self.path.endswith("/slow"):
            self.server.release.wait(5.0)
        self.send_response(302)
        self.send_header("Location", "/login")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Recorder)
        self.lines: list[str] = []
        self.release = threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    recording = RecordingServer()
    thread = threading.Thread(target=recording.serve_forever, daemon=True)
    thread.start()
    yield recording
    recording.release.set()
    recording.shutdown()
    recording.server_close()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_a_redirect_is_the_answer_not_followed(server: RecordingServer) -> None:
    answer = WebClient(5.0, 2).get(server.url + "/", [("a", "b c")])
    assert (answer.status, answer.headers.get("Location")) == (302, "/login")
    assert answer.url == server.url + "/?a=b+c"
    assert server.lines == ["GET /?a=b+c HTTP/1.1"]


def test_a_refused_connection_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(WebFailure) as caught:
        WebClient(5.0, 2).get(f"http://127.0.0.1:{port}/")
    assert (caught.value.reason, caught.value.timed_out) == ("connection refused", False)


def test_a_slow_answer_times_out(server: RecordingServer) -> None:
    with pytest.raises(WebFailure) as caught:
        WebClient(0.3, 2).get(server.url + "/slow")
    assert (caught.value.reason, caught.value.timed_out) == ("timed out after 0.3s", True)


def test_the_environment_s_proxy_is_used_unless_no_proxy_says(
        server: RecordingServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", server.url)
    target = "http://grafana.example.invalid:30300/"
    assert WebClient(5.0, 2).get(target).status == 302
    assert server.lines == [f"GET {target} HTTP/1.1"]  # the proxy got the absolute URL
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    WebClient(5.0, 2).get(server.url + "/direct")
    assert server.lines[-1] == "GET /direct HTTP/1.1"
