"""Messages name what was really tried (issue 13, case 8): the kubeconfig's proxy when the
proxy is what failed, plain HTTP when https met an http server, a missing user as bad input,
and a base URL's query kept behind the endpoint's path."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from stackcheck.errors import UsageError
from stackcheck.kube import ApiFailure, Kube, KubeTarget, load_configuration
from stackcheck.polling import Deadline
from stackcheck.web import WebClient, join_url


def _kubeconfig(tmp_path: Path, server: str, *, proxy: str | None = None, user: str = "u") -> Path:
    cluster: dict[str, object] = {"server": server}
    if proxy:
        cluster["proxy-url"] = proxy
    data = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": "t0ken-abc"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": user}}],
        "current-context": "ctx",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _kube(path: Path) -> Kube:
    kube = Kube(load_configuration(KubeTarget(path, None, 2.0)), 2.0)
    kube.deadline = Deadline.after(0)
    return kube


def test_a_refused_proxy_is_named_not_the_api_server(tmp_path: Path) -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    kube = _kube(_kubeconfig(tmp_path, "http://10.255.255.1:6443", proxy=proxy))
    with pytest.raises(ApiFailure) as failure:
        kube.version()
    assert f"proxy-url {proxy}" in failure.value.reason, failure.value.reason
    assert "connection refused" in failure.value.reason


def test_https_to_an_http_server_says_plain_http(tmp_path: Path, http_server: str) -> None:
    kube = _kube(_kubeconfig(tmp_path, f"https://{http_server}"))
    with pytest.raises(ApiFailure) as failure:
        kube.version()
    reason = failure.value.reason
    assert "plain HTTP, not TLS" in reason and "client certificate" not in reason, reason
    assert failure.value.final


def test_a_context_naming_a_missing_user_is_bad_input(tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path, "http://127.0.0.1:9", user="nobody")
    with pytest.raises(UsageError, match=r"names user 'nobody', which is not among its users"):
        load_configuration(KubeTarget(path, None, 2.0))


@pytest.mark.parametrize(
    ("base", "path", "joined"),
    [
        ("http://h:30080", "/productpage", "http://h:30080/productpage"),
        ("http://h:30080/", "/productpage", "http://h:30080/productpage"),
        ("http://h:30080/?lang=en", "/productpage", "http://h:30080/productpage?lang=en"),
        ("http://h/grafana?orgId=1", "/api/health", "http://h/grafana/api/health?orgId=1"),
    ],
)
def test_a_base_urls_query_stays_behind_the_path(base: str, path: str, joined: str) -> None:
    assert join_url(base, path) == joined


def test_a_query_is_added_to_one_already_there(http_server: str) -> None:
    client = WebClient(2.0, 2)
    try:
        answer = client.get(f"http://{http_server}/productpage?lang=en", [("u", "normal")])
    finally:
        client.close()
    assert answer.body == b"/productpage?lang=en&u=normal"


def test_a_kubeconfig_with_anchors_is_read_as_kubectl_reads_it(tmp_path: Path) -> None:
    """The stack file refuses aliases; a kubeconfig, which kubectl reads with them, does not."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: &cluster {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t0ken-abc}}]\n"
        "contexts: [{name: ctx, context: {cluster: c, user: u}},\n"
        "           {name: other, context: {cluster: c, user: u}}]\n"
        "x-shared: *cluster\ncurrent-context: ctx\n",
        encoding="utf-8",
    )
    assert load_configuration(KubeTarget(path, None, 2.0)).host == "http://127.0.0.1:9"
