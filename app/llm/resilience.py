"""Failure containment for the LLM stage: a circuit breaker, a bulkhead and single-flight.

- `CircuitBreaker`: a count-based sliding window of call outcomes; at `failure_rate` over at least
  `min_calls` it opens, and requests skip the LLM at once; after `open_s` one probe is let through
  (half-open): success closes it, failure re-opens it, a probe that never made its call (refused
  by the bulkhead, cancelled first) hands the probe to the next caller. Admission is a `Permit`
  resolved exactly once, so every admitted call reports back. Only availability failures count
  (timeouts, connection errors, 429, 5xx); an answer we could not use is the model's quality.
- `Bulkhead`: at most `limit` LLM calls in flight; the next caller is refused at once (no queue),
  so excess load falls back to the vector result instead of waiting past its deadline. A `Slot`
  is given back exactly once.
- `SingleFlight`: identical concurrent requests share one upstream call.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]


Outcome = Literal["success", "failure", "unused"]


class Permit:
    """One call the breaker let through. It must be resolved exactly once: `success()`,
    `failure()`, or `release()` when the call never happened (the bulkhead refused it, the
    deadline or a cancel scope cut it before it started). The first resolution wins; used as a
    context manager, an unresolved permit is released on exit, so no path (an exception, a
    cancellation) can leave the breaker waiting for an outcome: the half-open breaker that let a
    probe through and never heard back stayed half-open for good."""

    __slots__ = ("_breaker", "_generation", "outcome", "probe")

    def __init__(self, breaker: CircuitBreaker, generation: int, *, probe: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self.probe = probe
        self.outcome: Outcome | None = None

    def success(self) -> None:
        self._resolve("success")

    def failure(self) -> None:
        self._resolve("failure")

    def release(self) -> None:
        self._resolve("unused")

    def _resolve(self, outcome: Outcome) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self._breaker._resolved(self, self._generation, outcome)

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()  # a no-op when the body resolved it


class CircuitBreaker:
    def __init__(
        self,
        *,
        window: int = 20,
        min_calls: int = 10,
        failure_rate: float = 0.5,
        open_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._min_calls = min_calls
        self._failure_rate = failure_rate
        self._open_s = open_s
        self._clock = clock
        self._state: BreakerState = "closed"
        self._opened_at = 0.0
        self._probe: Permit | None = None
        # Bumped at every change of state: a permit from an earlier state (a call admitted while
        # closed that ends after the breaker opened) says nothing about the current one.
        self._generation = 0

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self._open_s:
            return "half_open"
        return self._state

    def admit(self) -> Permit | None:
        """A permit for one call, or None when the breaker is open (or half-open with its probe
        under way)."""
        state = self.state
        if state == "closed":
            return Permit(self, self._generation, probe=False)
        if state == "half_open" and self._probe is None:
            if self._state != "half_open":
                self._state = "half_open"
                self._generation += 1
            self._probe = Permit(self, self._generation, probe=True)
            return self._probe
        return None

    def _resolved(self, permit: Permit, generation: int, outcome: Outcome) -> None:
        if permit is self._probe:
            self._probe = None
            if outcome == "success":
                self._close()
            elif outcome == "failure":
                self._trip()
            return  # unused: still half-open, and the next call is the probe
        if generation != self._generation or self._state != "closed" or outcome == "unused":
            return
        self._outcomes.append(outcome == "success")
        failures = self._outcomes.count(False)
        if len(self._outcomes) >= self._min_calls and failures / len(self._outcomes) >= self._failure_rate:
            self._trip()

    def _trip(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._outcomes.clear()
        self._generation += 1

    def _close(self) -> None:
        self._state = "closed"
        self._outcomes.clear()
        self._generation += 1


class Slot:
    """One place in a bulkhead, given back exactly once (`release`, or leaving the `with`)."""

    __slots__ = ("_bulkhead", "_held")

    def __init__(self, bulkhead: Bulkhead) -> None:
        self._bulkhead = bulkhead
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._bulkhead.in_flight -= 1

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class Bulkhead:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.in_flight = 0

    def acquire(self) -> Slot | None:
        """A slot, or None at once when `limit` calls are in flight (no queue)."""
        if self.in_flight >= self._limit:
            return None
        self.in_flight += 1
        return Slot(self)


class SingleFlight:
    """Per key, one running task; everyone asking meanwhile awaits it. The task keeps running if a
    waiter leaves (its own deadline bounds it), so one caller's timeout does not fail the others."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[object]] = {}

    async def do(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """(result, shared): `shared` is True for callers that joined someone else's call."""
        task = self._running.get(key)
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(fn())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
            # Retrieve the outcome even if every waiter left, so no "exception never retrieved".
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        result = await asyncio.shield(task)
        return result, shared  # type: ignore[return-value]
