"""`RedisCache`: the cache shared by several replicas (`REDIS_URL`).

Redis failing must never fail a request: every Redis error degrades to the in-process cache for
that call (a miss, or the local copy), with short socket timeouts so a dead Redis costs
milliseconds of the request's deadline, not seconds.
"""

from __future__ import annotations

import contextlib

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.adapters.memory_cache import MemoryCache

log = structlog.get_logger("aisle.cache")


class RedisCache:
    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "aisle:llm:",
        timeout_s: float = 0.1,
        fallback: MemoryCache | None = None,
    ) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._prefix = prefix
        self._local = fallback or MemoryCache()
        self.degraded = False

    def _failed(self, op: str, e: Exception) -> None:
        if not self.degraded:
            log.warning("redis_degraded", op=op, error=str(e))
        self.degraded = True

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as e:
            self._failed("get", e)
            return await self._local.get(key)
        self.degraded = False
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._local.set(key, value, ttl_s)
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as e:
            self._failed("set", e)

    async def close(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.aclose()
