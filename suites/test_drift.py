"""The live cluster still carries what git says: manifests field by field, and what the Helm
values pin (no PVC, Grafana's NodePort, placement)."""

import pytest


@pytest.mark.stack_checks("drift.manifests", "drift.helm")
def test_live_objects_match_git(verify, check):
    verify(check)
