"""Ranker feature extraction, the vectorised one against the previous per-candidate loops (issue
#19): reports figures, asserts nothing.

    python -m bench.ranker_features [--work-dir var/icecat-full --catalog eval] [--rounds 5]

In one process, over the same catalog and the same real candidates (each judged query's top
`ranker_depth` retrieval candidates): builds the catalog statistics both ways (seconds, and the
memory tracemalloc sees: held after the build, peak during it), checks the two extractions agree
(largest absolute difference), then times both, interleaved per request so both see the same
machine load, alone and with the model's scoring after it (the ranking stage's compute). The previous code is the frozen copy in tests/reference_ranking.py.
Without --work-dir it ingests the bundled sample (3,000 products) into a temporary directory.
Writes bench/results/ranker_features.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.lightgbm_ranker import LightGBMRanker
from app.main import build_embedder, build_retrieval
from app.ranking.catalog import build_context
from app.ranking.features import extract
from app.ranking.stage import rank_query
from app.search.service import RecommendationService
from app.settings import Settings, embedding_model_id
from bench.ranker import JUDGMENTS, ROOT, SAMPLE, pct
from embeddings.ingest import ingest
from embeddings.readers import read_products
from evals.datasets import read_judgments
from tests import reference_ranking

OUT = ROOT / "bench/results/ranker_features.json"


def measured_build(build: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    tracemalloc.start()
    t = time.perf_counter()
    built = build()
    seconds = time.perf_counter() - t
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return built, {
        "seconds": round(seconds, 2),
        "held_mb": round(held / 2**20, 1),
        "peak_mb": round(peak / 2**20, 1),
    }


async def run(
    args: argparse.Namespace, index: EdgeVectorIndex, settings: Settings, catalog: str
) -> dict[str, Any]:
    ids = sorted(await index.fingerprints(catalog))
    products, vectors = [], {}
    for start in range(0, len(ids), 512):
        for record in await index.retrieve(catalog, ids[start : start + 512]):
            products.append(record.product)
            vectors[record.product.id] = np.asarray(record.vector, dtype=np.float32)
    context, new_build = measured_build(lambda: build_context(products, vectors))
    old_stats, old_build = measured_build(lambda: reference_ranking.build_stats(products, vectors))
    service = RecommendationService(build_embedder(settings), index, None, build_retrieval(settings))
    requests = []
    for text in read_judgments(JUDGMENTS).queries.values():
        items = (await service.search(catalog, text, limit=settings.ranker_depth)).items
        requests.append((rank_query(text, await service.embed_query(text), context), items))
    worst = max(
        float(
            np.nanmax(
                np.abs(extract(q, items, context.stats) - reference_ranking.extract(q, items, old_stats)),
                initial=0.0,
            )
        )
        for q, items in requests
    )
    assert settings.ranker_model is not None
    ranker = LightGBMRanker.load(settings.ranker_model)
    times: dict[str, list[float]] = {"previous": [], "vectorised": []}
    stage: dict[str, list[float]] = {"previous": [], "vectorised": []}
    for r in range(args.rounds):
        for i, (q, items) in enumerate(requests):
            order = ("previous", "vectorised") if (i + r) % 2 else ("vectorised", "previous")
            for name in order:
                t = time.perf_counter()
                if name == "previous":
                    rows = reference_ranking.extract(q, items, old_stats)
                else:
                    rows = extract(q, items, context.stats)
                t1 = time.perf_counter()
                ranker.score(rows)
                times[name].append((t1 - t) * 1000)
                stage[name].append((time.perf_counter() - t) * 1000)
    p50 = {name: pct(values, 50) for name, values in times.items()}
    return {
        "catalog_products": len(products),
        "requests": len(times["vectorised"]),
        "candidates_per_request_median": float(np.median([len(items) for _, items in requests])),
        "max_abs_difference": worst,
        "build": {"previous": old_build, "vectorised": new_build},
        "features_ms": {name: {"p50": p50[name], "p99": pct(values, 99)} for name, values in times.items()},
        "features_plus_model_ms": {
            name: {"p50": pct(values, 50), "p99": pct(values, 99)} for name, values in stage.items()
        },
        "speedup_p50": round(p50["previous"] / p50["vectorised"], 2),
    }


async def main(args: argparse.Namespace) -> None:
    settings = Settings.from_env(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.work_dir or Path(tmp)
        settings = replace(settings, data_dir=data_dir)
        index = EdgeVectorIndex(data_dir)
        catalog = args.catalog
        if args.work_dir is None:
            catalog = "bench"
            embedder = build_embedder(settings, threads=os.cpu_count() or 1)
            await ingest(
                list(read_products(SAMPLE)), catalog, embedder, index, model_id=embedding_model_id(settings)
            )
        try:
            figures = await run(args, index, settings, catalog)
        finally:
            await index.close()
    result = {
        "command": "python -m bench.ranker_features "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other engineers' jobs",
        **figures,
    }
    print(json.dumps(result, indent=2))
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", type=Path, default=None, help="a data dir holding an ingested catalog")
    parser.add_argument("--catalog", default="eval")
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
