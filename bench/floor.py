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

from app.domain.models import VectorQuery
from app.domain.service import RecommendationService
from app.main import build_deps
from app.settings import Settings


async def main(data_dir: Path, queries: list[str]) -> None:
    deps = await build_deps(Settings(data_dir=data_dir))
    service = RecommendationService(deps.embedder, deps.index)
    await service.search("icecat", "warm up")
    via_service, direct = [], []
    for q in queries:
        t = time.perf_counter()
        await service.search("icecat", q, limit=10)
        via_service.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        vector = deps.embedder.embed([q])[0]
        await deps.index.query("icecat", VectorQuery(positives=(vector,), limit=10))
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
