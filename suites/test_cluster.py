"""The API server answers: every other cluster check depends on it."""

import pytest

pytestmark = pytest.mark.smoke


@pytest.mark.stack_checks("api.reachable")
def test_api_server_answers(verify, check):
    verify(check)
