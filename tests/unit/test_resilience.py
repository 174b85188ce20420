from __future__ import annotations

import asyncio

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
    started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def held() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return "answer"

    waiting = asyncio.gather(*(flights.do("k", held) for _ in range(20)))
    await started.wait()  # the leader's call runs, and cannot finish until released
    release.set()
    results = await waiting
    assert calls == 1
    assert {r for r, _ in results} == {"answer"}
    assert sum(shared for _, shared in results) == 19


async def test_single_flight_gives_every_waiter_the_leaders_error() -> None:
    flights = SingleFlight()
    started, release = asyncio.Event(), asyncio.Event()
    calls = 0

    async def boom() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        raise RuntimeError("upstream down")

    waiting = asyncio.gather(*(flights.do("k", boom) for _ in range(3)), return_exceptions=True)
    await started.wait()
    release.set()
    results = await waiting
    assert calls == 1
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


async def test_an_entry_is_a_hit_until_its_ttl_and_a_miss_from_then_on() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    await cache.set("k", b"v", ttl_s=5)
    clock.now = 4.999
    assert await cache.get("k") == b"v"
    clock.now = 5.0
    assert await cache.get("k") is None
