"""The pipelines an eval run compares. All but `bm25` go through `RecommendationService`, the use
case the API serves; `bm25` is the classical lexical baseline (bm25s, Snowball-stemmed, over the
same product text the embedder sees), kept outside Qdrant on purpose: it is the yardstick.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import bm25s
import Stemmer

from app.domain.models import Fusion, Product
from app.domain.search import RerankMode
from app.llm.stage import LLMStage
from app.ports import Embedder, VectorIndex
from app.ranking.stage import RankingStage
from app.search.service import RecommendationService, Retrieval
from app.settings import Settings
from embeddings.text import product_text
from evals.args import PIPELINES


@dataclass(frozen=True, slots=True)
class Ranked:
    doc_ids: list[str]
    scores: list[float]
    timings_ms: dict[str, float]
    fallback: str | None = None
    llm_calls: int = 0
    llm_tokens: int = 0
    cache: str | None = None


Pipeline = Callable[[str, int], Awaitable[Ranked]]


class BM25Pipeline:
    def __init__(self, products: Sequence[Product]) -> None:
        self._ids = [p.id for p in products]
        self._stemmer = Stemmer.Stemmer("english")
        corpus = bm25s.tokenize(
            [product_text(p) for p in products], stopwords="en", stemmer=self._stemmer, show_progress=False
        )
        self._retriever = bm25s.BM25()
        self._retriever.index(corpus, show_progress=False)

    async def __call__(self, query: str, k: int) -> Ranked:
        start = time.perf_counter()
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self._stemmer, show_progress=False)
        if not tokens.vocab:
            return Ranked([], [], {"total": 0.0})
        docs, scores = self._retriever.retrieve(tokens, k=min(k, len(self._ids)), show_progress=False)
        ranked = [(self._ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]
        ms = (time.perf_counter() - start) * 1000
        return Ranked([d for d, _ in ranked], [s for _, s in ranked], {"total": round(ms, 3)})


def service_pipeline(service: RecommendationService, catalog: str, rerank: RerankMode = "none") -> Pipeline:
    async def run(query: str, k: int) -> Ranked:
        result = await service.search(catalog, query, limit=k, rerank=rerank)
        return Ranked(
            [h.product.id for h in result.items],
            [h.score for h in result.items],
            result.timings.as_dict(),
            result.fallback,
            result.llm_calls,
            result.llm_tokens,
            result.cache,
        )

    return run


def retrieval_for(name: str, settings: Settings) -> Retrieval | None:
    """The retrieval config a named pipeline uses; None for names that are not service pipelines."""
    tuned = Fusion(
        settings.fusion_k, settings.fusion_dense_weight, settings.fusion_sparse_weight, settings.fusion_depth
    )
    return {
        "dense": Retrieval("dense"),
        "lexical": Retrieval("lexical"),
        "hybrid": Retrieval("hybrid", Fusion()),  # plain RRF: k=60, equal weights
        "hybrid-weighted": Retrieval("hybrid", tuned),  # the tuned weighted RRF from Settings
        "default": Retrieval(settings.retrieval, tuned),  # what the API serves with these settings
    }.get(name.removesuffix("+llm"))


def build_pipeline(
    name: str,
    *,
    settings: Settings,
    products: Sequence[Product],
    embedder: Embedder,
    index: VectorIndex,
    catalog: str,
    llm: LLMStage | None,
    ranking: RankingStage | None = None,
) -> Pipeline:
    """`ranking` (the served learned ranker) applies to `default` only, as the API serves it."""
    if name == "bm25":
        return BM25Pipeline(products)
    retrieval = retrieval_for(name, settings)
    if retrieval is None:
        raise ValueError(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)} (append +llm to re-rank)")
    rank = ranking if name.removesuffix("+llm") == "default" else None
    if name.endswith("+llm"):
        if llm is None:
            raise ValueError(f"pipeline {name!r} needs an LLM: set LLM_BASE_URL / LLM_MODEL")
        return service_pipeline(
            RecommendationService(embedder, index, llm, retrieval, ranking=rank), catalog, rerank="llm"
        )
    return service_pipeline(RecommendationService(embedder, index, None, retrieval, ranking=rank), catalog)
