"""poll_until: retries on a fake monotonic clock (no real sleeping), keeps the last reason,
allows exactly one attempt with no time left, and never waits past the deadline."""

from __future__ import annotations

import time

import pytest

from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until


class FakeClock:
    """A monotonic clock that only moves when the code under test pauses."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        assert seconds > 0, "never pause for nothing"
        self.pauses.append(seconds)
        self.now += seconds


class Probe:
    """Fails with numbered reasons until call number `succeed_on` (0: never)."""

    def __init__(self, succeed_on: int = 0) -> None:
        self.calls = 0
        self.succeed_on = succeed_on

    def __call__(self) -> Attempt[str]:
        self.calls += 1
        if self.calls == self.succeed_on:
            return Attempt(True, value=f"ready on attempt {self.calls}")
        return Attempt(False, f"2/3 pods ready (attempt {self.calls})")


def test_success_on_the_third_attempt() -> None:
    clock, probe = FakeClock(), Probe(succeed_on=3)
    result = poll_until(probe, Deadline.after(60, clock), "pods ready", 5.0, clock.pause)
    assert result.ok and result.value == "ready on attempt 3"
    assert probe.calls == 3
    assert clock.pauses == [5.0, 5.0]


def test_expiry_carries_the_last_reason_and_counts() -> None:
    clock, probe = FakeClock(), Probe()
    with pytest.raises(WaitExpired) as caught:
        poll_until(probe, Deadline.after(12, clock), "pods.healthy[bookinfo]", 5.0, clock.pause)
    expired = caught.value
    assert probe.calls == 4  # at 0, 5, 10 and 12 s
    assert expired.attempts == 4 and expired.waited == pytest.approx(12.0)
    assert expired.last.reason == "2/3 pods ready (attempt 4)"
    assert str(expired) == (
        "pods.healthy[bookinfo]: not true after 12.0s (4 attempt(s)); "
        "last: 2/3 pods ready (attempt 4)"
    )


def test_the_last_pause_is_cut_to_the_deadline() -> None:
    clock = FakeClock()
    with pytest.raises(WaitExpired):
        poll_until(Probe(), Deadline.after(12, clock), "x", 5.0, clock.pause)
    assert clock.pauses == [5.0, 5.0, 2.0]
    assert clock.now == 1012.0


def test_wait_zero_is_exactly_one_attempt() -> None:
    clock, probe = FakeClock(), Probe()
    with pytest.raises(WaitExpired) as caught:
        poll_until(probe, Deadline.after(0, clock), "api.reachable", 5.0, clock.pause)
    assert probe.calls == 1 and clock.pauses == []
    assert caught.value.attempts == 1


def test_wait_zero_still_succeeds_on_its_one_attempt() -> None:
    clock, probe = FakeClock(), Probe(succeed_on=1)
    assert poll_until(probe, Deadline.after(0, clock), "x", 5.0, clock.pause).ok
    assert probe.calls == 1


def test_an_expired_deadline_still_gets_one_attempt() -> None:
    clock, probe = FakeClock(), Probe()
    deadline = Deadline.after(10, clock)
    clock.now += 30
    with pytest.raises(WaitExpired):
        poll_until(probe, deadline, "x", 5.0, clock.pause)
    assert probe.calls == 1


def test_a_wall_clock_jump_does_not_move_a_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall time jumps (NTP, suspend); a deadline on it would expire early or never."""
    deadline = Deadline.after(60)
    wall = time.time()
    monkeypatch.setattr(time, "time", lambda: wall + 3600)
    assert not deadline.expired() and deadline.remaining() > 50


def test_deadline_remaining_never_goes_negative() -> None:
    clock = FakeClock()
    deadline = Deadline.after(5, clock)
    clock.now += 7
    assert deadline.remaining() == 0.0 and deadline.expired()
