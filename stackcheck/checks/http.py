"""An HTTP answer against the stack file's expectation."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackcheck.stackfile import HttpExpectation


@dataclass(frozen=True)
class HttpAnswer:
    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


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
        problems.append(f"body length is {len(answer.body)} bytes, expected "
                        f"{expect.length.describe()}")
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
    return [f"JSON field {key!r} is {data.get(key)!r}, expected {value!r}"
            for key, value in expected.items() if data.get(key) != value]
