"""Every pod of every stack namespace is Running and Ready; Completed Job pods are fine."""

import pytest

pytestmark = pytest.mark.smoke


@pytest.mark.stack_checks("pods.healthy")
def test_pods_running_and_ready(verify, check):
    verify(check)
