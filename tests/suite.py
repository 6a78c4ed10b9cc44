"""The suite as users run it, in a subprocess: `pytest suites/ <options>` with this
interpreter (for the tests that run it whole: the fault matrix, the redaction scan, the
report's rendering, interrupts, the soak, the request budget, bad input)."""

from __future__ import annotations

import sys


def suite_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "suites/", *options]
