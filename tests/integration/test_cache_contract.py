"""One contract for every Cache (in-process LRU and real Redis), and Redis failing mid-flight.

Redis comes from AISLE_TEST_REDIS_URL (.ci/run starts Debian's redis-server), else this module
starts its own `redis-server` on a free loopback port; without the binary it is skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from app.adapters.memory_cache import MemoryCache
from app.adapters.redis_cache import RedisCache
from app.ports import Cache

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run installs and starts it)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("redis-server did not start")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    url = os.environ.get("AISLE_TEST_REDIS_URL")
    if url:
        yield url
        return
    process, url = _start_redis()
    yield url
    process.terminate()
    process.wait(5)


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Cache]:
    adapter: Cache
    if request.param == "memory":
        adapter = MemoryCache()
    else:
        adapter = RedisCache(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    yield adapter
    await adapter.close()


async def test_a_stored_value_comes_back_and_an_unknown_key_is_a_miss(cache: Cache) -> None:
    await cache.set("k", b"value", ttl_s=60)
    assert await cache.get("k") == b"value"
    assert await cache.get("other") is None


async def test_values_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("k", b"value", ttl_s=0.05)
    await asyncio.sleep(0.2)
    assert await cache.get("k") is None


async def test_redis_is_shared_between_replicas(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    one, two = RedisCache(redis_url, prefix=prefix), RedisCache(redis_url, prefix=prefix)
    try:
        await one.set("k", b"from replica one", ttl_s=60)
        assert await two.get("k") == b"from replica one"
    finally:
        await one.close()
        await two.close()


async def test_redis_dying_degrades_to_the_local_cache_without_raising() -> None:
    process, url = _start_redis()
    cache = RedisCache(url, prefix="test:dying:")
    try:
        await cache.set("k", b"v", ttl_s=60)
        process.terminate()
        process.wait(5)
        start = time.perf_counter()
        assert await cache.get("k") == b"v"  # the local copy
        assert await cache.get("never-set") is None
        await cache.set("k2", b"v2", ttl_s=60)
        assert (time.perf_counter() - start) < 1.0
        assert cache.degraded
    finally:
        await cache.close()
        if process.poll() is None:
            process.kill()
