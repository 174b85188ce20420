"""The search use case the API and the evals share: search, similar items, catalog reads.

Plain async code over the ports. Retrieval first (the embedder is CPU-bound and blocking, so it
runs in a worker thread), then the optional LLM step (rerank.py: re-rank and explain, two tasks
through the LLM stage), which can only re-order or explain the vector candidates and falls back to
them on any failure. Stage timings travel back with the result
so the edge can log and return them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import trace

from app.domain.errors import InvalidRequest, ProductNotFound
from app.domain.lexical import query_vector
from app.domain.llm import LLMUsage
from app.domain.models import CatalogInfo, Filters, Fusion, Product, ScoredProduct, VectorQuery
from app.domain.search import RerankMode, RetrievalMode, RetrievalResult, Timings, normalize_query
from app.observability.timing import elapsed_ms
from app.ports import Embedder, VectorIndex
from app.search.query_batch import QueryBatcher
from app.search.rerank import STEP, LLMTasks, Reranked, rerank_and_explain

if TYPE_CHECKING:
    from app.ranking.stage import RankingStage

MAX_QUERY_CHARS = 1000


def _result(ranked: Reranked, start: float, embed_ms: float, search_ms: float) -> RetrievalResult:
    llm_ms = ranked.usage.llm_ms if ranked.usage is not None else 0.0
    return RetrievalResult(
        ranked.items,
        Timings(embed_ms, search_ms, llm_ms, elapsed_ms(start)),
        ranking=ranked.ranking,
        reasons=ranked.reasons,
        llm=(ranked.usage,) if ranked.usage is not None else (),
    )


def similar_query(positives: Iterable[Product]) -> str:
    """What the LLM is told a similar-items request is looking for."""
    return "items similar to: " + "; ".join(p.title for p in positives)


@dataclass(frozen=True, slots=True)
class Retrieval:
    """How a text query becomes candidates: `dense` (embedding only), `lexical` (BM25 sparse vector
    only) or `hybrid` (both, fused in Qdrant). docs/evals.md has the measurements behind the default."""

    mode: RetrievalMode = "dense"
    fusion: Fusion = Fusion()


class RecommendationService:
    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        llm: LLMTasks | None = None,
        retrieval: Retrieval = Retrieval(),
        tracer: trace.Tracer | None = None,
        ranking: RankingStage | None = None,
    ) -> None:
        self._embedder = embedder
        self._queries = QueryBatcher(embedder)  # concurrent requests' queries, one embedder call
        self._index = index
        self._llm = llm
        self.retrieval = retrieval
        self._tracer = tracer or trace.NoOpTracer()
        self._ranking = ranking

    def _depth(self, limit: int, rerank: RerankMode, *, ranked: bool = False) -> int:
        """How many vector candidates to fetch: the LLM and the learned ranker re-rank a deeper
        pool than they return."""
        if ranked and self._ranking is not None and self._ranking.model is not None:
            limit = max(limit, self._ranking.depth)
        if self._llm is not None and rerank != "none":
            return max(limit, self._llm.candidate_depth)
        return limit

    async def _rank(
        self, query: str, items: list[ScoredProduct], *, limit: int, rerank: RerankMode, explain: bool
    ) -> Reranked:
        """The LLM step where asked for; without a stage, the vector order, flagged when the
        request asked for the LLM by name."""
        if self._llm is None:
            asked = rerank == "llm" or explain
            return Reranked(items[:limit], usage=LLMUsage(STEP, fallback="llm_disabled") if asked else None)
        return await rerank_and_explain(self._llm, query, items, rerank=rerank, explain=explain, limit=limit)

    async def embed_query(self, text: str) -> list[float]:
        with self._tracer.start_as_current_span("embed_query"):
            return await self._queries.embed(text)

    async def _query(self, catalog: str, query: VectorQuery) -> list[ScoredProduct]:
        with self._tracer.start_as_current_span("vector_search") as span:
            span.set_attribute("aisle.catalog", catalog)
            span.set_attribute(
                "aisle.retrieval",
                "hybrid" if query.sparse and query.positives else "lexical" if query.sparse else "dense",
            )
            span.set_attribute("aisle.limit", query.limit)
            items = await self._index.query(catalog, query)
            span.set_attribute("aisle.results", len(items))
        return items

    async def search(
        self,
        catalog: str,
        query: str,
        *,
        limit: int = 10,
        filters: Filters = Filters(),
        rerank: RerankMode = "none",
        explain: bool = False,
    ) -> RetrievalResult:
        start = time.perf_counter()
        text = normalize_query(query)
        if not text:
            raise InvalidRequest("query", "must contain at least one non-space character")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidRequest("query", f"must be at most {MAX_QUERY_CHARS} characters")
        mode = self.retrieval.mode
        vector = await self.embed_query(text) if mode != "lexical" else None
        embedded = time.perf_counter()
        query_ = VectorQuery(
            positives=(vector,) if vector is not None else (),
            filters=filters,
            limit=self._depth(limit, rerank, ranked=True),
            sparse=query_vector(text) if mode != "dense" else None,
            fusion=self.retrieval.fusion,
        )
        items = await self._query(catalog, query_)
        embed_ms, search_ms = (embedded - start) * 1000.0, elapsed_ms(embedded)
        # The learned ranking stage: re-orders the retrieval candidates before the LLM stage.
        learned = await self._ranking.apply(catalog, text, vector, items) if self._ranking else None
        if learned is not None:
            items = learned.items
        ranked = await self._rank(text, items, limit=limit, rerank=rerank, explain=explain)
        result = _result(ranked, start, embed_ms, search_ms)
        return result if learned is None else learned.annotate(result)

    async def similar(
        self,
        catalog: str,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        *,
        limit: int = 10,
        filters: Filters = Filters(),
        rerank: RerankMode = "none",
        explain: bool = False,
    ) -> RetrievalResult:
        """Products like the positives and unlike the negatives, never the inputs themselves."""
        start = time.perf_counter()
        if not positive:
            raise InvalidRequest("positive", "name at least one product id")
        overlap = set(positive) & set(negative)
        if overlap:
            raise InvalidRequest("negative", f"ids cannot be both positive and negative: {sorted(overlap)}")
        wanted = list(dict.fromkeys((*positive, *negative)))
        records = {r.product.id: r for r in await self._index.retrieve(catalog, wanted)}
        missing = [i for i in wanted if i not in records]
        if missing:
            raise ProductNotFound(catalog, missing)
        fetched = time.perf_counter()
        query = VectorQuery(
            positives=tuple(records[i].vector for i in dict.fromkeys(positive)),
            negatives=tuple(records[i].vector for i in dict.fromkeys(negative)),
            filters=filters.excluding(wanted),
            limit=self._depth(limit, rerank),
        )
        items = await self._query(catalog, query)
        search_ms = elapsed_ms(fetched)
        text = similar_query(records[i].product for i in dict.fromkeys(positive))
        ranked = await self._rank(text, items, limit=limit, rerank=rerank, explain=explain)
        return _result(ranked, start, 0.0, search_ms)

    async def product(self, catalog: str, product_id: str) -> Product:
        records = await self._index.retrieve(catalog, [product_id])
        if not records:
            raise ProductNotFound(catalog, [product_id])
        return records[0].product

    async def catalogs(self) -> list[CatalogInfo]:
        return await self._index.catalogs()
