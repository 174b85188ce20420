"""The search's LLM step: re-rank and/or explain the vector candidates, two tasks like any other,
run through the LLM stage under one shared deadline.

The LLM can only re-order or explain the candidates it was shown: ids outside them are dropped by
the parsers, candidates it left out follow in vector order. Any failure of either task returns the
vector result (no re-ranking, no reasons) flagged with the reason. Each reason is grounded in the
facts of the item it explains (app/domain/grounding.py); one that is not is left out, as the
no-LLM path shows none, and the step is flagged `ungrounded_reason`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from app.domain.grounding import Facts, Grounds, Reasons, brand_names, ground_reasons
from app.domain.llm import LLMUsage
from app.domain.models import ScoredProduct
from app.domain.search import Ranking, RerankMode, normalize_query
from app.llm.output import compact_facts, merge_ranking, parse_ranking, parse_reasons
from app.llm.task import Answer, Task

T = TypeVar("T")
STEP = "search"  # the name of the combined re-rank/explain usage record


class LLMTasks(Protocol):
    """What the search use case needs from the LLM stage (app/llm/stage.py:LLMStage)."""

    @property
    def enabled(self) -> bool: ...

    @property
    def candidate_depth(self) -> int:
        """How many vector candidates the LLM re-ranks."""
        ...

    def proven(self, prompt: str) -> bool:
        """Whether evals measured that this prompt (with the configured model) beats vector order."""
        ...

    def deadline(self) -> float: ...

    async def run(self, task: Task[T], *, deadline: float | None = None) -> Answer[T]: ...


@dataclass(frozen=True, slots=True)
class Reranked:
    """The items to return, in their final order, with the LLM's reasons and what the step cost
    (`usage` is None when the LLM was not asked for)."""

    items: list[ScoredProduct]
    ranking: Ranking = "vector"
    reasons: dict[str, str] = field(default_factory=dict)
    usage: LLMUsage | None = None


def _ids(items: Sequence[ScoredProduct]) -> list[str]:
    return [i.product.id for i in items]


def _key(query: str, items: Sequence[ScoredProduct]) -> tuple[object, ...]:
    """A candidate task's answer depends on the query and on this version of each candidate."""
    return normalize_query(query).casefold(), [(i.product.id, i.content_hash) for i in items]


def _values(query: str, items: Sequence[ScoredProduct]) -> dict[str, str]:
    return {"query": normalize_query(query), "candidates": compact_facts(items), "count": str(len(items))}


def rerank_task(query: str, pool: Sequence[ScoredProduct]) -> Task[list[str]]:
    """The candidates' ids in the LLM's order (only candidate ids, possibly fewer)."""
    ids = _ids(pool)
    return Task(
        "rerank",
        _values(query, pool),
        lambda text: parse_ranking(text, ids),
        _key(query, pool),
        enums={"ranking": ids},
        max_items={"ranking": len(ids)},
    )


def explain_task(query: str, shown: Sequence[ScoredProduct], brands: Sequence[str] = ()) -> Task[Reasons]:
    """A short reason per shown item (only shown ids), each grounded in its item's facts; the
    query may license names and amounts, and `brands` (the candidates') are the names a reason
    must not give to another product."""
    ids = _ids(shown)
    products = {i.product.id: i.product for i in shown}
    known = tuple(sorted({b for b in (*brands, *(i.product.brand for i in shown)) if b}))
    grounds = Grounds(Facts.of(query), brand_names(known))
    return Task(
        "explain",
        _values(query, shown),
        lambda text: ground_reasons(parse_reasons(text, ids), products, grounds),
        _key(query, shown),
        enums={"reasons": ids},
        max_items={"reasons": len(ids)},
    )


def _usage(
    tasks: Sequence[LLMUsage], llm_ms: float, fallback: str | None, ungrounded: Sequence[str] = ()
) -> LLMUsage:
    """One record for the step: calls and tokens summed; a cache hit only if every answer used
    was one."""
    used = [t for t in tasks if t.fallback is None]
    hit = bool(used) and all(t.cache == "hit" for t in used)
    return LLMUsage(
        STEP,
        fallback,
        "hit" if hit else "miss",
        llm_ms,
        sum(t.calls for t in tasks),
        sum(t.prompt_tokens for t in tasks),
        sum(t.completion_tokens for t in tasks),
        (*(c for t in tasks for c in t.ungrounded), *ungrounded),
    )


async def rerank_and_explain(
    stage: LLMTasks, query: str, items: list[ScoredProduct], *, rerank: RerankMode, explain: bool, limit: int
) -> Reranked:
    """`items` are the vector candidates, best first (at least `limit` of them when available)."""
    vector = items[:limit]
    do_rerank = rerank == "llm" or (rerank == "auto" and stage.proven("rerank"))
    if not do_rerank and not explain:
        return Reranked(vector)
    if not stage.enabled:
        return Reranked(vector, usage=LLMUsage(STEP, fallback="llm_disabled"))
    start = time.perf_counter()
    deadline = stage.deadline()
    tasks: list[LLMUsage] = []
    shown, reasons = vector, {}
    ranking: Ranking = "vector"

    def failed(reason: str | None) -> Reranked:
        return Reranked(vector, usage=_usage(tasks, (time.perf_counter() - start) * 1000.0, reason))

    if do_rerank:
        pool = items[: stage.candidate_depth]
        ranked = await stage.run(rerank_task(query, pool), deadline=deadline)
        tasks.append(ranked.usage)
        if ranked.value is None:
            return failed(ranked.fallback)
        shown, ranking = (merge_ranking(pool, ranked.value)[:limit] if pool else []), "llm"
    ungrounded: list[str] = []
    if explain and shown:
        brands = [i.product.brand for i in items]
        explained = await stage.run(explain_task(query, shown, brands), deadline=deadline)
        tasks.append(explained.usage)
        if explained.value is None:
            return failed(explained.fallback)
        reasons, ungrounded = explained.value.text, list(explained.value.ungrounded.values())
    fallback = "ungrounded_reason" if ungrounded else None
    llm_ms = (time.perf_counter() - start) * 1000.0
    return Reranked(shown, ranking, reasons, _usage(tasks, llm_ms, fallback, ungrounded))
