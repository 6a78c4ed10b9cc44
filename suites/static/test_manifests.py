"""manifests/ conforms: schemas and the stack's invariants, one test per rule."""

from __future__ import annotations

import pytest

from stackcheck import static

pytestmark = pytest.mark.static


@pytest.mark.parametrize("rule", list(static.RULES), ids=list(static.RULES))
def test_manifests(rule: str, static_problems: list[static.Problem]) -> None:
    found = [p for p in static_problems if p.rule == rule]
    if found:
        lines = "\n".join(f"  - {p}" for p in found)
        pytest.fail(
            f"{rule}: {static.RULES[rule]}: {len(found)} problem(s)\n{lines}", pytrace=False
        )
