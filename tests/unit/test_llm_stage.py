"""The LLM stage on fakes: what it asks, what it caches, and every way it falls back; driven through
the search's re-rank/explain step (two tasks) and a free-form task."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.domain.errors import LLMInvalidOutput, LLMRateLimited, LLMServerError, LLMTimeout
from app.domain.models import Product, ScoredProduct
from app.llm.gate import EvalGate
from app.llm.resilience import Bulkhead, CircuitBreaker
from app.llm.stage import LLMStage
from app.llm.task import Task
from app.search.rerank import Reranked, rerank_and_explain
from tests.fakes import ScriptedLLM, make_stage

ITEMS = [
    ScoredProduct(Product(id=f"p{i}", title=f"speaker {i}", price=10.0 + i), 1 - i / 100, f"h{i}")
    for i in range(8)
]
VECTOR_ORDER = [i.product.id for i in ITEMS]


def stage(llm: ScriptedLLM | None, **kwargs: object) -> LLMStage:
    return make_stage(llm, candidates=8, **kwargs)  # type: ignore[arg-type]


def ranking(*ids: str) -> str:
    return json.dumps({"ranking": list(ids)})


async def rank(
    s: LLMStage, query: str = "speaker", *, rerank: str = "llm", explain: bool = False
) -> Reranked:
    return await rerank_and_explain(s, query, ITEMS, rerank=rerank, explain=explain, limit=5)  # type: ignore[arg-type]


def ids(out: Reranked) -> list[str]:
    return [i.product.id for i in out.items]


def fallback(out: Reranked) -> str | None:
    return out.usage.fallback if out.usage else None


async def test_a_valid_ranking_reorders_the_candidates() -> None:
    out = await rank(stage(ScriptedLLM(ranking("p3", "p1"))))
    assert ids(out) == ["p3", "p1", "p0", "p2", "p4"]
    assert out.usage is not None
    assert (out.ranking, out.usage.fallback, out.usage.cache) == ("llm", None, "miss")


async def test_the_second_identical_request_is_a_cache_hit_with_no_call() -> None:
    llm = ScriptedLLM(ranking("p3"))
    s = stage(llm)
    await rank(s)
    out = await rank(s)
    assert out.usage is not None
    assert (llm.calls, out.usage.cache, ids(out)[0]) == (1, "hit", "p3")


async def test_a_changed_product_misses_the_cache() -> None:
    llm = ScriptedLLM(ranking("p3"))
    s = stage(llm)
    await rank(s)
    changed = [ScoredProduct(ITEMS[0].product, ITEMS[0].score, "new-hash"), *ITEMS[1:]]
    await rerank_and_explain(s, "speaker", changed, rerank="llm", explain=False, limit=5)
    assert llm.calls == 2


async def test_without_an_llm_the_vector_result_is_flagged_disabled() -> None:
    out = await rank(stage(None))
    assert (ids(out), out.ranking, fallback(out)) == (VECTOR_ORDER[:5], "vector", "llm_disabled")


async def test_auto_uses_the_llm_only_where_the_eval_gate_says_it_wins() -> None:
    llm = ScriptedLLM(ranking("p3"))
    out = await rank(stage(llm), rerank="auto")
    assert (ids(out), out.usage, llm.calls) == (VECTOR_ORDER[:5], None, 0)
    gated = stage(llm, gate=EvalGate(frozenset({("rerank/v1", "fake-model")})))
    assert ids(await rank(gated, rerank="auto"))[0] == "p3"


async def test_explain_without_rerank_keeps_the_vector_order_and_adds_reasons() -> None:
    answer = json.dumps(
        {"reasons": [{"id": "p1", "reason": "Loud and cheap."}, {"id": "zz", "reason": "invented"}]}
    )
    out = await rank(stage(ScriptedLLM(answer)), rerank="none", explain=True)
    assert ids(out) == VECTOR_ORDER[:5]
    assert out.reasons == {"p1": "Loud and cheap."}
    assert (out.ranking, fallback(out)) == ("vector", None)


async def test_a_failed_explain_after_a_good_rerank_returns_the_vector_result() -> None:
    llm = ScriptedLLM(ranking("p3"), LLMServerError("down"))
    out = await rank(stage(llm), explain=True)
    assert (ids(out), out.ranking, out.reasons, fallback(out)) == (
        VECTOR_ORDER[:5],
        "vector",
        {},
        "server_error",
    )


async def test_invalid_output_is_re_asked_once_then_falls_back() -> None:
    llm = ScriptedLLM("no json here", ranking("p2"))
    out = await rank(stage(llm))
    assert (ids(out)[0], llm.calls) == ("p2", 2)
    llm = ScriptedLLM("no json here")
    out = await rank(stage(llm))
    assert (ids(out), fallback(out), llm.calls) == (VECTOR_ORDER[:5], "invalid_output", 2)


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
    out = await rank(stage(llm))
    assert (ids(out), fallback(out), llm.calls) == (VECTOR_ORDER[:5], reason, calls)
    assert out.usage is not None
    assert out.usage.calls == calls


async def test_a_retry_after_that_fits_the_deadline_is_honoured() -> None:
    llm = ScriptedLLM(LLMRateLimited("429", retry_after_s=0.1), ranking("p4"))
    out = await rank(stage(llm))
    assert (ids(out)[0], llm.calls) == ("p4", 2)


async def test_an_llm_that_never_answers_costs_the_deadline_and_no_more() -> None:
    llm = ScriptedLLM(ranking("p4"), hold=asyncio.Event())  # never released
    out = await rank(stage(llm, deadline_s=0.3))
    assert (ids(out), fallback(out)) == (VECTOR_ORDER[:5], "timeout")
    assert out.usage is not None
    # Judged by the stage's own report: the whole budget was waited, and not a second one.
    assert 0.95 * 300 <= out.usage.llm_ms < 2 * 300


async def test_rerank_and_explain_share_one_deadline() -> None:
    # Each answer takes 2.5 s: re-rank fits a 4 s budget, explain would only fit a fresh one. The
    # 1.5 s of slack keeps the first call inside the budget on a loaded machine.
    llm = ScriptedLLM(ranking("p3"), delay_s=2.5)
    out = await rank(stage(llm, deadline_s=4.0), explain=True)
    assert (ids(out), fallback(out), llm.calls) == (VECTOR_ORDER[:5], "timeout", 2)


async def test_an_open_breaker_skips_the_llm() -> None:
    breaker = CircuitBreaker(window=2, min_calls=2, failure_rate=1.0, open_s=60)
    llm = ScriptedLLM(LLMServerError("500"))
    s = stage(llm, breaker=breaker)
    await rank(s)
    await rank(s)  # the second failed call opens it
    calls = llm.calls
    out = await rank(s)
    assert (fallback(out), llm.calls) == ("circuit_open", calls)


async def test_a_full_bulkhead_sheds_load_as_overloaded() -> None:
    release = asyncio.Event()
    llm = ScriptedLLM(ranking("p1"), hold=release)
    s = stage(llm, bulkhead=Bulkhead(1))
    first = asyncio.create_task(rank(s, "one"))
    await llm.started.wait()  # the first call holds the only slot until released
    out = await rank(s, "two")  # a different query: not coalesced with the first
    assert fallback(out) == "overloaded"
    release.set()
    assert (await first).ranking == "llm"


async def test_identical_concurrent_requests_share_one_upstream_call() -> None:
    release = asyncio.Event()
    llm = ScriptedLLM(ranking("p1"), hold=release)
    s = stage(llm)
    requests = asyncio.gather(*(rank(s) for _ in range(20)))
    await llm.started.wait()  # the one upstream call is under way; the others have joined it
    release.set()
    outs = await requests
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
    assert (first.usage.task, first.usage.calls, first.usage.tokens) == ("slots", 1, 120)
    assert llm.calls == 1
    schema = llm.requests[0].json_schema or {}
    assert schema["properties"]["slots"]["items"]["enum"] == ["bags"]
    assert schema["properties"]["slots"]["maxItems"] == 2

    bad = ScriptedLLM('{"slots": []}')
    invalid = Task("slots", {"anchor": "a", "categories": "[]", "count": "1"}, parse, (1,))
    answer = asyncio.run(stage(bad).run(invalid))
    assert (answer.value, answer.fallback, bad.calls) == (None, "invalid_output", 2)  # one re-ask
    disabled = asyncio.run(stage(None).run(Task("slots", {}, parse, (1,))))
    assert (disabled.fallback, disabled.usage.cache, disabled.usage.calls) == ("llm_disabled", None, 0)


async def test_a_task_whose_prompt_cannot_render_is_an_llm_error_not_an_exception() -> None:
    answer = await stage(ScriptedLLM("{}")).run(Task("slots", {}, str, ("x",)))
    assert (answer.value, answer.fallback) == (None, "llm_error")
