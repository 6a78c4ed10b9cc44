"""prometheus-operator's own /metrics, as far as the checks read it.

Fact (prometheus-operator/prometheus-operator pkg/operator/operator.go): gauge
`prometheus_operator_managed_resources{resource, state}`, state `selected` or `rejected`, per
controller (the registry adds `controller`, e.g. `prometheus`). The sim reports the
PodMonitors it holds as selected, and `SimSpec.operator_rejected` of them as rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from stackcheck.sim.endpoints import ServerThread
from stackcheck.sim.spec import SimSpec

TEXT_FORMAT = "text/plain; version=0.0.4"


def render_operator_metrics(podmonitors: int, rejected: int) -> str:
    name = "prometheus_operator_managed_resources"
    lines = [
        f"# HELP {name} Number of resources managed by the operator's controller per "
        "state (selected/rejected)",
        f"# TYPE {name} gauge",
    ]
    for state, count in (("selected", podmonitors - rejected), ("rejected", rejected)):
        lines.append(
            f'{name}{{controller="prometheus",resource="PodMonitor",state="{state}"}} {count}'
        )
    return "\n".join(lines) + "\n"


class OperatorMetrics:
    """A small HTTP server answering /metrics; `start() -> url`, `stop()`."""

    def __init__(self, spec: SimSpec, podmonitors: int) -> None:
        self._body = render_operator_metrics(podmonitors, min(spec.operator_rejected, podmonitors))
        self._server = ServerThread(self._app, name="sim-prometheus-operator")

    @property
    def port(self) -> int:
        return int(self._server.url.rsplit(":", 1)[1])

    def start(self) -> str:
        return self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path != "/metrics":
            return Response("not found\n", status=404)(environ, start_response)
        return Response(self._body, content_type=TEXT_FORMAT)(environ, start_response)
