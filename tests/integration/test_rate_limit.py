"""Rate limiters: one contract for the in-process and the Redis token bucket, Redis failing, and
two real `aisle serve` processes sharing one real Redis: the limit is one bucket across them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from app.adapters.memory_rate_limiter import MemoryRateLimiter
from app.adapters.redis_rate_limiter import RedisRateLimiter
from app.domain.control_plane import RateLimit
from app.ports import RateLimiter
from tests.integration.test_cache_contract import _free_port, redis_url  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ADMIN = "shared-limit-admin-secret-0123456789abcdef"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RateLimiter]:  # noqa: F811
    adapter: RateLimiter = (
        MemoryRateLimiter()
        if request.param == "memory"
        else RedisRateLimiter(redis_url, prefix=f"test:{uuid.uuid4().hex}:")
    )
    yield adapter
    await adapter.close()


async def test_a_burst_then_a_wait_then_a_refill(limiter: RateLimiter) -> None:
    limit = RateLimit(per_second=20.0, burst=3)
    results = [await limiter.acquire("k", limit) for _ in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None
    assert 0 < results[3] <= 0.05 + 0.01
    assert await limiter.acquire("other", limit) is None  # buckets are per name
    time.sleep(0.1)  # noqa: ASYNC251 - the bucket refills in wall-clock time, on either clock
    assert await limiter.acquire("k", limit) is None


async def test_a_slow_bucket_says_how_long_to_wait(limiter: RateLimiter) -> None:
    limit = RateLimit(per_second=0.01, burst=1)
    assert await limiter.acquire("slow", limit) is None
    wait = await limiter.acquire("slow", limit)
    assert wait is not None
    assert 99 < wait <= 100


async def test_redis_down_degrades_to_a_local_bucket_never_an_error() -> None:
    dead = RedisRateLimiter(f"redis://127.0.0.1:{_free_port()}/0", timeout_s=0.05)
    limit = RateLimit(per_second=0.01, burst=2)
    assert [await dead.acquire("k", limit) for _ in range(3)][:2] == [None, None]
    assert dead.degraded
    assert await dead.acquire("k", limit) is not None
    await dead.close()


def _serve(data_dir: Path, port: int, url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AISLE_DATA_DIR": str(data_dir),
        "QDRANT_URL": ":memory:",
        "PORT": str(port),
        "AISLE_ADMIN_KEY": ADMIN,
        "REDIS_URL": url,
        "AISLE_RATE_LIMIT_RPS": "0.001",
        "AISLE_RATE_LIMIT_BURST": "6",
        "AISLE_LOG_LEVEL": "warning",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("AISLE_AUTH", None)  # the production default: on
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def two_servers(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, str]]:  # noqa: F811
    bucket = "aisle:ratelimit:key:bootstrap"
    redis.Redis.from_url(redis_url).delete(bucket)
    ports = [_free_port(), _free_port()]
    servers = [_serve(tmp_path / f"replica{n}", port, redis_url) for n, port in enumerate(ports)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 180
        for url, server in zip(urls, servers, strict=True):
            while True:
                if server.poll() is not None:
                    pytest.fail(
                        f"aisle serve exited: {server.stderr.read().decode()[-2000:] if server.stderr else ''}"
                    )
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "servers did not become ready"
                time.sleep(0.5)
        yield urls[0], urls[1]
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        redis.Redis.from_url(redis_url).delete(bucket)


def test_two_replicas_share_one_bucket_through_redis(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    headers = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.get(f"{a}/v1/catalogs", timeout=10).status_code == 401  # auth is on by default
    first = [httpx.get(f"{a}/v1/catalogs", headers=headers, timeout=10).status_code for _ in range(3)]
    second = [httpx.get(f"{b}/v1/catalogs", headers=headers, timeout=10).status_code for _ in range(3)]
    assert first + second == [200] * 6  # the burst of 6, spent half on each replica
    # b alone has served only 3 of its own 6: a 429 here means the bucket is shared
    limited = httpx.get(f"{b}/v1/catalogs", headers=headers, timeout=10)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 900  # 0.001 tokens/s: ~1000 s for the next one
    assert limited.json()["error"] == "rate_limited"
    assert httpx.get(f"{a}/v1/catalogs", headers=headers, timeout=10).status_code == 429
