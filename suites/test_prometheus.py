"""Prometheus scrapes the Linkerd jobs and has the mesh's traffic metrics."""

import pytest

pytestmark = pytest.mark.observability


@pytest.mark.stack_checks("prometheus.scrape-job")
def test_scrape_job_targets_up(verify, check):
    verify(check)


@pytest.mark.stack_checks("prometheus.query")
def test_mesh_metrics_present(verify, check):
    verify(check)
