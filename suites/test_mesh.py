"""Meshed namespaces ask for injection, and every pod there runs a ready linkerd-proxy."""

import pytest

pytestmark = pytest.mark.mesh


@pytest.mark.stack_checks("mesh.injection")
def test_namespace_annotated_for_injection(verify, check):
    verify(check)


@pytest.mark.stack_checks("mesh.proxies")
def test_pods_have_ready_proxy(verify, check):
    verify(check)
