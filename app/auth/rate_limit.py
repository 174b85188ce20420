"""The token bucket, pure: `burst` tokens, refilled at `per_second`, one taken per request.
The in-process limiter (app/adapters/memory_rate_limiter.py) runs this function; the Redis one
runs the same arithmetic in a Lua script (app/adapters/redis_rate_limiter.py)."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.control_plane import RateLimit


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_s: float


def take(
    bucket: Bucket | None, limit: RateLimit, now_s: float, cost: float = 1.0
) -> tuple[Bucket, float | None]:
    """The bucket after this request, and None if it was allowed, else the seconds to wait."""
    if bucket is None:
        tokens = float(limit.burst)
    else:
        elapsed = max(0.0, now_s - bucket.updated_s)
        tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.per_second)
    if tokens >= cost:
        return Bucket(tokens - cost, now_s), None
    return Bucket(tokens, now_s), (cost - tokens) / limit.per_second
