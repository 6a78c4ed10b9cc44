"""The per-request retry policy (stackcheck/retry.py), with a fake clock and a fake sleep:
which failures are retried, how often, with what pauses, and never past the deadline for
the slow ones."""

from __future__ import annotations

import pytest

from stackcheck.polling import Deadline
from stackcheck.retry import ATTEMPTS, BACKOFF_BASE, BACKOFF_CAP, BACKOFF_JITTER, call


class Fast(Exception):
    """Stands for a 5xx/429 answer or a connection reset."""


class Slow(Exception):
    """Stands for a timeout."""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Script:
    """A request that fails with the given exceptions in turn, then answers "ok"; each try
    costs `cost` seconds on the fake clock."""

    def __init__(self, clock: Clock, failures: list[Exception], cost: float = 0.0) -> None:
        self.clock = clock
        self.failures = list(failures)
        self.cost = cost
        self.tries = 0

    def __call__(self) -> str:
        self.tries += 1
        self.clock.now += self.cost
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def is_fast(exc: BaseException) -> bool:
    return isinstance(exc, Fast)


def is_slow(exc: BaseException) -> bool:
    return isinstance(exc, Slow)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_fast_failure_is_retried_and_the_answer_returned(clock: Clock) -> None:
    request, pauses = Script(clock, [Fast(), Fast()]), list[float]()
    assert call(request, is_fast, is_slow, sleep=pauses.append) == "ok"
    assert request.tries == 3
    assert len(pauses) == 2


def test_a_persistent_fast_failure_is_raised_after_the_last_try(clock: Clock) -> None:
    request = Script(clock, [Fast("503 #1"), Fast("503 #2"), Fast("503 #3"), Fast("#4")])
    with pytest.raises(Fast, match="503 #3"):
        call(request, is_fast, is_slow, sleep=lambda s: None)
    assert request.tries == ATTEMPTS


def test_pauses_grow_exponentially_with_jitter_and_a_cap(clock: Clock) -> None:
    firsts, seconds = list[float](), list[float]()
    for _ in range(30):
        pauses: list[float] = []
        with pytest.raises(Fast):
            call(Script(clock, [Fast()] * ATTEMPTS), is_fast, sleep=pauses.append)
        assert len(pauses) == ATTEMPTS - 1
        firsts.append(pauses[0])
        seconds.append(pauses[1])
    assert all(BACKOFF_BASE <= p <= BACKOFF_BASE + BACKOFF_JITTER for p in firsts)
    assert all(2 * BACKOFF_BASE <= p <= 2 * BACKOFF_BASE + BACKOFF_JITTER for p in seconds)
    assert all(p <= BACKOFF_CAP for p in firsts + seconds)
    assert len(set(firsts)) > 1, "no jitter: every client would retry in lockstep"


def test_anything_else_is_raised_at_once(clock: Clock) -> None:
    request = Script(clock, [PermissionError("403 Forbidden")])
    with pytest.raises(PermissionError):
        call(request, is_fast, is_slow, sleep=lambda s: None)
    assert request.tries == 1


def test_a_timeout_is_not_retried_without_a_deadline(clock: Clock) -> None:
    request = Script(clock, [Slow(), Slow()])
    with pytest.raises(Slow):
        call(request, is_fast, is_slow, sleep=lambda s: None)
    assert request.tries == 1


def test_a_timeout_is_retried_while_the_deadline_has_time(clock: Clock) -> None:
    request = Script(clock, [Slow(), Slow()], cost=1.0)
    deadline = Deadline.after(30.0, clock)
    assert call(request, is_fast, is_slow, deadline, sleep=lambda s: None) == "ok"
    assert request.tries == 3


def test_a_timeout_is_not_retried_past_the_deadline(clock: Clock) -> None:
    request = Script(clock, [Slow(), Slow(), Slow()], cost=10.0)  # each try: a whole timeout
    deadline = Deadline.after(15.0, clock)
    with pytest.raises(Slow):
        call(request, is_fast, is_slow, deadline, sleep=lambda s: None)
    assert request.tries == 2  # the 2nd try started with 5 s left; none after it
    assert deadline.expired()


def test_with_the_deadline_passed_a_fast_failure_still_gets_its_quick_retries(
        clock: Clock) -> None:
    """`--wait 0` means one attempt of each check; a single 503 must not fail it."""
    request = Script(clock, [Fast()])
    assert call(request, is_fast, is_slow, Deadline.after(0.0, clock),
                sleep=lambda s: None) == "ok"
    assert request.tries == 2
