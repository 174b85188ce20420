"""The learned ranking stage: between retrieval and the LLM stage, a `Ranker` model re-orders the
top `depth` retrieval candidates by features of (query, product) pairs.

It never fails a request: with no model, a catalog whose statistics are still being built, or any
error while scoring, the retrieval order is served and `fallback` names why (the search response
and the request's log line carry it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import structlog

from app.domain.lexical import terms
from app.domain.models import ScoredProduct, Vector
from app.domain.search import RetrievalResult
from app.ports import Ranker
from app.ranking.catalog import CatalogContexts, RankingContext
from app.ranking.features import FEATURES, RankQuery, extract

log = structlog.get_logger("aisle.ranking")
DEFAULT_DEPTH = 100


@dataclass(frozen=True, slots=True)
class RankOutcome:
    items: list[ScoredProduct]
    model: str | None = None  # the model version that ordered `items`; None: retrieval order
    fallback: str | None = None
    ms: float = 0.0

    def annotate(self, result: RetrievalResult) -> RetrievalResult:
        """The search result, saying which model ordered it (or why none did) and its time."""
        timings = replace(result.timings, rank_ms=self.ms)
        return replace(result, timings=timings, ranker=self.model, ranker_fallback=self.fallback)


def rank_query(text: str, vector: Vector | None, context: RankingContext) -> RankQuery:
    unique = tuple(dict.fromkeys(terms(text)))
    return RankQuery(text, unique, vector, context.types.detect(unique))


def reorder(items: Sequence[ScoredProduct], scores: np.ndarray) -> list[ScoredProduct]:
    """Best score first; ties keep the retrieval order."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable").tolist()  # stable: ties keep order
    values = np.asarray(scores, dtype=float).tolist()
    return [ScoredProduct(items[i].product, values[i], items[i].content_hash) for i in order]


class RankingStage:
    def __init__(
        self,
        ranker: Ranker | None,
        contexts: CatalogContexts,
        *,
        depth: int = DEFAULT_DEPTH,
        unavailable: str | None = None,
    ) -> None:
        """`unavailable`: why there is no ranker (reported as the fallback of every request)."""
        if ranker is not None and tuple(ranker.features) != FEATURES:
            unavailable = f"ranker_incompatible: model {ranker.version} was trained on other features"
            ranker = None
        self._ranker = ranker
        self._contexts = contexts
        self.depth = depth
        self.unavailable = unavailable if ranker is None else None

    @property
    def contexts(self) -> CatalogContexts:
        """The per-catalog statistics: the composition root subscribes them to catalog writes."""
        return self._contexts

    @property
    def model(self) -> str | None:
        return self._ranker.version if self._ranker is not None else None

    async def warm(self) -> None:
        """Build every catalog's statistics (start-up, so the first request is ranked); never raises."""
        if self._ranker is not None:
            await self._contexts.warm()

    async def prepare(self, catalog: str) -> bool:
        """Build the catalog's statistics now (evals, warm-up); True if they are ready."""
        return await self._contexts.get(catalog, wait=True) is not None

    async def apply(
        self, catalog: str, text: str, vector: Vector | None, items: list[ScoredProduct]
    ) -> RankOutcome:
        ranker = self._ranker
        if ranker is None:
            return RankOutcome(items, fallback=self.unavailable or "ranker_disabled")
        if len(items) < 2:
            return RankOutcome(items, model=ranker.version)
        context = await self._contexts.get(catalog, wait=False)
        if context is None:
            return RankOutcome(items, fallback="ranker_warming")
        start = time.perf_counter()
        try:
            # On the caller's thread: feature extraction is Python and small numpy arrays, holding the
            # GIL nearly throughout, so a worker thread ran it no more in parallel; waking one cost
            # more CPU than the model itself (py-spy under load, docs/performance.md).
            ranked = self._rank(ranker, context, text, vector, items)
        except Exception as e:  # a model or feature bug must cost ranking quality, never the request
            log.warning("ranker_failed", catalog=catalog, error=f"{type(e).__name__}: {e}")
            return RankOutcome(items, fallback="ranker_error", ms=(time.perf_counter() - start) * 1000)
        return RankOutcome(ranked, model=ranker.version, ms=(time.perf_counter() - start) * 1000)

    @staticmethod
    def _rank(
        ranker: Ranker, context: RankingContext, text: str, vector: Vector | None, items: list[ScoredProduct]
    ) -> list[ScoredProduct]:
        rows = extract(rank_query(text, vector, context), items, context.stats)
        scores = np.asarray(ranker.score(rows), dtype=float)
        if scores.shape != (len(items),) or not np.isfinite(scores).all():
            raise ValueError(f"ranker returned {scores.shape} scores for {len(items)} candidates")
        return reorder(items, scores)
