"""Manifest conformance needs no cluster: no target, no verification session.

`pytest suites/static` skips the session (fixtures/session.py `_only_static`); when the static
suite runs as part of `pytest suites/`, it takes the session's stack instead of reading it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.session import current
from stackcheck import static
from stackcheck.errors import UsageError
from stackcheck.settings import resolve
from stackcheck.stackfile import load_stack

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="session")
def static_problems(request: pytest.FixtureRequest) -> list[static.Problem]:
    """Every problem in manifests/, found once per run (or kept from the last run, when no
    manifest, schema or code changed since: stackcheck/cache.py)."""
    session = current(request.config)
    if session is not None:  # part of `pytest suites/`: its stack, read already
        return static.check_cached(ROOT, session.stack, session.settings.result_cache())
    try:
        settings = resolve(lambda dest: request.config.getoption(dest, None), base=ROOT)
        cache = settings.result_cache()
        stack = load_stack(settings.stack_file, cache)
    except UsageError as exc:
        pytest.fail(str(exc), pytrace=False)
    return static.check_cached(ROOT, stack, cache)
