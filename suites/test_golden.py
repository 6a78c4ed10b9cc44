"""Golden signals per meshed Deployment: traffic flows, succeeds, is fast and is mTLS."""

import pytest

pytestmark = pytest.mark.golden


@pytest.mark.stack_checks("golden.signals")
def test_golden_signals_within_slo(verify, check):
    verify(check)
