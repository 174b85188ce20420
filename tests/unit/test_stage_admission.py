"""Every call the breaker admits reports back (issue #13, item 6): through the LLM stage, with the
breaker on an injected clock. The probe a full bulkhead refuses, a probe cut by the deadline while
in flight, a probe shared by single-flight followers: none leaves the breaker half-open for good,
and none keeps a bulkhead slot."""

from __future__ import annotations

import asyncio
import json

from app.adapters.memory_cache import MemoryCache
from app.domain.errors import LLMUngrounded
from app.domain.models import Product, ScoredProduct
from app.llm.resilience import Bulkhead, CircuitBreaker
from app.llm.stage import LLMStage
from app.llm.task import Task
from app.search.rerank import Reranked, rerank_and_explain
from tests.fakes import ScriptedLLM, make_stage

ITEMS = [
    ScoredProduct(Product(id=f"p{i}", title=f"speaker {i}", price=10.0 + i), 1 - i / 100, f"h{i}")
    for i in range(8)
]
ANSWER = json.dumps({"ranking": ["p3"]})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tripped(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker(window=2, min_calls=2, failure_rate=1.0, open_s=30, clock=clock)
    for _ in range(2):
        breaker.admit().failure()  # type: ignore[union-attr]
    return breaker


async def rank(s: LLMStage, query: str = "speaker") -> Reranked:
    return await rerank_and_explain(s, query, ITEMS, rerank="llm", explain=False, limit=5)


async def settled(bulkhead: Bulkhead) -> None:
    """Let the shared call's own task finish unwinding: a caller's deadline and its flight's fire
    together, and the caller may resume first. Loop turns, not time."""
    for _ in range(100):
        if bulkhead.in_flight == 0:
            return
        await asyncio.sleep(0)


def outcome(out: Reranked) -> str:
    assert out.usage is not None
    return out.usage.fallback or out.ranking


async def test_a_probe_the_bulkhead_refuses_is_released_and_the_breaker_closes_later() -> None:
    clock, hold = Clock(), asyncio.Event()
    breaker = CircuitBreaker(window=2, min_calls=2, failure_rate=1.0, open_s=30, clock=clock)
    llm = ScriptedLLM(ANSWER, hold=hold)
    bulkhead = Bulkhead(1)
    s = make_stage(llm, candidates=8, deadline_s=1.0, breaker=breaker, bulkhead=bulkhead)
    slow = asyncio.create_task(rank(s, "a slow one"))  # admitted while closed, holds the only slot
    await llm.started.wait()
    for _ in range(2):
        breaker.admit().failure()  # type: ignore[union-attr]  # other calls fail: the breaker opens
    clock.now = 30.0  # past the open interval (the slow call's deadline is longer, in effect)
    assert outcome(await rank(s, "one")) == "overloaded"  # the probe, refused by the bulkhead
    assert outcome(await rank(s, "two")) == "overloaded"  # ... released: the next call is the probe
    assert outcome(await slow) == "timeout"  # the slow call is cut at its deadline, slot given back
    await settled(bulkhead)
    assert bulkhead.in_flight == 0
    assert breaker.state == "half_open"  # its outcome is from before the breaker opened
    hold.set()  # the upstream is healthy again
    clock.now = 30.0 + 600 * 60
    assert outcome(await rank(s, "three")) == "llm"
    assert breaker.state == "closed"


async def test_a_probe_cut_by_the_deadline_in_flight_reopens_the_breaker_and_frees_its_slot() -> None:
    clock, hold = Clock(), asyncio.Event()
    breaker = tripped(clock)
    clock.now = 30.0
    llm = ScriptedLLM(ANSWER, hold=hold)  # an upstream that never answers (until released)
    bulkhead = Bulkhead(4)
    s = make_stage(llm, candidates=8, deadline_s=0.2, breaker=breaker, bulkhead=bulkhead)
    assert outcome(await rank(s)) == "timeout"
    await settled(bulkhead)
    assert (breaker.state, bulkhead.in_flight, llm.calls) == ("open", 0, 1)  # a failed probe
    clock.now = 60.0
    hold.set()
    assert outcome(await rank(s, "speaker again")) == "llm"
    assert breaker.state == "closed"


async def test_single_flight_followers_share_one_probe() -> None:
    clock, hold = Clock(), asyncio.Event()
    breaker = tripped(clock)
    clock.now = 30.0
    llm = ScriptedLLM(ANSWER, hold=hold)
    bulkhead = Bulkhead(4)
    s = make_stage(llm, candidates=8, breaker=breaker, bulkhead=bulkhead)
    requests = asyncio.gather(*(rank(s) for _ in range(5)))  # identical: one upstream call
    await llm.started.wait()
    assert (bulkhead.in_flight, breaker.admit()) == (1, None)  # one probe, and it is under way
    hold.set()
    assert [outcome(o) for o in await requests] == ["llm"] * 5
    assert (llm.calls, breaker.state, bulkhead.in_flight) == (1, "closed", 0)


async def test_followers_of_a_probe_cut_by_the_deadline_all_fall_back_and_it_is_resolved() -> None:
    clock = Clock()
    breaker = tripped(clock)
    clock.now = 30.0
    llm = ScriptedLLM(ANSWER, hold=asyncio.Event())  # never answers
    bulkhead = Bulkhead(4)
    s = make_stage(llm, candidates=8, deadline_s=0.2, breaker=breaker, bulkhead=bulkhead)
    outs = await asyncio.gather(*(rank(s) for _ in range(5)))
    assert [outcome(o) for o in outs] == ["timeout"] * 5
    await settled(bulkhead)
    assert (llm.calls, breaker.state, bulkhead.in_flight) == (1, "open", 0)


class CountingCache(MemoryCache):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.writes += 1
        await super().set(key, value, ttl_s)


async def test_a_shared_answer_is_cached_once_by_its_flight() -> None:
    hold, cache = asyncio.Event(), CountingCache()
    llm = ScriptedLLM(ANSWER, hold=hold)
    s = make_stage(llm, candidates=8, cache=cache)
    requests = asyncio.gather(*(rank(s) for _ in range(10)))
    await llm.started.wait()
    hold.set()
    await requests
    assert (llm.calls, cache.writes) == (1, 1)


async def test_an_ungrounded_answer_is_not_re_asked() -> None:
    llm = ScriptedLLM('{"slots": ["bags"]}')

    def parse(_text: str) -> list[str]:
        raise LLMUngrounded("ungrounded_reason", "link", "a link")

    task = Task("slots", {"anchor": "a", "categories": '["bags"]', "count": "1"}, parse, ("k",))
    answer = await make_stage(llm).run(task)
    assert (answer.fallback, answer.usage.ungrounded, llm.calls) == ("ungrounded_reason", ("link",), 1)


async def test_an_answer_quoting_its_instructions_is_a_prompt_echo() -> None:
    s = make_stage(None)
    system = s.prompt("explain").system.template
    llm = ScriptedLLM(json.dumps({"reasons": [{"id": "p0", "reason": "Sure: " + system[:120]}]}))
    out = await rerank_and_explain(
        make_stage(llm, candidates=8), "speaker", ITEMS, rerank="none", explain=True, limit=5
    )
    assert out.usage is not None
    assert (out.usage.fallback, out.usage.ungrounded, out.reasons, llm.calls) == (
        "prompt_echo",
        ("prompt",),
        {},
        1,
    )
