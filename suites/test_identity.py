"""Linkerd identity: the trust anchor and issuer are valid long enough, and every proxy
trusts the current anchor and runs the control plane's version (no Secret is read)."""

import pytest

pytestmark = pytest.mark.identity


@pytest.mark.stack_checks("identity.trust-anchor", "identity.issuer")
def test_identity_certificates_valid(verify, check):
    verify(check)


@pytest.mark.stack_checks("identity.proxies-trust", "identity.proxy-versions")
def test_proxies_trust_anchor_and_match_control_plane(verify, check):
    verify(check)
