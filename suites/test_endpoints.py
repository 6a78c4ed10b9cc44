"""productpage serves the bookstore page; Grafana sends anonymous users to /login."""

import pytest

pytestmark = pytest.mark.endpoints


@pytest.mark.stack_checks("endpoint")
def test_endpoint_answers_as_expected(verify, check):
    verify(check)
