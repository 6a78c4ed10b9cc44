"""A real Alertmanager (Debian's `prometheus-alertmanager`) receiving from the sim's Prometheus.

Its configuration is kube-prometheus-stack 65.8.1's default (values.yaml `alertmanager.config`,
prometheus-community/helm-charts tag kube-prometheus-stack-65.8.1): every alert, Watchdog
included, routed to the receiver `null`, which notifies nobody; alerts are still held and
listed by `GET /api/v2/alerts`. Clustering is off (one replica), as a single-replica
Alertmanager of the chart runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from stackcheck.sim.process import ServedProcess, ServedProcessError, free_port

ALERTMANAGER_BINARY = "/usr/bin/prometheus-alertmanager"

CHART_CONFIG: dict[str, Any] = {
    "global": {"resolve_timeout": "5m"},
    "inhibit_rules": [
        {
            "source_matchers": ["severity = critical"],
            "target_matchers": ["severity =~ warning|info"],
            "equal": ["namespace", "alertname"],
        },
        {
            "source_matchers": ["severity = warning"],
            "target_matchers": ["severity = info"],
            "equal": ["namespace", "alertname"],
        },
        {
            "source_matchers": ["alertname = InfoInhibitor"],
            "target_matchers": ["severity = info"],
            "equal": ["namespace"],
        },
        {"target_matchers": ["alertname = InfoInhibitor"]},
    ],
    "route": {
        "group_by": ["namespace"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "12h",
        "receiver": "null",
        "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
    },
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
    raise AlertmanagerError(
        "the sim needs an Alertmanager binary and none was found at "
        f"{ALERTMANAGER_BINARY} or on PATH; install it: "
        "apt-get install -y prometheus-alertmanager"
    )


class AlertmanagerServer:
    """The binary on a free 127.0.0.1 port; `start() -> url` waits for `/-/ready`; `stop()`
    never leaves the process behind (stackcheck/sim/process.py)."""

    def __init__(self, workdir: Path, config: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.config = config if config is not None else CHART_CONFIG
        self._served = ServedProcess("Alertmanager", workdir / "alertmanager.log", free_port())
        self.port = self._served.port
        self.url = self._served.url

    @property
    def log_file(self) -> Path:
        return self._served.log_file

    def start(self) -> str:
        binary = find_alertmanager()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8")
        try:
            return self._served.start(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                    "--log.level=info",
                ],
                cwd=self.workdir,
            )
        except ServedProcessError as exc:
            raise AlertmanagerError(str(exc)) from None

    def stop(self) -> None:
        self._served.stop()
