"""`aisle eval run`: ingest (or reuse) a catalog, run every judged query through every pipeline,
score with ranx, and hand the results to the report writer.

Metrics are computed twice: with unjudged results counted as irrelevant (the standard reading,
pessimistic on a shallow pool) and on judged-only ("condensed") lists, where unjudged results are
dropped before scoring. Both are reported for all queries and for the dev / validation splits.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ranx import Qrels, Run, evaluate

from app.adapters.edge_index import EdgeVectorIndex
from app.domain.lexical import query_vector
from app.domain.models import Fusion, Product, VectorQuery
from app.domain.search import normalize_query
from app.llm.stage import LLMStage
from app.main import build_cache, build_embedder, build_llm, build_ranking, build_stage
from app.ports import Embedder
from app.ranking.catalog import CatalogContexts
from app.ranking.stage import RankingStage
from app.search.service import RecommendationService
from app.settings import Settings, embedding_model_id
from embeddings.ingest import IngestSummary, ingest
from embeddings.readers import RowError, read_products
from evals.datasets import Judgments
from evals.embed_cache import CachedEmbedder, cache_path
from evals.pipelines import Pipeline, Ranked, build_pipeline, retrieval_for
from evals.ranker import Candidates, RecordingRanker, collect

METRICS = ["ndcg@10", "ndcg@100", "recall@10", "recall@100", "mrr@10", "precision@10"]
DEPTH = 100


@dataclass(slots=True)
class EvalRun:
    results: list[PipelineResult]
    meta: dict[str, Any]
    candidates: Candidates | None = None  # the learned ranker's rows, when asked for
    fusion_runs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # grid point -> rankings


@dataclass(slots=True)
class PipelineResult:
    name: str
    ranked: dict[str, Ranked] = field(default_factory=dict)  # query id -> result
    seconds: float = 0.0

    def run(self, judged_only: bool, qrels: dict[str, dict[str, int]]) -> Run:
        data: dict[str, dict[str, float]] = {}
        for qid, r in self.ranked.items():
            pairs = list(zip(r.doc_ids, r.scores, strict=True))
            if judged_only:
                pairs = [(d, s) for d, s in pairs if d in qrels.get(qid, {})]
            # ranx ranks by score; use rank-derived scores so ties and fused scores keep our order
            data[qid] = {d: float(len(pairs) - i) for i, (d, _) in enumerate(pairs)} or {"__none__": 0.0}
        return Run(data, name=self.name)


def _metrics(qrels: Qrels, run: Run) -> dict[str, float]:
    scores = evaluate(qrels, run, METRICS, make_comparable=True)
    return {m: round(float(scores[m]), 4) for m in METRICS}


def _per_query_ndcg(qrels: Qrels, run: Run) -> dict[str, float]:
    values = evaluate(qrels, run, "ndcg@10", make_comparable=True, return_mean=False)
    return {qid: round(float(v), 4) for qid, v in zip(qrels.keys(), values, strict=True)}


def _subset(judgments: Judgments, ids: Sequence[str]) -> Qrels:
    return Qrels({q: judgments.qrels[q] for q in ids})


def latency(results: dict[str, Ranked]) -> dict[str, dict[str, float]]:
    stages: dict[str, list[float]] = {}
    for r in results.values():
        for stage, ms in r.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    return {
        s: {"p50": round(float(np.percentile(v, 50)), 3), "p95": round(float(np.percentile(v, 95)), 3)}
        for s, v in stages.items()
    }


def score(judgments: Judgments, results: Sequence[PipelineResult]) -> dict[str, Any]:
    """Everything report.json holds about the pipelines."""
    splits = {
        "all": list(judgments.qrels),
        "dev": [q for q in judgments.qrels if judgments.split_of(q) == "dev"],
        "validation": [q for q in judgments.qrels if judgments.split_of(q) == "validation"],
    }
    out: dict[str, Any] = {}
    for result in results:
        entry: dict[str, Any] = {"seconds": round(result.seconds, 2), "latency_ms": latency(result.ranked)}
        for judged_only in (False, True):
            run = result.run(judged_only, judgments.qrels)
            key = "judged_only" if judged_only else "unjudged_irrelevant"
            entry[key] = {}
            for split, ids in splits.items():
                run_split = Run({q: run[q] for q in ids}, name=result.name)
                entry[key][split] = _metrics(_subset(judgments, ids), run_split)
        entry["per_query_ndcg10"] = _per_query_ndcg(
            _subset(judgments, splits["all"]), result.run(False, judgments.qrels)
        )
        llm = [r for r in result.ranked.values() if r.llm_calls or r.fallback or r.cache]
        if llm:
            entry["llm"] = {
                "calls": sum(r.llm_calls for r in llm),
                "tokens": sum(r.llm_tokens for r in llm),
                "fallbacks": dict(Counter(r.fallback for r in llm if r.fallback)),
                "cache_hits": sum(r.cache == "hit" for r in llm),
            }
        out[result.name] = entry
    return out


async def prepare_catalog(
    settings: Settings, files: Sequence[Path], catalog: str, embedder: Embedder
) -> tuple[EdgeVectorIndex, list[Product], IngestSummary]:
    items = [item for path in files for item in read_products(path)]
    products = [p for p in items if isinstance(p, Product)]
    index = EdgeVectorIndex(settings.data_dir)
    summary = await ingest(items, catalog, embedder, index, model_id=embedding_model_id(settings))
    bad = [i for i in items if isinstance(i, RowError)]
    if bad:
        print(f"eval: {len(bad)} catalog rows skipped (first: {bad[0].location}: {bad[0].message})")
    return index, products, summary


async def run_pipelines(
    settings: Settings,
    judgments: Judgments,
    names: Sequence[str],
    *,
    files: Sequence[Path],
    catalog: str = "eval",
    ingest_threads: int = 2,
    embed_cache: Path | None = None,
    collect_candidates: bool = False,
) -> EvalRun:
    started = time.perf_counter()
    ingest_embedder: Embedder = build_embedder(settings, threads=ingest_threads)
    if embed_cache is not None:
        ingest_embedder = CachedEmbedder(
            ingest_embedder, cache_path(embed_cache, embedding_model_id(settings))
        )
    index, products, summary = await prepare_catalog(settings, files, catalog, ingest_embedder)
    if isinstance(ingest_embedder, CachedEmbedder):
        ingest_embedder.save()
    embedder = build_embedder(settings)  # serving threads (torch's thread count is process-global)
    llm_client = build_llm(settings)
    stage: LLMStage | None = None
    if llm_client is not None:
        stage = build_stage(settings, llm_client, build_cache(settings))
    results = []
    candidates: Candidates | None = None
    fusion_runs: dict[str, dict[str, list[str]]] = {}
    ranking = build_ranking(settings, index)
    try:
        if ranking.model is not None and any(n.removesuffix("+llm") == "default" for n in names):
            await ranking.prepare(catalog)
        for name in names:
            pipeline: Pipeline = build_pipeline(
                name,
                settings=settings,
                products=products,
                embedder=embedder,
                index=index,
                catalog=catalog,
                llm=stage,
                ranking=ranking,
            )
            await pipeline("warm up", 10)
            result = PipelineResult(name)
            t0 = time.perf_counter()
            for qid, text in judgments.queries.items():
                result.ranked[qid] = await pipeline(text, DEPTH)
            result.seconds = time.perf_counter() - t0
            results.append(result)
        if collect_candidates:
            candidates = await collect_ranker_rows(settings, embedder, index, catalog, judgments)
            fusion_runs = await run_fusion_grid(embedder, index, catalog, judgments)
    finally:
        await index.close()
        if llm_client is not None:
            await llm_client.close()
    meta = {
        "catalog_products": len(products),
        "queries": len(judgments.queries),
        "judged_pairs": sum(len(v) for v in judgments.qrels.values()),
        "judged_per_query_median": statistics.median(len(v) for v in judgments.qrels.values()),
        "ingest": {
            "added": summary.added,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "seconds": round(summary.seconds, 1),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
        "ranker": ranking.model or ranking.unavailable,
        "settings": {
            k: v
            for k, v in settings.redacted().items()
            if k.startswith(("embed", "fusion", "retrieval", "llm_model", "llm_cand", "ranker"))
        },
    }
    return EvalRun(results, meta, candidates, fusion_runs)


FUSION_GRID = [
    Fusion(k=k, dense_weight=1.0, sparse_weight=w, depth=d)
    for k in (10, 60)
    for w in (1.0, 2.0, 3.0)
    for d in (50, 100)
]


def fusion_key(fusion: Fusion) -> str:
    return f"k={fusion.k} sparse={fusion.sparse_weight:g} depth={fusion.depth}"


async def run_fusion_grid(
    embedder: Embedder, index: EdgeVectorIndex, catalog: str, judgments: Judgments
) -> dict[str, dict[str, list[str]]]:
    """Hybrid retrieval (no ranker) at every fusion setting of `FUSION_GRID`, 10 results per query
    as the API serves a default page: for choosing the fusion by nested CV (evals/cvrun.py)."""
    vectors = {
        qid: (await asyncio.to_thread(embedder.embed, [text]))[0] for qid, text in judgments.queries.items()
    }
    out: dict[str, dict[str, list[str]]] = {}
    for fusion in FUSION_GRID:
        runs: dict[str, list[str]] = {}
        for qid, text in judgments.queries.items():
            query = VectorQuery(
                positives=(vectors[qid],), limit=10, sparse=query_vector(normalize_query(text)), fusion=fusion
            )
            runs[qid] = [h.product.id for h in await index.query(catalog, query)]
        out[fusion_key(fusion)] = runs
    return out


async def collect_ranker_rows(
    settings: Settings, embedder: Embedder, index: EdgeVectorIndex, catalog: str, judgments: Judgments
) -> Candidates:
    """The learned ranker's training rows: the `default` retrieval, through the search use case,
    with a ranking stage that records the features it computes (evals/ranker.py)."""
    recorder = RecordingRanker()
    stage = RankingStage(recorder, CatalogContexts(index), depth=settings.ranker_depth)
    if not await stage.prepare(catalog):
        raise RuntimeError(f"could not build the ranking statistics of catalog {catalog!r}")
    retrieval = retrieval_for("default", settings)
    assert retrieval is not None
    service = RecommendationService(embedder, index, None, retrieval, ranking=stage)
    return await collect(
        service, recorder, catalog, judgments.queries, judgments.qrels, depth=settings.ranker_depth
    )
