"""Does a call hold Python's GIL? (issue #19). Reports, asserts nothing.

    python -m bench.gil_probe DATA_DIR CATALOG JUDGMENTS_CSV

A pure-Python counting thread runs alone, then beside a thread looping on (a) ONNX embedding,
(b) Edge hybrid queries at the served depth; its speed beside each, as a share of its speed alone,
says how much of the time the other thread held the GIL (about 100%: released; about 50% on two
cores or more: held for the whole call, the two threads take turns).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.adapters.edge_index import EdgeVectorIndex, edge_request
from app.domain.lexical import query_vector
from app.domain.models import VectorQuery
from app.main import build_embedder, build_retrieval
from app.settings import Settings
from bench.serve import dev_queries

SECONDS = 3.0


def count_for(seconds: float) -> int:
    n, stop = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        for _ in range(1000):
            n += 1
    return n


def beside(work: Callable[[], None]) -> int:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            work()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        return count_for(SECONDS)
    finally:
        stop.set()
        thread.join()


def main(data_dir: Path, catalog: str, queries: list[str]) -> None:
    settings = Settings(data_dir=data_dir)
    embedder = build_embedder(settings)
    index = EdgeVectorIndex(data_dir)
    fusion = build_retrieval(settings).fusion
    asyncio.run(index.catalogs())  # opens the shard
    shard = index._shards[catalog]  # the engine call alone, no thread hop
    vectors = embedder.embed(queries)
    requests = [
        edge_request(VectorQuery(positives=(v,), limit=100, sparse=query_vector(q), fusion=fusion))
        for q, v in zip(queries, vectors, strict=True)
    ]
    i = {"embed": 0, "edge": 0}

    def embed() -> None:
        embedder.embed([queries[i["embed"] % len(queries)]])
        i["embed"] += 1

    def edge() -> None:
        shard.query(requests[i["edge"] % len(requests)])
        i["edge"] += 1

    alone = count_for(SECONDS)
    out = {
        "beside_onnx_embed_pct": round(100.0 * beside(embed) / alone, 1),
        "beside_edge_query_pct": round(100.0 * beside(edge) / alone, 1),
        "calls": i,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], dev_queries(Path(sys.argv[3])))
