"""A local HTTP server answering from a script, for the clients' tests on the wire
(tests/test_retry.py, tests/test_web.py, tests/test_deploy_cluster.py; the `serve` fixture
is in tests/conftest.py)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml


class Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each GET with the next step of the server's script: a status code (302: to
    /login), "reset" (close without answering) or "slow" (answer after the client's
    timeout). Records each request line, as sent (a proxy gets the absolute URL)."""

    server: ScriptedServer

    def do_GET(self) -> None:
        step = self.server.next_step(self.requestline)
        if step == "reset":
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if step == "slow":
            self.server.release.wait(5.0)
            step = 200
        body = json.dumps(
            {"gitVersion": "v1.28.15"}
            if step == 200
            else {"kind": "Status", "message": f"scripted {step}"}
        ).encode()
        self.send_response(int(step))
        if step == 302:
            self.send_header("Location", "/login")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ScriptedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, script: list[int | str]) -> None:
        super().__init__(("127.0.0.1", 0), Scripted)
        self.script = list(script)
        self.requests = 0
        self.lines: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def next_step(self, line: str) -> int | str:
        with self._lock:
            self.requests += 1
            self.lines.append(line)
            return self.script.pop(0) if self.script else 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and timeouts are the script's point, not errors to print

    def kubeconfig(self, folder: Path) -> Path:
        """A kubeconfig (token user) whose one context is this server, in `folder`."""
        path = folder / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "c",
                    "clusters": [{"name": "c", "cluster": {"server": self.url}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                }
            )
        )
        return path


@contextmanager
def scripted_servers() -> Iterator[Callable[[list[int | str]], ScriptedServer]]:
    """Starts servers from scripts; stops them all on leaving (tests/conftest.py `serve`)."""
    servers: list[ScriptedServer] = []

    def start(script: list[int | str]) -> ScriptedServer:
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.release.set()
            server.shutdown()
            server.server_close()
