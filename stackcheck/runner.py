"""Run checks: resolve each check's declared reads through the reader, evaluate, and retry
until the result is not failed or the run's deadline passes.

Reads are shared between checks within an attempt (one list per namespace and kind, one GET
per endpoint and Prometheus path) and dropped before a retry, so every attempt sees fresh
state. As soon as the API first answers, every read the run's checks declare is started at
once on a small thread pool (wider when the API's first answer was slow), so independent
reads overlap instead of queueing behind each other; a check asking for a read in flight
waits for it instead of repeating it. The number of API requests of a run thus depends on
namespaces and endpoints, not on pods (lists are paginated, so only their page count grows
with the pods).

Between attempts the runner waits on watches of what the check reads (its namespaces' pods
and workload kinds), so a change is seen at once; else it sleeps.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from stackcheck.checks.model import Check, Evidence, Read, Reader, ReadFailure, Result, Status
from stackcheck.diagnostics import pod_evidence
from stackcheck.polling import Attempt, Deadline, WaitExpired, poll_until

RETRY_INTERVAL = 1.0
# Reads in flight at once. Far from the API, overlap hides round trips: a stock run's ~24
# reads after the API answers go in two waves of 16 (with 8, three: a round trip more at
# every API latency; bench row (e)). Near, more threads and TLS connections only cost CPU:
# on 2 cores a stock run took ~30 ms longer with 16 than with 4 (bench row (a)). The first
# API answer's time, TLS handshake included, tells which; until then reads go wide, as the
# first checks' reads can be asked before a far API answers.
NEAR_READS = 4
FAR_READS = 16
FAR_FIRST_ANSWER_SECONDS = 0.025
WATCHED_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "CronJob"})


class Source(Reader, Protocol):
    """A Reader the runner can also wait on and ask where a read goes."""

    def needs_api(self, read: Read) -> bool: ...
    def read_through(self, cached: Callable[[Read], Any]) -> None: ...
    def wait_for_change(self, collections: Sequence[tuple[str, str]], seconds: float) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    check: Check
    result: Result
    attempts: int
    seconds: float
    evidence: tuple[Evidence, ...] = ()  # attached: empty when the check passed

    @property
    def status(self) -> Status:
        return self.result.status

    def message(self) -> str:
        """Claim, status, what was wrong (objects named), when, and the hint."""
        result = self.result
        lines = [
            f"{self.check.id}: {self.check.claim}: {self.status.value.upper()} after "
            f"{self.seconds:.1f}s ({self.attempts} attempt(s)): {result.summary}"
        ]
        lines += [f"  - {reason}" for reason in result.failures]
        lines += [f"  - warning: {reason}" for reason in result.warnings]
        lines.append(f"hint: {self.check.hint}")
        return "\n".join(lines)


def watched(check: Check) -> list[tuple[str, str]]:
    """The (kind, namespace) collections a check reads that a watch can follow."""
    found = []
    for read in check.reads:
        if read.kind == "pods":
            found.append(("Pod", read.args[0]))
        elif read.kind == "objects" and read.args[0] in WATCHED_KINDS:
            found.append((read.args[0], read.args[1]))
    return list(dict.fromkeys(found))


def _distinct_reads(checks: Sequence[Check], extra: Sequence[Read]) -> list[Read]:
    """The checks' reads and then the extra ones, in order, each once."""
    return list(dict.fromkeys([r for c in checks for r in c.reads] + list(extra)))


class Runner:
    """Runs checks against one reader; thread-safe (xdist runs one per process)."""

    def __init__(
        self, reader: Source, checks: Sequence[Check], extra_reads: Sequence[Read] = ()
    ) -> None:
        self.reader = reader
        # every read to start once the API answers (the report may want a few more)
        self._extra = list(extra_reads)
        self._declared = _distinct_reads(checks, self._extra)
        self._cache: dict[Read, Future[Any]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by forget(): prefetches of older ones are dropped
        self._prefetched = False
        self._pool: ThreadPoolExecutor | None = None
        self._width = FAR_READS
        reader.read_through(self.read)  # the nodes behind an endpoint's address: cached too

    def close(self) -> None:
        """Connections and threads end; the reads are left to the process's end, which
        follows (pytest's): freeing a 10,000-pod list object by object cost ~40 ms, for
        memory the OS takes back at once."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.reader.close()

    def needs_api(self, check: Check) -> bool:
        return any(self.reader.needs_api(read) for read in check.reads)

    def run(
        self,
        check: Check,
        deadline: Deadline,
        pause: Callable[[float], None] | None = None,
        interval: float = RETRY_INTERVAL,
    ) -> Outcome:
        """`pause` defaults to watching what the check reads (where the API allows it)."""
        collections = watched(check)
        if pause is None:
            pause = lambda seconds: self.reader.wait_for_change(collections, seconds)  # noqa: E731
        started = time.monotonic()
        attempts = 0

        def attempt() -> Attempt[Result]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                self.forget()
            result = self.evaluate(check)
            done = result.status is not Status.FAILED or not result.retry
            return Attempt(done, "; ".join(result.reasons), result)

        try:
            result = poll_until(attempt, deadline, check.id, interval, pause).value
        except WaitExpired as expired:
            result = expired.last.value  # type: ignore[assignment]
        assert result is not None
        evidence = tuple(item for item in result.evidence if item.on_pass)
        if result.status is not Status.PASSED:
            evidence = result.evidence + tuple(
                pod_evidence(self.reader, namespace, name)
                for namespace, name in result.describe_pods
            )
        return Outcome(check, result, attempts, time.monotonic() - started, evidence)

    def evaluate(self, check: Check) -> Result:
        """One attempt: the check's reads (concurrently), then its evaluation. A read that
        fails is the attempt's failure, retried unless it cannot change (401, 403)."""
        self._start(check.reads)
        try:
            readings = {read: self.read(read) for read in check.reads}
        except ReadFailure as exc:
            return Result(exc.reason, failures=(exc.reason,), retry=exc.transient)
        return check.evaluate(readings)

    def forget(self) -> None:
        """Drop every cached read: the next attempt sees the stack as it is now."""
        with self._lock:
            self._cache.clear()
            self._generation += 1

    def read(self, read: Read) -> Any:
        """One read per attempt; concurrent askers wait for the one in flight. A failed
        read is not kept: the failure goes to those waiting, the next asker reads again.
        Every read is bounded by the request timeout (and its retries)."""
        with self._lock:
            future = self._cache.get(read)
            mine = future is None
            if future is None:
                future = self._cache[read] = Future()
        if mine:
            started = time.monotonic()
            try:
                value = getattr(self.reader, read.kind)(*read.args)
            except BaseException as exc:
                with self._lock:
                    if self._cache.get(read) is future:
                        del self._cache[read]
                future.set_exception(exc)
            else:
                future.set_result(value)
                if not self._prefetched and self.reader.needs_api(read):
                    self._prefetch(time.monotonic() - started)
        return future.result()

    def warm_up(self, checks: Sequence[Check]) -> None:
        """Start reading for the checks about to run, in their order, in the background: the
        fatal check's reads (give it first) now, the rest when the API first answers (see
        the module's doc); only theirs and the extra reads. Called once the tests are
        chosen, the reads overlap what pytest does until the first check asks: a stock run's
        first checks spent ~80 ms waiting (bench/ row (a))."""
        with self._lock:
            self._declared = _distinct_reads(checks, self._extra)
        gate = [r for c in checks if c.fatal for r in c.reads]
        self._start(gate or self._declared, background=True)

    def _prefetch(self, first_answer: float) -> None:
        """The API answers: start every declared read (see the module's doc), fewer at once
        when that first answer came quickly."""
        wide = None
        with self._lock:
            if self._prefetched:
                return
            self._prefetched = True
            if first_answer < FAR_FIRST_ANSWER_SECONDS:  # once: the pool is wide until now
                wide, self._pool, self._width = self._pool, None, NEAR_READS
        if wide is not None:
            wide.shutdown(wait=False)  # the reads it was given finish
        self._start(self._declared)

    def _start(self, reads: Sequence[Read], background: bool = False) -> None:
        """Start the reads not cached yet on the pool; a read nobody started by the time
        it is asked for is read by the asker (unless started in the `background`)."""
        with self._lock:
            missing = [r for r in reads if r not in self._cache]
            if len(missing) <= 1 and reads is not self._declared and not background:
                return  # the asker reads it itself
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._width, thread_name_prefix="stackcheck-read")
            for read in missing:  # under the lock: _prefetch may swap the pool meanwhile
                self._pool.submit(self._warm, read, self._generation)

    def _warm(self, read: Read, generation: int) -> None:
        if generation != self._generation:
            return  # forgotten meanwhile: the next attempt reads for itself
        with contextlib.suppress(Exception):  # the check needing this read reports it
            self.read(read)
