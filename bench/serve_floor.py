"""The in-process floor for bench.serve: what a `/search` must do, through the same adapters the
server builds, with no HTTP, one request at a time.

    python -m bench.serve_floor DATA_DIR CATALOG JUDGMENTS_CSV     (prints one JSON line)

Two floors, each timed per query (wall p50) and as process CPU per query:
  issue_floor   ONNX embed + Edge hybrid query for 10 results (issue #19's definition);
  served_floor  what the served path must do now: the same embed, the hybrid query at the
                ranker's depth, and the learned ranking stage over those candidates.
Own process: thread counts are process-global and the servers must not share its GIL.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from app.domain.lexical import query_vector
from app.domain.models import VectorQuery
from app.main import build_embedder, build_index, build_ranking, build_retrieval
from app.settings import EmbedBackend, Settings
from bench.serve import dev_queries


async def main(data_dir: Path, catalog: str, queries: list[str]) -> None:
    backend: EmbedBackend = "torch" if os.environ.get("AISLE_EMBED_BACKEND") == "torch" else "onnx"
    settings = Settings(data_dir=data_dir, embed_backend=backend)
    embedder = build_embedder(settings)
    index = build_index(settings)
    retrieval = build_retrieval(settings)
    ranking = build_ranking(settings, index)
    await ranking.warm()
    depth = max(10, ranking.depth if ranking.model is not None else 10)

    async def one(text: str, limit: int, rank: bool) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        vector = embedder.embed([text])[0]
        t1 = time.perf_counter()
        query = VectorQuery(
            positives=(vector,), limit=limit, sparse=query_vector(text), fusion=retrieval.fusion
        )
        items = await index.query(catalog, query)
        t2 = time.perf_counter()
        if rank:
            await ranking.apply(catalog, text, vector, items)
        t3 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000

    for q in queries[:10]:  # warm-up
        await one(q, depth, True)
    out = {}
    for name, limit, rank in (("issue_floor", 10, False), ("served_floor", depth, True)):
        parts = []
        cpu0 = time.process_time()
        for _ in range(2):
            for q in queries:
                parts.append(await one(q, limit, rank))
        cpu = (time.process_time() - cpu0) * 1000 / len(parts)
        totals = [sum(p) for p in parts]
        out[name] = {
            "p50_ms": round(float(np.percentile(totals, 50)), 2),
            "cpu_ms": round(cpu, 2),
            "embed_ms": round(float(np.median([p[0] for p in parts])), 2),
            "query_ms": round(float(np.median([p[1] for p in parts])), 2),
            "rank_ms": round(float(np.median([p[2] for p in parts])), 2),
            "limit": limit,
        }
    await index.close()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], dev_queries(Path(sys.argv[3]))))
