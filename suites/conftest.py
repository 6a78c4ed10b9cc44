"""Running suites/ makes this a verification session: settings resolved, target up, stack
file loaded (fixtures/session.py). The project's own tests in tests/ never get here."""

import pytest

from fixtures.reporting import prepare_results
from fixtures.session import activate, current


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    activate(config)
    session = current(config)
    if session is not None:
        prepare_results(config, session)
