"""Errors the suite turns into one clear line instead of a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (options, stack file, kubeconfig, manifests).

    pytest reports it as a usage error: one line, exit code 4.
    """


class ClusterUnreachable(Exception):
    """The API server cannot be used at all: every cluster check depends on it."""
