"""Each expected workload (Prometheus stack, Linkerd, viz, Bookinfo) has its replicas."""

import pytest

pytestmark = pytest.mark.smoke


@pytest.mark.stack_checks("component.healthy")
def test_component_workloads_available(verify, check):
    verify(check)
