"""The recommendations use case: POST /v1/catalogs/{catalog}/recommendations.

    type             behaviour (follower.py's models)          content (vectors, Qdrant recommend)
    bought_together  co-purchase neighbours of item_ids         items like item_ids: fills the rest
    viewed_together  co-view neighbours of item_ids             items like item_ids: fills the rest
    trending         decayed popularity (per category)          items like item_ids, if any
    for_session      V-SKNN over the session's recent items     items like its newest items: blended
    for_user         V-SKNN over the user's recent items        items like their newest items: blended

Behavioural candidates are fetched by id from the index and filtered there (the request's filters
apply to every source); content candidates come from one recommend query with the same filters.
With no behaviour to go on (a new catalog, item or session) the answer is content alone, and
`source` says so. Then the LLM step, exactly as /similar runs it (the search use case's re-rank
and explain tasks, wired in as `RankStep`): any failure returns the order above, flagged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from app.domain.errors import InvalidRequest, ProductNotFound
from app.domain.events import RecommendationType, Source
from app.domain.filtering import admits
from app.domain.llm import LLMUsage
from app.domain.models import Filters, IndexRecord, Product, ScoredProduct, VectorQuery, filter_key
from app.domain.search import Ranking, RerankMode
from app.observability.timing import elapsed_ms
from app.ports import EventStore, VectorIndex
from app.recommendations.blend import (
    Blended,
    Candidate,
    blend,
    evidence_weight,
    fill,
    source_of_items,
)
from app.recommendations.follower import ModelFollower
from app.recommendations.model import BehaviourModel

MAX_CONTEXT = 50  # a session's or user's latest events read as its context
CONTENT_SEEDS = 5  # the newest context items the content query starts from
OVERFETCH = 3  # behavioural candidates fetched per slot, so filters still leave enough
STEP = "search"  # the LLM step's usage record, named as /search and /similar name it
# Item-to-item and trending: behaviour first, content fills (blend.py); sessions and users blend.
FILL_TYPES: tuple[RecommendationType, ...] = ("bought_together", "viewed_together", "trending")


class Ranked(Protocol):
    """What the LLM step returns (app/search/rerank.py:Reranked)."""

    @property
    def items(self) -> list[ScoredProduct]: ...
    @property
    def ranking(self) -> Ranking: ...
    @property
    def reasons(self) -> dict[str, str]: ...
    @property
    def usage(self) -> LLMUsage | None: ...


class RankStep(Protocol):
    """The search use case's LLM step (rerank_and_explain over the LLM stage), wired in main."""

    async def __call__(
        self, query: str, items: list[ScoredProduct], *, rerank: RerankMode, explain: bool, limit: int
    ) -> Ranked: ...


@dataclass(frozen=True, slots=True)
class RecommendationQuery:
    type: RecommendationType
    item_ids: tuple[str, ...] = ()
    session_id: str | None = None
    user_id: str | None = None
    limit: int = 10
    filters: Filters = Filters()
    rerank: RerankMode = "auto"
    explain: bool = False
    blend: float | None = None  # the events' weight (an experiment's pin); None: by evidence


@dataclass(slots=True)
class RecommendationResult:
    items: list[ScoredProduct]
    source: Source
    ranking: Ranking = "vector"
    reasons: dict[str, str] = field(default_factory=dict)
    llm: tuple[LLMUsage, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def fallback(self) -> str | None:
        return next((u.fallback for u in self.llm if u.fallback is not None), None)


@dataclass(frozen=True, slots=True)
class _Context:
    items: tuple[str, ...]  # oldest first
    records: dict[str, IndexRecord]  # those the index has


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _titles(products: Sequence[Product]) -> str:
    return "; ".join(p.title for p in products[-CONTENT_SEEDS:])


class RecommendationsService:
    def __init__(
        self,
        index: VectorIndex,
        events: EventStore,
        models: ModelFollower,
        rank: RankStep | None = None,
        *,
        depth: int = 30,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._index = index
        self._events = events
        self._models = models
        self._rank = rank
        self._depth = depth
        self._clock = clock

    async def recommend(self, catalog: str, q: RecommendationQuery) -> RecommendationResult:
        start = time.perf_counter()
        _check(q)
        context = await self._context(catalog, q)
        asks_llm = q.rerank != "none" or q.explain
        pool = max(q.limit, self._depth) if self._rank is not None and asks_llm else q.limit
        filters = q.filters.excluding(context.items)
        timings = {"context": elapsed_ms(start)}
        step = time.perf_counter()
        blended, model_ms = await self._candidates(catalog, q, context, filters, pool)
        items = await self._products(catalog, blended, filters, pool)
        timings.update(events=model_ms, search=elapsed_ms(step) - model_ms)
        step = time.perf_counter()
        result = await self._llm_step(items, q, context)
        behaviour = {c.item_id for c in blended.ranked if c.from_events}
        shown = [Candidate(i.product.id, i.score, i.product.id in behaviour) for i in result.items]
        result.source = source_of_items(shown) if shown else "events" if q.type == "trending" else "content"
        timings.update(llm=elapsed_ms(step), total=elapsed_ms(start))
        result.timings = {k: round(v, 3) for k, v in timings.items()}
        return result

    async def co_purchased(
        self, catalog: str, item_ids: Sequence[str], limit: int
    ) -> list[tuple[str, str, float]]:
        """(item id, category key or "", strength) of what was bought with these items, strongest
        first: the bundles' co-purchase source (app/bundles/signals.py)."""
        now, items = self._clock().timestamp(), list(item_ids)

        def ask(model: BehaviourModel) -> list[tuple[str, str, float]]:
            return [
                (n.item_id, model.categories.get(n.item_id, ""), n.score)
                for n in model.bought_with(items, now, limit)
            ]

        return await self._models.read(catalog, ask) or []

    async def _context(self, catalog: str, q: RecommendationQuery) -> _Context:
        """The items the request is about: item_ids for item-to-item, else the session's or
        user's latest events (item_ids added as the newest), oldest first. Reading them also
        checks the catalog exists (404)."""
        items: list[str] = []
        if q.type in ("for_session", "for_user"):
            recent = await self._events.recent_events(
                catalog,
                session_id=q.session_id if q.type == "for_session" else None,
                user_id=q.user_id if q.type == "for_user" else None,
                limit=MAX_CONTEXT,
            )
            items = [s.event.item_id for s in recent]
        items = list(dict.fromkeys(reversed([*items, *q.item_ids])))[::-1]  # distinct, last touch wins
        records = {r.product.id: r for r in await self._index.retrieve(catalog, items)}
        missing = [i for i in q.item_ids if i not in records]
        if missing:
            raise ProductNotFound(catalog, missing)
        return _Context(tuple(items), records)

    async def _candidates(
        self, catalog: str, q: RecommendationQuery, ctx: _Context, filters: Filters, pool: int
    ) -> tuple[Blended, float]:
        """Behaviour and content candidates, more than needed (filters come next), and the ms the
        model took."""
        want = pool * OVERFETCH
        started = time.perf_counter()
        ranked, neighbours = await self._behaviour(catalog, q, ctx, want)
        model_ms = elapsed_ms(started)
        # Without context a session or user is a new shopper: what is trending, as for `trending`.
        fills = q.type in FILL_TYPES or not ctx.items
        weight = q.blend if q.blend is not None else 1.0 if fills else evidence_weight(neighbours)
        content: list[tuple[str, float]] = []
        if weight < 1.0 or (fills and q.blend is None and len(ranked) < want):
            content = await self._content(catalog, ctx, filters, pool)
        if fills and q.blend is None:
            return fill(ranked, content, want), model_ms
        return blend(ranked, content, weight, want), model_ms

    async def _behaviour(
        self, catalog: str, q: RecommendationQuery, ctx: _Context, want: int
    ) -> tuple[list[tuple[str, float]], int]:
        """The model's candidates, best first, and how many neighbour sessions voted."""
        items, exclude, now = list(ctx.items), q.filters.exclude_ids, self._clock().timestamp()

        def ask(model: BehaviourModel) -> tuple[list[tuple[str, float]], int]:
            if q.type == "bought_together":
                return [(n.item_id, n.score) for n in model.bought_with(items, now, want, exclude)], 0
            if q.type == "viewed_together":
                return [(n.item_id, n.score) for n in model.viewed_with(items, now, want, exclude)], 0
            if q.type == "trending" or not items:
                categories = [filter_key(c) for c in q.filters.category]
                return model.trending.top(now, want, categories, [*items, *exclude]), 0
            own = q.session_id if q.type == "for_session" else None
            scores = model.for_session(items, want, own=own, exclude=exclude)
            return scores.scores, scores.neighbours

        answer = await self._models.read(catalog, ask)
        return answer if answer is not None else ([], 0)

    async def _content(
        self, catalog: str, ctx: _Context, filters: Filters, pool: int
    ) -> list[tuple[str, float]]:
        """Items like the newest context items: one recommend query (best score over them)."""
        seeds = [ctx.records[i].vector for i in ctx.items if i in ctx.records][-CONTENT_SEEDS:]
        if not seeds:
            return []
        query = VectorQuery(positives=tuple(seeds), filters=filters, limit=pool)
        return [(h.product.id, h.score) for h in await self._index.query(catalog, query)]

    async def _products(
        self, catalog: str, blended: Blended, filters: Filters, pool: int
    ) -> list[ScoredProduct]:
        """The candidates as products, filtered (context items are excluded by `filters`), in
        order, at most `pool`."""
        ids = [c.item_id for c in blended.ranked]
        records = {r.product.id: r for r in await self._index.retrieve(catalog, ids)} if ids else {}
        out = []
        for c in blended.ranked:
            record = records.get(c.item_id)
            if record is not None and admits(filters, record.product):
                out.append(ScoredProduct(record.product, c.score, record.content_hash))
                if len(out) >= pool:
                    break
        return out

    async def _llm_step(
        self, items: list[ScoredProduct], q: RecommendationQuery, ctx: _Context
    ) -> RecommendationResult:
        """The search use case's LLM step over the candidates; without it, their order, flagged
        when the request asked for the LLM by name."""
        if self._rank is None:
            asked = q.rerank == "llm" or q.explain
            usage = (LLMUsage(STEP, fallback="llm_disabled"),) if asked else ()
            return RecommendationResult(items[: q.limit], "content", llm=usage)
        products = [ctx.records[i].product for i in ctx.items if i in ctx.records]
        ranked = await self._rank(
            _query_text(q, products), items, rerank=q.rerank, explain=q.explain, limit=q.limit
        )
        usage = (ranked.usage,) if ranked.usage is not None else ()
        return RecommendationResult(ranked.items, "content", ranked.ranking, ranked.reasons, usage)


def _check(q: RecommendationQuery) -> None:
    if q.type in FILL_TYPES[:2] and not q.item_ids:
        raise InvalidRequest("item_ids", f"{q.type} needs at least one item id")
    if q.type == "for_session" and not q.session_id:
        raise InvalidRequest("session_id", "for_session needs a session_id")
    if q.type == "for_user" and not q.user_id:
        raise InvalidRequest("user_id", "for_user needs a user_id")
    if not 1 <= q.limit <= 100:
        raise InvalidRequest("limit", "must be 1..100")
    if q.blend is not None and not 0.0 <= q.blend <= 1.0:
        raise InvalidRequest("blend", "must be in [0, 1]")


def _query_text(q: RecommendationQuery, context: Sequence[Product]) -> str:
    """What the LLM is told the request is looking for (as /similar tells it "items similar to")."""
    seen = _titles(context) or "nothing yet"
    if q.type == "bought_together":
        return f"items often bought together with: {seen}"
    if q.type == "viewed_together":
        return f"items often viewed together with: {seen}"
    if q.type == "trending":
        where = ", ".join(q.filters.category)
        return f"trending items{f' in {where}' if where else ''}"
    return f"items for a shopper who recently looked at: {seen}"
