"""Manifest conformance needs no cluster: no target, no verification session.

`pytest suites/static` skips the session (fixtures/session.py `_only_static`); when the static
suite runs as part of `pytest suites/`, these fixtures still need nothing from the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stackcheck import static
from stackcheck.errors import UsageError
from stackcheck.settings import resolve
from stackcheck.stackfile import load_stack

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="session")
def static_problems(request: pytest.FixtureRequest) -> list[static.Problem]:
    """Every problem in manifests/, found once per run (or kept from the last run, when no
    manifest, schema or code changed since: stackcheck/cache.py)."""
    try:
        settings = resolve(lambda dest: request.config.getoption(dest, None), base=ROOT)
        cache = settings.result_cache()
        stack = load_stack(settings.stack_file, cache)
    except UsageError as exc:
        pytest.fail(str(exc), pytrace=False)
    return static.check_cached(ROOT, stack, cache)
