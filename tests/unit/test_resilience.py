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


def tripped(clock: Clock, open_s: float = 30.0) -> CircuitBreaker:
    """A breaker opened by two failures at time `clock.now`."""
    breaker = CircuitBreaker(window=2, min_calls=2, failure_rate=1.0, open_s=open_s, clock=clock)
    for _ in range(2):
        permit = breaker.admit()
        assert permit is not None
        permit.failure()
    assert breaker.state == "open"
    return breaker


def test_the_breaker_opens_at_the_failure_rate_short_circuits_then_half_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(window=10, min_calls=4, failure_rate=0.5, open_s=30, clock=clock)
    for success in (True, False, True):
        permit = breaker.admit()
        assert permit is not None
        permit.success() if success else permit.failure()
    assert breaker.state == "closed"
    last = breaker.admit()
    assert last is not None
    last.failure()  # 2 of 4 failed
    assert breaker.state == "open"
    assert breaker.admit() is None
    clock.now = 30.0
    assert breaker.state == "half_open"
    probe = breaker.admit()
    assert probe is not None
    assert probe.probe
    assert breaker.admit() is None  # nobody else while it runs
    probe.success()
    assert breaker.state == "closed"
    assert breaker.admit() is not None


def test_a_failed_probe_reopens_the_breaker() -> None:
    clock = Clock()
    breaker = tripped(clock, open_s=5)
    clock.now = 5.0
    probe = breaker.admit()
    assert probe is not None
    probe.failure()
    assert breaker.state == "open"
    clock.now = 9.0
    assert breaker.admit() is None
    clock.now = 10.0
    assert breaker.admit() is not None


def test_a_probe_that_never_made_its_call_hands_the_probe_to_the_next_caller() -> None:
    clock = Clock()
    breaker = tripped(clock)
    clock.now = 30.0
    for _ in range(3):  # refused by the bulkhead, cut by a deadline, cancelled: each one released
        probe = breaker.admit()
        assert probe is not None
        assert probe.probe
        probe.release()
        assert breaker.state == "half_open"
    clock.now = 30.0 + 600 * 60  # 600 minutes later the upstream is healthy
    probe = breaker.admit()
    assert probe is not None
    probe.success()
    assert breaker.state == "closed"


def test_a_permit_is_resolved_once_and_released_on_any_exit() -> None:
    clock = Clock()
    breaker = tripped(clock)
    clock.now = 30.0
    with pytest.raises(asyncio.CancelledError), breaker.admit() as probe:  # type: ignore[union-attr]
        raise asyncio.CancelledError  # a cancellation before the call
    assert probe.outcome == "unused"
    probe.failure()  # too late: the first resolution wins
    assert breaker.state == "half_open"
    again = breaker.admit()
    assert again is not None
    again.success()
    again.failure()
    assert (again.outcome, breaker.state) == ("success", "closed")


def test_a_call_admitted_before_the_breaker_opened_does_not_decide_the_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(window=2, min_calls=2, failure_rate=1.0, open_s=30, clock=clock)
    slow = breaker.admit()  # admitted while closed; its answer comes much later
    assert slow is not None
    for _ in range(2):
        breaker.admit().failure()  # type: ignore[union-attr]
    clock.now = 30.0
    probe = breaker.admit()
    assert probe is not None
    slow.success()  # the old call's outcome says nothing about now
    assert breaker.state == "half_open"
    assert breaker.admit() is None  # the probe is still the probe
    probe.failure()
    assert breaker.state == "open"


def test_the_bulkhead_refuses_instead_of_queueing_and_a_slot_is_given_back_once() -> None:
    bulkhead = Bulkhead(2)
    first, second = bulkhead.acquire(), bulkhead.acquire()
    assert first is not None
    assert second is not None
    assert bulkhead.acquire() is None
    first.release()
    first.release()  # a second release gives nothing back twice
    assert bulkhead.in_flight == 1
    with bulkhead.acquire():  # type: ignore[union-attr]
        assert bulkhead.in_flight == 2
    assert bulkhead.in_flight == 1


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
