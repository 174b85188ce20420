"""Failure containment for the LLM stage: a circuit breaker, a bulkhead and single-flight.

- `CircuitBreaker`: a count-based sliding window of call outcomes; at `failure_rate` over at least
  `min_calls` it opens, and requests skip the LLM at once; after `open_s` one probe is let through
  (half-open): success closes it, failure re-opens it. Only availability failures count (timeouts,
  connection errors, 429, 5xx); an answer we could not use is the model's quality, not an outage.
- `Bulkhead`: at most `limit` LLM calls in flight; the next caller is refused at once (no queue),
  so excess load falls back to the vector result instead of waiting past its deadline.
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
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._state == "open" and self._clock() - self._opened_at >= self._open_s:
            return "half_open"
        return self._state

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probe_in_flight:
            self._state = "half_open"
            self._probe_in_flight = True
            return True
        return False

    def record(self, success: bool) -> None:
        if self._state == "half_open":
            self._probe_in_flight = False
            if success:
                self._state = "closed"
                self._outcomes.clear()
            else:
                self._trip()
            return
        self._outcomes.append(success)
        failures = self._outcomes.count(False)
        if len(self._outcomes) >= self._min_calls and failures / len(self._outcomes) >= self._failure_rate:
            self._trip()

    def _trip(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._outcomes.clear()


class Bulkhead:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.in_flight >= self._limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1


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
