"""Retrying one request's transient failures: capped exponential backoff with jitter, within
the run's deadline.

Two kinds of transient failure cost very different amounts of time:

- `transient` ones (an HTTP 5xx or 429, a connection reset or refused) fail at once: they
  get up to `ATTEMPTS` tries, whose pauses add about a second at most;
- `timed_out` ones each cost a whole request timeout: they are retried only while the
  run's deadline still has time left, so a dead endpoint never stretches the run by
  `ATTEMPTS` request timeouts.

Persistent failures are re-raised after the last try; the caller turns them into a check's
reason. This is per request: the check runner (runner.py) retries whole probes until the
deadline on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import tenacity

from stackcheck.polling import Deadline

T = TypeVar("T")

ATTEMPTS = 3
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.2  # seconds before the 2nd try; doubles each try
BACKOFF_JITTER = 0.2  # up to this much added at random, so concurrent clients spread out
BACKOFF_CAP = 2.0

Classify = Callable[[BaseException], bool]


def retrying(
    transient: Classify,
    timed_out: Classify | None = None,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity policy: `transient(exc)` failures are retried, `timed_out(exc)` ones only
    while `deadline` has time left (never without a deadline); anything else is raised at
    once."""

    def worth_retrying(exc: BaseException) -> bool:
        if timed_out is not None and timed_out(exc):
            return deadline is not None and not deadline.expired()
        return transient(exc)

    options: dict[str, Any] = {}
    if sleep is not None:
        options["sleep"] = sleep
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(worth_retrying),
        wait=tenacity.wait_exponential_jitter(
            multiplier=BACKOFF_BASE, exp_base=2, jitter=BACKOFF_JITTER, max=BACKOFF_CAP
        ),
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        reraise=True,
        **options,
    )


def call(
    request: Callable[[], T],
    transient: Classify,
    timed_out: Classify | None = None,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """`request()` under `retrying(...)`: its value, or its last failure raised."""
    result: T = retrying(transient, timed_out, deadline, sleep)(request)
    return result
