"""In-process floor for `/search`: the same deps `aisle serve` builds, timed without HTTP.

Run in its own process (torch's thread count is process-global, so a benchmark process that built
other embedders would distort it): `python -m bench.floor DATA_DIR QUERIES_JSON`. Prints JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np

from app.domain.lexical import query_vector
from app.domain.models import VectorQuery
from app.main import build_deps, build_retrieval
from app.search.service import RecommendationService
from app.settings import Settings


async def main(data_dir: Path, queries: list[str]) -> None:
    settings = Settings(data_dir=data_dir)
    deps = await build_deps(settings)
    retrieval = build_retrieval(settings)  # the server's own retrieval (hybrid by default)
    service = RecommendationService(deps.embedder, deps.index, None, retrieval)
    await service.search("icecat", "warm up")
    via_service, direct = [], []
    for q in queries:
        t = time.perf_counter()
        await service.search("icecat", q, limit=10)
        via_service.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        vector = deps.embedder.embed([q])[0]
        sparse = query_vector(q) if retrieval.mode != "dense" else None
        query = VectorQuery(positives=(vector,), limit=10, sparse=sparse, fusion=retrieval.fusion)
        await deps.index.query("icecat", query)
        direct.append((time.perf_counter() - t) * 1000)
    await deps.index.close()
    print(
        json.dumps(
            {
                "service_search_p50_ms": round(float(np.percentile(via_service, 50)), 2),
                "direct_embed_plus_query_p50_ms": round(float(np.percentile(direct, 50)), 2),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())))
