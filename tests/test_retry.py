"""The per-request retry policy (stackcheck/retry.py): with a fake clock and a fake sleep,
which failures are retried, how often, with what pauses, and never past the deadline for
the slow ones; then on the wire, the API client and the HTTP reader against a local server
answering from a script (5xx, 429, connection resets, answers later than the timeout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stackcheck.checks.model import ReadFailure
from stackcheck.kube import ApiFailure, Kube, KubeTarget, load_configuration
from stackcheck.polling import Deadline
from stackcheck.reading import StackReader
from stackcheck.retry import ATTEMPTS, BACKOFF_BASE, BACKOFF_CAP, BACKOFF_JITTER, call
from stackcheck.settings import Settings
from stackcheck.stackfile import load_stack
from tests.scripted import ScriptedServer

ROOT = Path(__file__).resolve().parent.parent


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


def test_with_the_deadline_passed_a_fast_failure_still_gets_its_quick_retries(clock: Clock) -> None:
    """`--wait 0` means one attempt of each check; a single 503 must not fail it."""
    request = Script(clock, [Fast()])
    assert call(request, is_fast, is_slow, Deadline.after(0.0, clock), sleep=lambda s: None) == "ok"
    assert request.tries == 2


# --- on the wire: the API client and the HTTP reader against a scripted server -------------
TIMEOUT = 0.3  # the client's request timeout; "slow" answers come later than that


def kube_for(server: ScriptedServer, tmp_path: Path) -> Kube:
    kubeconfig = server.kubeconfig(tmp_path)
    return Kube(load_configuration(KubeTarget(kubeconfig, None, TIMEOUT)), TIMEOUT)


def probes_for() -> StackReader:
    return StackReader(load_stack(ROOT / "stack.yml"), Settings(request_timeout=TIMEOUT), None)


@pytest.mark.parametrize(
    "script", [[503, 429, 200], [500, 200], ["reset", 200], ["reset", 502, 200]]
)
def test_the_api_client_retries_transient_failures(
    script: list[int | str], serve: Callable[[list[int | str]], ScriptedServer], tmp_path: Path
) -> None:
    server = serve(script)
    assert kube_for(server, tmp_path).version()["gitVersion"] == "v1.28.15"
    assert server.requests == len(script)


def test_the_api_client_gives_up_on_a_persistent_5xx_with_its_reason(
    serve: Callable[[list[int | str]], ScriptedServer], tmp_path: Path
) -> None:
    server = serve([503] * 10)
    with pytest.raises(ApiFailure, match=r"HTTP 503.*scripted 503") as failure:
        kube_for(server, tmp_path).version()
    assert failure.value.transient and server.requests == ATTEMPTS


def test_the_api_client_does_not_retry_a_refusal(
    serve: Callable[[list[int | str]], ScriptedServer], tmp_path: Path
) -> None:
    server = serve([403])
    with pytest.raises(ApiFailure, match="HTTP 403") as failure:
        kube_for(server, tmp_path).version()
    assert not failure.value.transient and server.requests == 1


def test_the_api_client_retries_a_timeout_only_within_the_deadline(
    serve: Callable[[list[int | str]], ScriptedServer], tmp_path: Path
) -> None:
    server = serve(["slow"] * 10)
    kube = kube_for(server, tmp_path)
    kube.deadline = Deadline.after(0.0)
    with pytest.raises(ApiFailure, match="timed out") as failure:
        kube.version()
    assert failure.value.timed_out and server.requests == 1
    kube.deadline = Deadline.after(60.0)
    with pytest.raises(ApiFailure, match="timed out"):
        kube.version()
    assert server.requests == 1 + ATTEMPTS


@pytest.mark.parametrize("script", [[503, 429, 200], [500, 200], ["reset", 200]])
def test_http_probes_retry_transient_failures(
    script: list[int | str], serve: Callable[[list[int | str]], ScriptedServer]
) -> None:
    server = serve(script)
    answer = probes_for()._http_get(server.url + "/productpage")
    assert answer.status == 200
    assert server.requests == len(script)


def test_a_persistent_http_5xx_is_the_answer_the_check_judges(
    serve: Callable[[list[int | str]], ScriptedServer],
) -> None:
    server = serve([500] * 10)
    assert probes_for()._http_get(server.url + "/").status == 500
    assert server.requests == ATTEMPTS


def test_http_probes_do_not_retry_a_definite_answer(
    serve: Callable[[list[int | str]], ScriptedServer],
) -> None:
    server = serve([404])
    assert probes_for()._http_get(server.url + "/").status == 404
    assert server.requests == 1


def test_http_probes_retry_a_timeout_only_within_the_deadline(
    serve: Callable[[list[int | str]], ScriptedServer],
) -> None:
    server = serve(["slow"] * 10)
    probes = probes_for()
    probes.deadline = Deadline.after(0.0)
    with pytest.raises(ReadFailure, match=f"timed out after {TIMEOUT:g}s"):
        probes._http_get(server.url + "/")
    assert server.requests == 1
    probes.deadline = Deadline.after(60.0)
    with pytest.raises(ReadFailure, match="timed out"):
        probes._http_get(server.url + "/")
    assert server.requests == 1 + ATTEMPTS
