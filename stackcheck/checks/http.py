"""endpoint[<name>]: an HTTP endpoint answers as the stack file says."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from stackcheck.checks import model
from stackcheck.checks.model import Check, Evidence, HttpAnswer, Result
from stackcheck.redact import REDACTOR
from stackcheck.stackfile import Endpoint, HttpExpectation

BODY_EXCERPT = 2048
NOTABLE_LINES = 10
NOTABLE_WIDTH = 200
# a line with one of these words (one pass over the page, not a search per line)
_NOTABLE_LINE = re.compile(
    r"(?im)^[^\r\n]*?(?:error|exception|fail|denied|unavailable|forbidden|unauthori[sz]ed)"
    r"[^\r\n]*"
)
FEATURES = {"productpage": "Bookinfo", "grafana": "Grafana", "prometheus": "Prometheus"}


SERVED_BY = re.compile(rb"Reviews served by:\s*(?:<[^>]*>\s*)*([^\s<]+)")


def endpoint_check(endpoint: Endpoint) -> Check:
    reads = tuple(
        model.http_get(endpoint.service, endpoint.path, n) for n in range(endpoint.samples)
    )
    each = f" ({endpoint.samples} answers, each judged)" if endpoint.samples > 1 else ""
    return Check(
        f"endpoint[{endpoint.name}]",
        "endpoint",
        FEATURES.get(endpoint.service, endpoint.service.capitalize()),
        f"{endpoint.service} {endpoint.path} answers {endpoint.expect.status} as expected{each}",
        endpoint.hint or f"open {endpoint.path} on {endpoint.service} and compare with stack.yml",
        reads,
        lambda readings: endpoint_answers(endpoint.expect, *(readings[r] for r in reads)),
    )


def endpoint_answers(expect: HttpExpectation, *answers: HttpAnswer) -> Result:
    """Each answer judged; with several, the message lists each one's size and the reviews
    pod that served it (productpage's page names it)."""
    if len(answers) == 1:
        (answer,) = answers
        problems = tuple(http_problems(expect, answer))
        return Result(
            f"GET {answer.url} -> {answer.status}, {len(answer.body)} bytes",
            failures=problems,
            evidence=(http_evidence(answer),) if problems else (),
        )
    failures = [
        f"answer {n}/{len(answers)}{_served(a)}: {problem}"
        for n, a in enumerate(answers, start=1)
        for problem in http_problems(expect, a)
    ]
    sizes = "; ".join(f"{a.status}, {len(a.body)} bytes{_served(a)}" for a in answers)
    evidence = (  # built only to explain a failure: a page's redaction costs ~1 ms
        tuple(
            replace(http_evidence(a), name=f"GET {a.url} (answer {n})")
            for n, a in enumerate(answers, start=1)
        )
        if failures
        else ()
    )
    return Result(f"GET {answers[0].url} -> {sizes}", failures=tuple(failures), evidence=evidence)


def served_by(answer: HttpAnswer) -> str | None:
    """The pod named after "Reviews served by:" on a Bookinfo page, if any."""
    match = SERVED_BY.search(answer.body)
    return match.group(1).decode("utf-8", "replace") if match else None


def _served(answer: HttpAnswer) -> str:
    pod = served_by(answer)
    return f" (reviews {pod})" if pod else ""


def http_problems(expect: HttpExpectation, answer: HttpAnswer) -> list[str]:
    """Every way the answer differs from the expectation (empty: it holds)."""
    problems: list[str] = []
    if answer.status != expect.status:
        problems.append(_status_problem(expect, answer))
        if expect.status == 302 and answer.status == 200:
            problems.append("200 without a login means anonymous access is enabled")
        return problems  # other expectations describe the expected page, not this one
    location = header(answer, "Location")
    if expect.location is not None and not re.search(expect.location, location or ""):
        problems.append(f"Location is {location!r}, expected to match {expect.location!r}")
    text = answer.body.decode("utf-8", "replace")
    problems += [f"body lacks {m!r}" for m in expect.contains if m not in text]
    problems += [f"body contains {m!r}" for m in expect.absent if m in text]
    if expect.length is not None and not expect.length.holds(len(answer.body)):
        problems.append(
            f"body length is {len(answer.body)} bytes, expected {expect.length.describe()}"
        )
    if expect.json:
        problems += _json_problems(expect.json, answer.body)
    return problems


def header(answer: HttpAnswer, name: str) -> str | None:
    """A header's value; names are case-insensitive (RFC 9110), whatever the server sent."""
    wanted = name.lower()
    return next((v for k, v in answer.headers.items() if k.lower() == wanted), None)


def _status_problem(expect: HttpExpectation, answer: HttpAnswer) -> str:
    text = f"status {answer.status} {answer.reason}".rstrip() + f", expected {expect.status}"
    if 300 <= answer.status < 400:
        text += f" (Location: {header(answer, 'Location')!r})"
    return text


def _json_problems(expected: Mapping[str, Any], body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return ["body is not JSON"]
    if not isinstance(data, dict):
        return ["body is not a JSON object"]
    return [
        f"JSON field {key!r} is {data.get(key)!r}, expected {value!r}"
        for key, value in expected.items()
        if data.get(key) != value
    ]


def http_evidence(answer: HttpAnswer) -> Evidence:
    """The request, status, headers (secret ones masked) and a bounded body excerpt: its
    head, plus the lines of note further down (an error message deep in a 200 page)."""
    headers = REDACTOR.headers(answer.headers)
    text = answer.body.decode("utf-8", "replace")
    head, rest = text[:BODY_EXCERPT], text[BODY_EXCERPT:]
    body = head
    if rest:
        first = head.count("\n") + 1
        notable = [
            (first + rest.count("\n", 0, match.start()), match.group(0).strip()[:NOTABLE_WIDTH])
            for match in itertools.islice(_NOTABLE_LINE.finditer(rest), NOTABLE_LINES)
        ]
        body += f"\n... ({len(answer.body) - len(head.encode())} more bytes"
        body += "; lines of note:)\n" if notable else ")"
        body += "".join(f"{n:>5}: {line}\n" for n, line in notable[:NOTABLE_LINES])
    return Evidence(
        f"GET {answer.url}",
        f"GET {answer.url}\n\nHTTP {answer.status} {answer.reason}\n"
        + "".join(f"{k}: {v}\n" for k, v in headers.items())
        + f"\n{REDACTOR.text(body)}",
    )
