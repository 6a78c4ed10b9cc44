"""Golden signals per meshed deployment, computed as `linkerd viz stat deploy -n <ns>` does,
less the kubelet's probes where those would hide a fault.

Facts (tests/data/facts/linkerd-proxy.yml; linkerd/linkerd2 tag stable-2.14.10,
viz/metrics-api/stat_summary.go):
- requests: `sum(increase(response_total{<labels>}[<window>])) by (<group>, classification,
  tls)`; latency: `histogram_quantile(<q>, sum(irate(response_latency_ms_bucket{<labels>}
  [<window>])) by (le, <group>))`;
- with no --to/--from, labels are the resource's plus `direction="inbound"`, and the group
  for deployments is `(namespace, deployment)` (`buildRequestLabels`,
  `promGroupByLabelNames`); success and failure counts come from `classification`
  (`processPrometheusMetrics`), success rate = success / (success + failure), request rate =
  total / window (here grouped finer, by the probe labels below: the same sums). `viz stat`
  reads no `tls` (its MESHED column counts pods): the mTLS share,
  responses with `tls="true"` / total, is this check's own.
- the kubelet's HTTP probes of an app port pass the pod's inbound proxy in plaintext
  (`tls="no_identity"`), with no `authority` label (their Host is the pod's address), on the
  policy controller's built-in probe route and authorization (`route_kind="default",
  route_name="probe"`, `authz_kind="default", authz_name="probe"`). `viz stat` counts them.
  Left out here of the request rate (they go on without the traffic generator) and of the
  mTLS share (plaintext by design); success rate and latency keep them, as `viz stat` does.
  A plaintext application caller naming its host (`authority`) fails the mTLS share; plaintext
  naming no host off the probe route (probes under a Server's own HTTPRoutes, or a client
  calling the pod's address) cannot be told apart from probes: a warning.
The window (stack.yml `slo.window`) must span at least 4 scrape intervals of the proxies'
PodMonitor, else `increase`/`irate` see too few samples.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass

from stackcheck.checks import model
from stackcheck.checks.model import Check, Evidence, Obj, Readings, Result
from stackcheck.stackfile import SloExpectations, Stack

_DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Slo:
    success_rate: float = 0.99
    p95_ms: float = 500.0
    window: str = "1m"
    plaintext_allowed: tuple[tuple[str, str], ...] = ()  # (deployment, reason)


FLOAT_NOISE = 1e-9  # relative: sums of the same float counters differ by less


@dataclass(frozen=True)
class Signals:
    """What was measured for one deployment over the window (None: no data)."""

    deployment: str
    requests: float  # responses in the window
    successes: float
    mtls: float  # responses over mTLS (tls="true")
    window_seconds: float
    p95_ms: float | None
    probes: float = 0.0  # plaintext responses to the kubelet's probes (in `requests`)
    # plaintext responses naming no host off the probe route (in `requests`): the kubelet's
    # probes where a Server's own HTTPRoutes cover the probed port, or a client calling the
    # pod's address from outside the mesh; they cannot be told apart
    unnamed: float = 0.0

    @property
    def app_requests(self) -> float:
        """Responses to application callers: all but the kubelet's probes."""
        return max(0.0, self.requests - self.probes)

    @property
    def rps(self) -> float:
        return self.app_requests / self.window_seconds if self.window_seconds else 0.0

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def plaintext(self) -> float:
        """Responses to application callers without mTLS."""
        return self._counted(self.app_requests - self.mtls)

    @property
    def named_plaintext(self) -> float:
        """Plaintext responses naming their host (surely not the kubelet's probes)."""
        return self._counted(self.plaintext - self.unnamed)

    def _counted(self, responses: float) -> float:
        """What the float sums of the same counters leave (32 - 31.999999999) is no
        response: zero, not a failure."""
        return responses if responses > FLOAT_NOISE * max(1.0, self.requests) else 0.0

    @property
    def mtls_share(self) -> float | None:
        app = self.app_requests
        return (app - self.plaintext) / app if app else None


# ----------------------------------------------------------------------------------------
# windows and queries
# ----------------------------------------------------------------------------------------


def duration_seconds(text: str) -> float:
    """A PromQL duration such as `1m`, `30s`; ValueError names a bad one."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 1m or 1h")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _selector(namespace: str) -> str:
    # the label order of Prometheus' LabelSet.String(), which linkerd's queries are built with
    return f'{{direction="inbound", namespace="{namespace}"}}'


# the labels that tell the kubelet's probes apart: the built-in probe route and authz
PROBE_LABELS = {
    "route_kind": "default",
    "route_name": "probe",
    "authz_kind": "default",
    "authz_name": "probe",
}
_PROBE_GROUP = ("authority", *PROBE_LABELS)


def requests_query(namespace: str, window_text: str) -> str:
    """linkerd's reqQuery, grouped finer by the probe labels: the same sums, and the probes
    told apart in the same evaluation (two queries would see different scrapes)."""
    return (
        f"sum(increase(response_total{_selector(namespace)}[{window_text}])) "
        f"by (namespace, deployment, classification, tls, {', '.join(_PROBE_GROUP)})"
    )


def is_probe(labels: dict[str, str]) -> bool:
    """A kubelet probe's response: plaintext, naming no host, on the probe route."""
    return (
        labels.get("tls") != "true"
        and not labels.get("authority")
        and all(labels.get(k) == v for k, v in PROBE_LABELS.items())
    )


def latency_query(namespace: str, window_text: str, quantile: float = 0.95) -> str:
    return (
        f"histogram_quantile({quantile}, sum(irate(response_latency_ms_bucket"
        f"{_selector(namespace)}[{window_text}])) by (le, namespace, deployment))"
    )


# ----------------------------------------------------------------------------------------
# measuring and judging
# ----------------------------------------------------------------------------------------


def _samples(answer: Obj) -> list[tuple[dict[str, str], float]]:
    out = []
    for sample in ((answer.get("data") or {}).get("result")) or []:
        value = (sample.get("value") or [0, "NaN"])[1]
        out.append((dict(sample.get("metric") or {}), float(value)))
    return out


def measure(
    deployments: list[str], requests_answer: Obj, latency_answer: Obj, window_text: str
) -> list[Signals]:
    """Per deployment (in the order given): the counts, probes and p95 the two answers
    hold."""
    seconds = duration_seconds(window_text)
    totals: dict[str, list[float]] = {d: [0.0, 0.0, 0.0, 0.0, 0.0] for d in deployments}
    for labels, value in _samples(requests_answer):
        counts = totals.get(labels.get("deployment", ""))
        if counts is None or math.isnan(value):
            continue
        counts[0] += value
        counts[1] += value if labels.get("classification") == "success" else 0.0
        counts[2] += value if labels.get("tls") == "true" else 0.0
        probe = is_probe(labels)
        counts[3] += value if probe else 0.0
        unnamed = labels.get("tls") != "true" and not labels.get("authority") and not probe
        counts[4] += value if unnamed else 0.0
    p95: dict[str, float] = {}
    for labels, value in _samples(latency_answer):
        if not math.isnan(value):
            p95[labels.get("deployment", "")] = value
    return [
        Signals(
            d,
            requests=totals[d][0],
            successes=totals[d][1],
            mtls=totals[d][2],
            window_seconds=seconds,
            p95_ms=p95.get(d),
            probes=totals[d][3],
            unnamed=totals[d][4],
        )
        for d in deployments
    ]


def _no_traffic(signals: Signals, slo: Slo) -> Result:
    return Result(
        f"{signals.deployment}: no traffic",
        failures=(
            f"deployment {signals.deployment}: no inbound requests in the last {slo.window}"
            f"{_besides_probes(signals)} (is the traffic generator running and meshed?)",
        ),
    )


def _besides_probes(signals: Signals) -> str:
    return f" besides {_responses(signals.probes)} kubelet probes" if signals.probes > 0 else ""


def _nothing_to_judge(signals: Signals, slo: Slo) -> Result:
    """Without requests a rate, a latency or a TLS share means nothing: not judged (the
    request rate fails in its place)."""
    return Result(f"{signals.deployment}: not judged: no traffic in the last {slo.window}")


def judge_request_rate(signals: Signals, slo: Slo) -> Result:
    """Requests arrive (the traffic generator works and its traffic is seen)."""
    if signals.app_requests <= 0:
        return _no_traffic(signals, slo)
    return Result(f"{signals.deployment}: {signals.rps:.2f} requests/s")


def judge_success_rate(signals: Signals, slo: Slo) -> Result:
    if signals.app_requests <= 0:
        return _nothing_to_judge(signals, slo)
    rate = signals.success_rate or 0.0
    summary = f"{signals.deployment}: success rate {rate:.2%}"
    if rate < slo.success_rate:
        return Result(
            summary,
            failures=(
                f"deployment {signals.deployment}: success rate {rate:.2%} < SLO "
                f"{slo.success_rate:.2%} ({signals.requests - signals.successes:.0f} of "
                f"{signals.requests:.0f} responses failed in {slo.window})",
            ),
        )
    return Result(summary)


def judge_latency(signals: Signals, slo: Slo) -> Result:
    if signals.app_requests <= 0:
        return _nothing_to_judge(signals, slo)
    summary = f"{signals.deployment}: p95 {_ms(signals.p95_ms)}"
    if signals.p95_ms is None:
        # requests counted, yet no bucket moved in the last two scrapes (irate): sparse
        # traffic between two scrapes, not a slow service; unsure, so a warning (seen on a
        # healthy sim under load)
        return Result(
            summary,
            warnings=(
                f"deployment {signals.deployment}: no latency "
                f"histogram in the last {slo.window}: p95 not "
                "judged",
            ),
        )
    if signals.p95_ms > slo.p95_ms:
        return Result(
            summary,
            failures=(
                f"deployment {signals.deployment}: p95 latency "
                f"{signals.p95_ms:.0f} ms > bound {slo.p95_ms:g} ms",
            ),
        )
    return Result(summary)


def judge_mtls(signals: Signals, slo: Slo) -> Result:
    """All inbound application traffic is mTLS, unless the stack file allows plaintext for
    this deployment (with a reason, said in the summary)."""
    if signals.app_requests <= 0:
        return _nothing_to_judge(signals, slo)
    share = signals.mtls_share or 0.0
    summary = f"{signals.deployment}: {share:.1%} of inbound responses over mTLS{_probes(signals)}"
    if signals.plaintext == 0.0:
        return Result(summary)
    plain = (
        f"deployment {signals.deployment}: {1 - share:.1%} of inbound responses "
        f"({_responses(signals.plaintext)} of {_responses(signals.app_requests)}) without mTLS"
        f"{_probes(signals)}"
    )
    allowed = dict(slo.plaintext_allowed)
    if signals.deployment in allowed:
        return Result(f"{summary}; {plain}: allowed ({allowed[signals.deployment]})")
    if signals.named_plaintext == 0.0:
        # naming no host, off the probe route: probes under the user's own routes, or an
        # unmeshed client calling the pod's address. Unsure: a warning, not a failure
        unsure = (
            f"{plain}, none naming a host: the kubelet's probes of a port your own "
            "Server/HTTPRoute covers (off the probe route), or a client outside the mesh "
            "calling the pod's address; not judged"
        )
        return Result(summary, warnings=(unsure,))
    return Result(summary, failures=(plain,))


def _probes(signals: Signals) -> str:
    """Says what was left out of the share (no "; ": that separates allowances)."""
    return f" (kubelet probes left out: {_responses(signals.probes)})" if signals.probes > 0 else ""


def _responses(count: float) -> str:
    """A count of responses (`increase` extrapolates: a young window holds fractions)."""
    return f"{count:.0f}" if count >= 1 else f"{count:.2f}"


JUDGES = {
    "request-rate": judge_request_rate,
    "success-rate": judge_success_rate,
    "latency": judge_latency,
    "mtls": judge_mtls,
}


def judge(signals: Signals, slo: Slo) -> Result:
    """All four signals of one deployment: every failure; without traffic, only the request
    rate fails and the others say they were not judged."""
    if signals.app_requests <= 0:
        return Result(
            f"{signals.deployment}: no traffic; success rate, latency and mTLS not judged",
            failures=_no_traffic(signals, slo).failures,
        )
    results = [one(signals, slo) for one in JUDGES.values()]
    allowed = [
        r.summary.split("; ", 1)[1]
        for r in results
        if r.status is model.Status.PASSED and "; " in r.summary
    ]
    summary = (
        f"{signals.deployment}: {signals.rps:.2f} rps, "
        f"{(signals.success_rate or 0.0):.2%} success, p95 {_ms(signals.p95_ms)}, "
        f"{(signals.mtls_share or 0.0):.0%} mTLS{_probes(signals)}"
        + "".join(f"; {a}" for a in allowed)
    )
    return Result(
        summary,
        tuple(f for r in results for f in r.failures),
        tuple(w for r in results for w in r.warnings),
    )


# ----------------------------------------------------------------------------------------
# the stakeholder's table
# ----------------------------------------------------------------------------------------

_HEADER = ("Deployment", "Requests/s", "Success", "p95", "mTLS", "Verdict")


def _ms(value: float | None) -> str:
    return "no data" if value is None else f"{value:.0f} ms"


def _pct(value: float | None, digits: int = 1) -> str:
    return "no data" if value is None else f"{value:.{digits}%}"


def table_rows(measured: list[Signals], slo: Slo) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for signals in measured:
        verdict = judge(signals, slo).status.value
        rows.append(
            (
                signals.deployment,
                f"{signals.rps:.2f}",
                _pct(signals.success_rate),
                _ms(signals.p95_ms),
                _pct(signals.mtls_share, 0),
                verdict,
            )
        )
    return rows


def render_table(measured: list[Signals], slo: Slo, markdown: bool = True) -> str:
    """One table a stakeholder reads at a glance, with the SLOs in its caption."""
    rows = table_rows(measured, slo)
    caption = _caption(slo)
    if markdown:
        lines = [
            "| " + " | ".join(_HEADER) + " |",
            "|" + "|".join(["---"] + ["---:"] * 4 + [":---:"]) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return caption + "\n\n" + "\n".join(lines) + "\n"
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    text = [caption, ""]
    for row in [_HEADER, *rows]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        text.append("  ".join(cells))
    return "\n".join(text) + "\n"


def _caption(slo: Slo) -> str:
    return (
        f"Golden signals over {slo.window} (SLO: success >= {slo.success_rate:.2%}, "
        f"p95 <= {slo.p95_ms:g} ms, all inbound traffic mTLS, requests > 0; kubelet probes "
        "left out of Requests/s and mTLS)"
    )


def render_csv(measured: list[Signals], slo: Slo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    writer.writerows(table_rows(measured, slo))
    return out.getvalue()


def render_html(measured: list[Signals], slo: Slo) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in _HEADER)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in table_rows(measured, slo)
    )
    return (
        f'<html><body><p>{html.escape(_caption(slo))}</p><table border="1">'
        f"<tr>{cells}</tr>{rows}</table></body></html>"
    )


# ----------------------------------------------------------------------------------------
# the checks
# ----------------------------------------------------------------------------------------

FEATURE = "Golden signals"
TABLE = "golden signals in {namespace}"  # the evidence's name: the terminal prints each once


def slo_of(expected: SloExpectations) -> Slo:
    return Slo(expected.success_rate, expected.p95_ms, expected.window, expected.plaintext_allowed)


def slo_deployments(stack: Stack) -> dict[str, list[str]]:
    """Namespace -> the Deployments of the stack file's SLO components, in file order."""
    found: dict[str, list[str]] = {}
    for component in stack.components:
        if component.name in stack.slo.components:
            found.setdefault(component.namespace, []).extend(
                w.name for w in component.workloads if w.kind == "Deployment"
            )
    return found


def golden_checks(stack: Stack) -> list[Check]:
    """One check per Deployment, judging its four signals from the namespace's two queries
    (shared by all its checks); each carries the namespace's whole table."""
    slo = slo_of(stack.slo)
    return [
        signals_check(namespace, deployment, deployments, slo)
        for namespace, deployments in slo_deployments(stack).items()
        for deployment in deployments
    ]


def signals_check(namespace: str, deployment: str, deployments: list[str], slo: Slo) -> Check:
    requests = model.prometheus_query(requests_query(namespace, slo.window))
    latency = model.prometheus_query(latency_query(namespace, slo.window))

    def evaluate(readings: Readings) -> Result:
        measured = measure(deployments, readings[requests], readings[latency], slo.window)
        mine = judge(next(m for m in measured if m.deployment == deployment), slo)
        return Result(
            mine.summary,
            mine.failures,
            mine.warnings,
            evidence=table_evidence(namespace, measured, slo),
        )

    return Check(
        f"golden.signals[{deployment}]",
        "golden.signals",
        FEATURE,
        f"{namespace}/{deployment} serves requests (rate > 0), succeeds at or above "
        f"{slo.success_rate:.2%}, answers with p95 at or under {slo.p95_ms:g} ms, all over "
        "mTLS (inbound, as `linkerd viz stat` computes them; the kubelet's probes left out of "
        "the rate and the mTLS share)",
        f"linkerd viz stat deploy/{deployment} -n {namespace}; check the traffic generator, "
        "the deployment's logs and its callers' mesh injection",
        (requests, latency),
        evaluate,
    )


def table_evidence(namespace: str, measured: list[Signals], slo: Slo) -> tuple[Evidence, ...]:
    """The stakeholder's table, attached whatever the result (`on_pass`): it is the
    acceptance evidence of a green run, the one exception to evidence only on failure."""
    name = TABLE.format(namespace=namespace)
    return (
        Evidence(name, render_table(measured, slo, markdown=True), "text/markdown", on_pass=True),
        Evidence(f"{name} (HTML)", render_html(measured, slo), "text/html", on_pass=True),
        Evidence(f"{name} (CSV)", render_csv(measured, slo), "text/csv", on_pass=True),
    )
