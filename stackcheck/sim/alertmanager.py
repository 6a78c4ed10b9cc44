"""A real Alertmanager (Debian's `prometheus-alertmanager`) receiving from the sim's Prometheus.

Its configuration is kube-prometheus-stack 65.8.1's default (values.yaml `alertmanager.config`,
prometheus-community/helm-charts tag kube-prometheus-stack-65.8.1): every alert, Watchdog
included, routed to the receiver `null`, which notifies nobody; alerts are still held and
listed by `GET /api/v2/alerts`. Clustering is off (one replica), as a single-replica
Alertmanager of the chart runs.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import subprocess
from pathlib import Path
from typing import IO, Any

import requests
import yaml

from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until
from stackcheck.sim.prometheus import free_port

ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"
READY_SECONDS = 30.0
STOP_SECONDS = 10.0

CHART_CONFIG: dict[str, Any] = {
    "global": {"resolve_timeout": "5m"},
    "inhibit_rules": [
        {"source_matchers": ["severity = critical"],
         "target_matchers": ["severity =~ warning|info"], "equal": ["namespace", "alertname"]},
        {"source_matchers": ["severity = warning"], "target_matchers": ["severity = info"],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ["alertname = InfoInhibitor"],
         "target_matchers": ["severity = info"], "equal": ["namespace"]},
        {"target_matchers": ["alertname = InfoInhibitor"]},
    ],
    "route": {"group_by": ["namespace"], "group_wait": "30s", "group_interval": "5m",
              "repeat_interval": "12h", "receiver": "null",
              "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]},
    "receivers": [{"name": "null"}],
}


class AlertmanagerError(RuntimeError):
    """Alertmanager cannot be started; the message says what to do."""


def find_alertmanager() -> str:
    if Path(ALERTMANAGER_BINARY).is_file():
        return ALERTMANAGER_BINARY
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name)
        if found:
            return found
    raise AlertmanagerError("the sim needs an Alertmanager binary and none was found at "
                            f"{ALERTMANAGER_BINARY} or on PATH; install it: "
                            "apt-get install -y prometheus-alertmanager")


class AlertmanagerServer:
    """The binary on a free 127.0.0.1 port; `start() -> url` waits for `/-/ready`; `stop()`
    terminates, then kills (an atexit guard covers an interpreter exiting without it)."""

    def __init__(self, workdir: Path, config: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.config = config if config is not None else CHART_CONFIG
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.workdir / "alertmanager.log"

    def start(self) -> str:
        binary = find_alertmanager()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        self._log = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            [binary, f"--config.file={config_file}",
             f"--storage.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=info"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self.workdir)
        atexit.register(self._kill)
        try:
            poll_until(self._ready, Deadline.after(READY_SECONDS),
                       f"Alertmanager at {self.url} ready", interval=0.1)
        except (WaitExpired, AlertmanagerError) as exc:
            self.stop()
            raise AlertmanagerError(f"{exc}; see {self.log_file}:\n{self._tail()}") from None
        return self.url

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=STOP_SECONDS)
        atexit.unregister(self._kill)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)

    def _ready(self) -> Attempt[None]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise AlertmanagerError("Alertmanager exited before it was ready")
        try:
            with requests.get(f"{self.url}/-/ready", timeout=1.0) as answer:
                return Attempt(answer.status_code == 200, f"/-/ready: {answer.status_code}")
        except requests.RequestException as exc:
            return Attempt(False, f"/-/ready: {type(exc).__name__}")

    def _tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])
