"""`RateLimiter` on Redis: one token bucket per key shared by every replica (REDIS_URL).

The read-refill-take-write runs as one Lua script, so it is atomic across replicas, and it uses
Redis's own clock (TIME), so replicas' clocks never disagree. Buckets expire once they would be
full again. Redis failing never fails a request: the limiter falls back to an in-process bucket
for that call (logged once per outage), as the cache does.
"""

from __future__ import annotations

import contextlib
import math

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.adapters.memory_rate_limiter import MemoryRateLimiter
from app.domain.control_plane import RateLimit

log = structlog.get_logger("aisle.ratelimit")

# KEYS[1] bucket; ARGV: per_second, burst, cost. Returns {allowed (0/1), wait seconds as a string}
# (Lua numbers come back from Redis as integers, so the fractional wait travels as text).
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
end
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisRateLimiter:
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "aisle:ratelimit:",
        timeout_s: float = 0.1,
        fallback: MemoryRateLimiter | None = None,
    ) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._script = self._redis.register_script(TOKEN_BUCKET)
        self._prefix = prefix
        self._local = fallback or MemoryRateLimiter()
        self.degraded = False

    async def acquire(self, bucket: str, limit: RateLimit) -> float | None:
        try:
            allowed, wait = await self._script(
                keys=[self._prefix + bucket], args=[repr(limit.per_second), limit.burst, 1]
            )
        except (RedisError, OSError) as e:
            if not self.degraded:
                log.warning("redis_degraded", op="rate_limit", error=str(e))
            self.degraded = True
            return self._local.acquire_now(bucket, limit)
        self.degraded = False
        if int(allowed) == 1:
            return None
        seconds = float(wait.decode() if isinstance(wait, bytes) else wait)
        return seconds if math.isfinite(seconds) else 1.0

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()
