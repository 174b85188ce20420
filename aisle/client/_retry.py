"""When to try a call again: the pure policy both clients follow.

Only where a retry cannot do a thing twice: a call that is idempotent or read-only (`retry_safe`),
on a timeout, a dropped connection, a 502/503/504; any call when nothing was sent (the connection
was refused) or the server refused it before doing anything (429). Retry-After is honoured; with
none, exponential backoff with full jitter. Never past the call's total deadline: a wait that
would end after it raises the error now.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from aisle.client.errors import AisleError, ConnectFailed, NetworkError, RateLimited, Unavailable


@dataclass(frozen=True, slots=True)
class Retries:
    max_retries: int = 2
    backoff_s: float = 0.25  # the first wait's upper bound, doubled per retry
    max_backoff_s: float = 8.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, error: AisleError, *, retry_safe: bool, remaining_s: float) -> float | None:
        """Seconds to wait before trying again after failed attempt `attempt` (1-based), or None:
        give up and raise `error`."""
        if attempt > self.max_retries or not retryable(error, retry_safe=retry_safe):
            return None
        if error.retry_after is not None:
            wait = error.retry_after
        else:
            wait = self.jitter() * min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return wait if wait < remaining_s else None


def retryable(error: AisleError, *, retry_safe: bool) -> bool:
    if isinstance(error, ConnectFailed | RateLimited):  # nothing was done: safe for any call
        return True
    return retry_safe and isinstance(error, NetworkError | Unavailable)
