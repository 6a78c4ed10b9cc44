"""The project's own tests: the scripted HTTP server fixture (`serve`), and the fault
matrix printed as observed after the fault-matrix runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.scripted import ScriptedServer, scripted_servers

MATRIX_PROPERTY = "fault_matrix"  # tests/test_fault_matrix.py records (scenario, exit, failed)
# the item this worker runs after an item (pytest's `nextitem`; xdist never steals it): the
# fault matrix starts its suite run while the current one waits (tests/test_fault_matrix.py)
NEXT_ITEM = pytest.StashKey["pytest.Item | None"]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    item.stash[NEXT_ITEM] = nextitem


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            rows += [
                value
                for name, value in getattr(report, "user_properties", ())
                if name == MATRIX_PROPERTY
            ]
    if not rows:
        return
    terminalreporter.section("fault matrix (observed)")
    width = max(len(scenario) for scenario, _, _ in rows)
    for scenario, exit_code, failed in sorted(rows, key=lambda row: row[0]):
        checks = ", ".join(failed) or "-"
        terminalreporter.write_line(f"{scenario:<{width}}  exit {exit_code}  failed: {checks}")


@pytest.fixture
def serve() -> Iterator[Callable[[list[int | str]], ScriptedServer]]:
    """serve(script) -> a started ScriptedServer (tests/scripted.py), stopped afterwards."""
    with scripted_servers() as start:
        yield start
