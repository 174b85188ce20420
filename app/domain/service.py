"""The retrieval use cases the API and the evals share: search, similar items, catalog reads.

Plain async code over the ports. The embedder is CPU-bound and blocking, so it runs in a worker
thread; the stage timings travel back with the result so the edge can log and return them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio.to_thread

from app.domain.errors import InvalidRequest, ProductNotFound
from app.domain.models import CatalogInfo, Filters, Product, ScoredProduct, VectorQuery
from app.ports import Embedder, VectorIndex

MAX_QUERY_CHARS = 1000


def normalize_query(text: str) -> str:
    """Collapse whitespace; the model is case-aware enough that case is kept."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Timings:
    embed_ms: float = 0.0
    search_ms: float = 0.0
    total_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "embed": round(self.embed_ms, 3),
            "search": round(self.search_ms, 3),
            "total": round(self.total_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class RetrievalResult:
    items: list[ScoredProduct]
    timings: Timings = field(default_factory=Timings)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


class RecommendationService:
    def __init__(self, embedder: Embedder, index: VectorIndex) -> None:
        self._embedder = embedder
        self._index = index

    async def embed_query(self, text: str) -> list[float]:
        vectors = await anyio.to_thread.run_sync(self._embedder.embed, [text])
        return vectors[0]

    async def search(
        self, catalog: str, query: str, *, limit: int = 10, filters: Filters = Filters()
    ) -> RetrievalResult:
        start = time.perf_counter()
        text = normalize_query(query)
        if not text:
            raise InvalidRequest("query", "must contain at least one non-space character")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidRequest("query", f"must be at most {MAX_QUERY_CHARS} characters")
        vector = await self.embed_query(text)
        embedded = time.perf_counter()
        items = await self._index.query(
            catalog, VectorQuery(positives=(vector,), filters=filters, limit=limit)
        )
        return RetrievalResult(
            items, Timings(embed_ms=(embedded - start) * 1000.0, search_ms=_ms(embedded), total_ms=_ms(start))
        )

    async def similar(
        self,
        catalog: str,
        positive: Sequence[str],
        negative: Sequence[str] = (),
        *,
        limit: int = 10,
        filters: Filters = Filters(),
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
            limit=limit,
        )
        items = await self._index.query(catalog, query)
        return RetrievalResult(items, Timings(embed_ms=0.0, search_ms=_ms(fetched), total_ms=_ms(start)))

    async def product(self, catalog: str, product_id: str) -> Product:
        records = await self._index.retrieve(catalog, [product_id])
        if not records:
            raise ProductNotFound(catalog, [product_id])
        return records[0].product

    async def catalogs(self) -> list[CatalogInfo]:
        return await self._index.catalogs()
