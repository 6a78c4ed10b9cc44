"""WebClient, the endpoints' HTTP client: one GET, the answer as it came (a redirect is not
followed), failures as one line, and the environment's proxies honoured."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from stackcheck.web import WebClient, WebFailure
from tests.scripted import ScriptedServer

Serve = Callable[[list[int | str]], ScriptedServer]


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


def test_a_redirect_is_the_answer_not_followed(serve: Serve) -> None:
    server = serve([302])
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


def test_a_slow_answer_times_out(serve: Serve) -> None:
    server = serve(["slow"])
    with pytest.raises(WebFailure) as caught:
        WebClient(0.3, 2).get(server.url + "/slow")
    assert (caught.value.reason, caught.value.timed_out) == ("timed out after 0.3s", True)


def test_the_environment_s_proxy_is_used_unless_no_proxy_says(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve([302, 302])
    monkeypatch.setenv("http_proxy", server.url)
    target = "http://grafana.example.invalid:30300/"
    assert WebClient(5.0, 2).get(target).status == 302
    assert server.lines == [f"GET {target} HTTP/1.1"]  # the proxy got the absolute URL
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    WebClient(5.0, 2).get(server.url + "/direct")
    assert server.lines[-1] == "GET /direct HTTP/1.1"
