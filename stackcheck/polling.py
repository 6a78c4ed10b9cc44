"""The one waiting helper: retry a probe until it holds or a monotonic deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt(Generic[T]):
    """One probe result: `ok` with a value, or not yet with the reason why."""

    ok: bool
    reason: str = ""
    value: T | None = None


class Deadline:
    """A point on the monotonic clock; `Deadline.after(0)` allows exactly one attempt."""

    def __init__(self, at: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.at = at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0


class WaitExpired(Exception):
    """The deadline passed; `last` is the last attempt seen (its reason explains why)."""

    def __init__(self, what: str, waited: float, attempts: int, last: Attempt[object]) -> None:
        self.what = what
        self.waited = waited
        self.attempts = attempts
        self.last = last
        super().__init__(
            f"{what}: not true after {waited:.1f}s ({attempts} attempt(s)); last: {last.reason}"
        )


def poll_until(
    probe: Callable[[], Attempt[T]],
    deadline: Deadline,
    what: str,
    interval: float = 1.0,
    pause: Callable[[float], None] = time.sleep,
) -> Attempt[T]:
    """Call `probe` until it returns ok; at least once, and never past `deadline`.

    `pause(seconds)` waits between attempts; a watch-based pause may return early when
    something changed, so a condition is seen as soon as it becomes true.
    """
    started = deadline.remaining()
    attempts = 0
    while True:
        attempts += 1
        attempt = probe()
        if attempt.ok:
            return attempt
        left = deadline.remaining()
        if left <= 0.0:
            raise WaitExpired(what, max(0.0, started - left), attempts, attempt)  # type: ignore[arg-type]
        pause(min(interval, left))
