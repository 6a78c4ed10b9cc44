"""Waiting in tests: through the project's one polling helper, with a deadline."""

from __future__ import annotations

from collections.abc import Callable

from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until


def poll(condition: Callable[[], object], seconds: float = 5.0) -> bool:
    """True once `condition()` holds, False if it did not within `seconds`."""
    try:
        poll_until(
            lambda: Attempt(bool(condition()), "not yet"), Deadline.after(seconds), "", 0.005
        )
    except WaitExpired:
        return False
    return True
