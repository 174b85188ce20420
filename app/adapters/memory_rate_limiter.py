"""`RateLimiter` in process memory: each replica keeps its own buckets (so N replicas allow N
times the rate); with REDIS_URL set the Redis limiter shares them. Bounded: the least recently
used buckets are dropped past `max_buckets` (a dropped bucket comes back full)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from app.auth.rate_limit import Bucket, take
from app.domain.control_plane import RateLimit


class MemoryRateLimiter:
    backend = "memory"

    def __init__(self, *, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._max = max_buckets
        self._clock = clock

    def acquire_now(self, bucket: str, limit: RateLimit) -> float | None:
        """Synchronous: no awaits between read and write, so concurrent requests cannot race."""
        state, wait = take(self._buckets.get(bucket), limit, self._clock())
        self._buckets[bucket] = state
        self._buckets.move_to_end(bucket)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait

    async def acquire(self, bucket: str, limit: RateLimit) -> float | None:
        return self.acquire_now(bucket, limit)

    async def close(self) -> None:
        pass
