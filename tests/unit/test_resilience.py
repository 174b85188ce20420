from __future__ import annotations

import asyncio

import pytest

from app.adapters.memory_cache import MemoryCache
from app.llm.resilience import Bulkhead, CircuitBreaker, SingleFlight


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_at_the_failure_rate_short_circuits_then_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(window=10, min_calls=4, failure_rate=0.5, open_s=30, clock=clock)
    for success in (True, False, True):
        breaker.record(success)
    assert breaker.state == "closed"
    breaker.record(False)  # 2 of 4 failed
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now = 30.0
    assert breaker.state == "half_open"
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # nobody else while it runs
    breaker.record(True)
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_failed_probe_reopens_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(window=4, min_calls=2, failure_rate=1.0, open_s=5, clock=clock)
    breaker.record(False)
    breaker.record(False)
    clock.now = 5.0
    assert breaker.allow()
    breaker.record(False)
    assert breaker.state == "open"
    clock.now = 9.0
    assert not breaker.allow()


def test_the_bulkhead_refuses_instead_of_queueing() -> None:
    bulkhead = Bulkhead(2)
    assert bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    assert not bulkhead.try_acquire()
    bulkhead.release()
    assert bulkhead.try_acquire()


async def test_single_flight_shares_one_call_among_concurrent_callers() -> None:
    flights = SingleFlight()
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "answer"

    results = await asyncio.gather(*(flights.do("k", slow) for _ in range(20)))
    assert calls == 1
    assert {r for r, _ in results} == {"answer"}
    assert sum(shared for _, shared in results) == 19


async def test_single_flight_gives_every_waiter_the_leaders_error() -> None:
    flights = SingleFlight()

    async def boom() -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("upstream down")

    results = await asyncio.gather(*(flights.do("k", boom) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_the_memory_cache_expires_entries_and_evicts_the_least_recently_used() -> None:
    clock = Clock()
    cache = MemoryCache(max_entries=2, clock=clock)
    await cache.set("a", b"1", ttl_s=10)
    await cache.set("b", b"2", ttl_s=10)
    assert await cache.get("a") == b"1"  # a is now the most recent
    await cache.set("c", b"3", ttl_s=10)
    assert await cache.get("b") is None
    clock.now = 11.0
    assert await cache.get("a") is None


@pytest.mark.parametrize("ttl", [0.0001])
async def test_an_expired_entry_is_a_miss(ttl: float) -> None:
    cache = MemoryCache()
    await cache.set("k", b"v", ttl_s=ttl)
    await asyncio.sleep(0.01)
    assert await cache.get("k") is None
