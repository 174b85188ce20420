"""The LLM stage on fakes: what it asks, what it caches, and every way it falls back; driven through
the search's re-rank/explain step (two tasks) and a free-form task."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.adapters.memory_cache import MemoryCache
from app.domain.errors import LLMInvalidOutput, LLMRateLimited, LLMServerError, LLMTimeout
from app.domain.models import Product, ScoredProduct
from app.llm.gate import EvalGate
from app.llm.prompts import load_prompts
from app.llm.resilience import Bulkhead, CircuitBreaker
from app.llm.stage import LLMStage, LLMStageSettings
from app.llm.task import Task
from app.search.rerank import rerank_and_explain
from app.settings import PROMPTS_DIR
from tests.fakes import ScriptedLLM

PROMPTS = load_prompts(PROMPTS_DIR)
ITEMS = [
    ScoredProduct(Product(id=f"p{i}", title=f"speaker {i}", price=10.0 + i), 1 - i / 100, f"h{i}")
    for i in range(8)
]
VECTOR_ORDER = [i.product.id for i in ITEMS]


def stage(llm: ScriptedLLM | None, **kwargs: object) -> LLMStage:
    settings = LLMStageSettings(deadline_s=float(kwargs.pop("deadline_s", 1.0)), candidates=8)  # type: ignore[arg-type]
    return LLMStage(llm, MemoryCache(), PROMPTS, settings, **kwargs)  # type: ignore[arg-type]


def ranking(*ids: str) -> str:
    return json.dumps({"ranking": list(ids)})


async def ids_of(s: LLMStage, **kwargs: object) -> tuple[list[str], object]:
    out = await rerank_and_explain(
        s, "speaker", ITEMS, **{"rerank": "llm", "explain": False, "limit": 5, **kwargs}
    )  # type: ignore[arg-type]
    return [i.product.id for i in out.items], out


async def test_a_valid_ranking_reorders_the_candidates() -> None:
    ids, out = await ids_of(stage(ScriptedLLM(ranking("p3", "p1"))))
    assert ids == ["p3", "p1", "p0", "p2", "p4"]
    assert (out.ranking, out.usage.fallback, out.usage.cache) == ("llm", None, "miss")  # type: ignore[attr-defined]


async def test_the_second_identical_request_is_a_cache_hit_with_no_call() -> None:
    llm = ScriptedLLM(ranking("p3"))
    s = stage(llm)
    await ids_of(s)
    ids, out = await ids_of(s)
    assert (llm.calls, out.usage.cache, ids[0]) == (1, "hit", "p3")  # type: ignore[attr-defined]


async def test_a_changed_product_misses_the_cache() -> None:
    llm = ScriptedLLM(ranking("p3"))
    s = stage(llm)
    await rerank_and_explain(s, "speaker", ITEMS, rerank="llm", explain=False, limit=5)
    changed = [ScoredProduct(ITEMS[0].product, ITEMS[0].score, "new-hash"), *ITEMS[1:]]
    await rerank_and_explain(s, "speaker", changed, rerank="llm", explain=False, limit=5)
    assert llm.calls == 2


async def test_without_an_llm_the_vector_result_is_flagged_disabled() -> None:
    ids, out = await ids_of(stage(None))
    assert (ids, out.ranking, out.usage.fallback) == (VECTOR_ORDER[:5], "vector", "llm_disabled")  # type: ignore[attr-defined]


async def test_auto_uses_the_llm_only_where_the_eval_gate_says_it_wins() -> None:
    llm = ScriptedLLM(ranking("p3"))
    ids, out = await ids_of(stage(llm), rerank="auto")
    assert (ids, out.usage, llm.calls) == (VECTOR_ORDER[:5], None, 0)  # type: ignore[attr-defined]
    gated = stage(llm, gate=EvalGate(frozenset({("rerank/v1", "fake-model")})))
    ids, _ = await ids_of(gated, rerank="auto")
    assert ids[0] == "p3"


async def test_explain_without_rerank_keeps_the_vector_order_and_adds_reasons() -> None:
    answer = json.dumps(
        {"reasons": [{"id": "p1", "reason": "Loud and cheap."}, {"id": "zz", "reason": "invented"}]}
    )
    ids, out = await ids_of(stage(ScriptedLLM(answer)), rerank="none", explain=True)
    assert ids == VECTOR_ORDER[:5]
    assert out.reasons == {"p1": "Loud and cheap."}  # type: ignore[attr-defined]
    assert out.ranking == "vector"  # type: ignore[attr-defined]
    assert out.usage.fallback is None  # type: ignore[attr-defined]


async def test_invalid_output_is_re_asked_once_then_falls_back() -> None:
    llm = ScriptedLLM("no json here", ranking("p2"))
    ids, out = await ids_of(stage(llm))
    assert (ids[0], llm.calls) == ("p2", 2)
    llm = ScriptedLLM("no json here")
    ids, out = await ids_of(stage(llm))
    assert (ids, out.usage.fallback, llm.calls) == (VECTOR_ORDER[:5], "invalid_output", 2)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "reason", "calls"),
    [
        (LLMServerError("503"), "server_error", 3),
        (LLMTimeout("slow"), "timeout", 3),
        (LLMRateLimited("429", retry_after_s=60.0), "rate_limited", 1),
    ],
)
async def test_transient_errors_are_retried_within_the_deadline_then_fall_back(
    error: Exception, reason: str, calls: int
) -> None:
    llm = ScriptedLLM(error)
    ids, out = await ids_of(stage(llm))
    assert (ids, out.usage.fallback, llm.calls) == (VECTOR_ORDER[:5], reason, calls)  # type: ignore[attr-defined]


async def test_a_retry_after_that_fits_the_deadline_is_honoured() -> None:
    llm = ScriptedLLM(LLMRateLimited("429", retry_after_s=0.1), ranking("p4"))
    ids, _ = await ids_of(stage(llm))
    assert (ids[0], llm.calls) == ("p4", 2)


async def test_a_slow_llm_costs_at_most_the_deadline() -> None:
    llm = ScriptedLLM(ranking("p4"), delay_s=5.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    ids, out = await ids_of(stage(llm, deadline_s=0.2))
    assert loop.time() - start < 0.25
    assert (ids, out.usage.fallback) == (VECTOR_ORDER[:5], "timeout")  # type: ignore[attr-defined]


async def test_an_open_breaker_skips_the_llm() -> None:
    breaker = CircuitBreaker(window=2, min_calls=2, failure_rate=1.0, open_s=60)
    llm = ScriptedLLM(LLMServerError("500"))
    s = stage(llm, breaker=breaker)
    await ids_of(s)
    await ids_of(s)  # second failed call opens it
    calls = llm.calls
    _, out = await ids_of(s)
    assert (out.usage.fallback, llm.calls) == ("circuit_open", calls)  # type: ignore[attr-defined]


async def test_a_full_bulkhead_sheds_load_as_overloaded() -> None:
    llm = ScriptedLLM(ranking("p1"), delay_s=0.2)
    s = stage(llm, bulkhead=Bulkhead(1))
    first = asyncio.create_task(rerank_and_explain(s, "one", ITEMS, rerank="llm", explain=False, limit=5))
    await asyncio.sleep(0.02)
    _, out = await ids_of(s)  # a different query: not coalesced with the first
    assert out.usage.fallback == "overloaded"  # type: ignore[attr-defined]
    assert (await first).ranking == "llm"


async def test_identical_concurrent_requests_share_one_upstream_call() -> None:
    llm = ScriptedLLM(ranking("p1"), delay_s=0.1)
    s = stage(llm)
    outs = await asyncio.gather(
        *(rerank_and_explain(s, "speaker", ITEMS, rerank="llm", explain=False, limit=5) for _ in range(20))
    )
    assert llm.calls == 1
    assert all(o.ranking == "llm" for o in outs)


def test_a_free_form_task_runs_with_cache_validation_and_fallback() -> None:
    llm = ScriptedLLM('{"slots": ["bags"]}')
    s = stage(llm)

    def parse(text: str) -> list[str]:
        data = json.loads(text)
        if not data.get("slots"):
            raise LLMInvalidOutput("no slots")
        return list(data["slots"])

    task = Task(
        "slots",
        {"anchor": "a camera", "categories": '["bags"]', "count": "2"},
        parse,
        ("shop", "cam"),
        enums={"slots": ["bags"]},
        max_items={"slots": 2},
    )
    first, second = asyncio.run(s.run(task)), asyncio.run(s.run(task))
    assert (first.value, first.usage.cache, first.fallback) == (["bags"], "miss", None)
    assert (second.value, second.usage.cache) == (["bags"], "hit")
    assert llm.calls == 1
    schema = llm.requests[0].json_schema or {}
    assert schema["properties"]["slots"]["items"]["enum"] == ["bags"]
    assert schema["properties"]["slots"]["maxItems"] == 2

    bad = ScriptedLLM('{"slots": []}')
    invalid = Task("slots", {"anchor": "a", "categories": "[]", "count": "1"}, parse, (1,))
    answer = asyncio.run(stage(bad).run(invalid))
    assert (answer.value, answer.fallback, bad.calls) == (None, "invalid_output", 2)  # one re-ask
    disabled = asyncio.run(stage(None).run(Task("slots", {}, parse, (1,))))
    assert disabled.fallback == "llm_disabled"
