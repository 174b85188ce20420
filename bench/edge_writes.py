"""What a write costs on Qdrant Edge (qdrant-edge-py), and how long it holds the GIL.
Reports figures, asserts nothing.

    .venv/bin/python -m bench.edge_writes --icecat-dir ../shared/data/icecat [--out bench/results/edge_writes.json]

A shard of every Icecat product in `--icecat-dir` (read now, never committed; the bundled sample
without it) with random unit 384-d vectors and the real payloads and BM25 vectors, written through
`EdgeVectorIndex`. Then, each timed while a Python thread sleeps 0.5 ms in a loop and records its
longest gap (a call that keeps the GIL stalls that thread, and the event loop with it, for as long
as it runs): `flush` with nothing to write; one product's upsert + `flush`; 500 products' upsert +
`flush`; a dense query before and after `optimize`, and `optimize` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class GapMeter:
    """The longest stall of a thread that only sleeps: how long something else held the GIL."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(0.0005)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now

    def __enter__(self) -> GapMeter:
        self._thread.start()
        time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(0.02)
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any], repeat: int = 5) -> dict[str, float]:
    took, stalls = [], []
    for _ in range(repeat):
        with GapMeter() as meter:
            start = time.perf_counter()
            fn()
            took.append((time.perf_counter() - start) * 1000.0)
        stalls.append(max(meter.gaps) * 1000.0)
    return {
        "median_ms": round(float(np.median(took)), 1),
        "max_ms": round(max(took), 1),
        "longest_gil_stall_ms": round(max(stalls), 1),
    }


def products(icecat_dir: Path | None) -> list[Any]:
    from app.domain.models import Product
    from embeddings.readers import read_products

    paths = (
        sorted(icecat_dir.glob("products-*.json"))
        if icecat_dir
        else [ROOT / "data/sample/icecat-sample.jsonl"]
    )
    return [p for path in paths for p in read_products(path) if isinstance(p, Product)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--icecat-dir", type=Path, default=None)
    parser.add_argument("--out", default=str(ROOT / "bench/results/edge_writes.json"))
    args = parser.parse_args()

    from app.adapters.edge_index import EdgeVectorIndex
    from app.domain.lexical import document_vector
    from app.domain.models import IndexRecord, VectorQuery
    from embeddings.text import product_text

    catalog = products(args.icecat_dir)
    rng = np.random.default_rng(0)

    def vector() -> list[float]:
        v = rng.standard_normal(384).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def record(p: Any, tag: str) -> IndexRecord:
        return IndexRecord(p, vector(), tag, document_vector(p, product_text(p)))

    result: dict[str, Any] = {
        "command": "python -m bench.edge_writes"
        + (f" --icecat-dir {args.icecat_dir}" if args.icecat_dir else ""),
        "products": len(catalog),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as data_dir:
        index = EdgeVectorIndex(Path(data_dir))
        loop = asyncio.new_event_loop()
        run = loop.run_until_complete
        run(index.ensure_catalog("bench", 384))
        start = time.perf_counter()
        for i in range(0, len(catalog), 500):
            run(index.upsert("bench", [record(p, "a") for p in catalog[i : i + 500]]))
        run(index.flush("bench"))
        result["load_seconds"] = round(time.perf_counter() - start, 1)
        shard = index._shard("bench")  # the engine's own calls, so the stall is the engine's
        single = [record(p, "b") for p in catalog[:50]]
        batch = [record(p, "c") for p in catalog[:500]]
        query = VectorQuery(positives=(vector(),), limit=10)
        counter = iter(range(10_000))

        def one_write() -> None:
            run(index.upsert("bench", [single[next(counter) % len(single)]]))
            shard.flush()

        result["flush_clean"] = timed(shard.flush)
        result["upsert_1_and_flush"] = timed(one_write)
        result["upsert_500_and_flush"] = timed(lambda: (run(index.upsert("bench", batch)), shard.flush()), 3)
        result["dense_query_unoptimized"] = timed(lambda: run(index.query("bench", query)), 20)
        result["optimize"] = timed(shard.optimize, 1)
        result["dense_query_optimized"] = timed(lambda: run(index.query("bench", query)), 20)
        run(index.close())
        loop.close()
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
