"""Overhead of tracing + metrics on /search: reports figures, asserts nothing.

One process, one index (the bundled sample, real model, Edge), requests through the ASGI app
(httpx ASGITransport). Variant A: tracing off (no-op tracer; metrics are always on). Variant B:
tracing on (SDK provider, batch span processor, in-memory exporter standing in for OTLP). The
metrics cost is also timed on its own (the calls one request makes). Rounds alternate A/B to
spread drift. Writes bench/results/observability.json.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.adapters.edge_index import EdgeVectorIndex
from app.main import Deps, build_embedder, create_app
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing, build_tracing
from app.settings import Settings
from embeddings.ingest import ingest
from embeddings.readers import read_products
from evals.datasets import read_chorus_csv

ROOT = Path(__file__).resolve().parents[1]


async def timed(app: object, queries: list[str]) -> list[float]:
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aisle") as client:  # type: ignore[arg-type]
        for q in queries:
            t = time.perf_counter()
            (await client.post("/v1/catalogs/icecat/search", json={"query": q})).raise_for_status()
            out.append((time.perf_counter() - t) * 1000)
    return out


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aisle-bench-obs-"))
    settings = Settings(data_dir=tmp)
    index = EdgeVectorIndex(tmp)
    await ingest(
        list(read_products(ROOT / "data/sample/icecat-sample.jsonl")),
        "icecat",
        build_embedder(settings, threads=2),
        index,
        model_id="bench",
    )
    embedder = build_embedder(settings)
    queries = list(read_chorus_csv(ROOT / "data/sample/judgments-dev.csv").queries.values())
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    variants = {
        "tracing_off": build_tracing(settings),
        "tracing_on": Tracing(provider.get_tracer("aisle"), provider),
    }
    apps = {
        name: create_app(settings, Deps(embedder=embedder, index=index), tracing=t)
        for name, t in variants.items()
    }
    times: dict[str, list[float]] = {name: [] for name in apps}
    for app in apps.values():
        async with app.lifespan():
            await timed(app, queries[:10])  # warm up
    for _ in range(3):
        for name, app in apps.items():
            async with app.lifespan():
                times[name] += await timed(app, queries)
    metrics = Metrics()
    t = time.perf_counter()
    for _ in range(10_000):
        metrics.observe_request("/v1/catalogs/{catalog}/search", "POST", 200, 0.01)
    metrics_us = (time.perf_counter() - t) / 10_000 * 1e6
    results = {
        "search_p50_ms": {n: round(float(np.percentile(v, 50)), 3) for n, v in times.items()},
        "search_p95_ms": {n: round(float(np.percentile(v, 95)), 3) for n, v in times.items()},
        "requests_per_variant": len(times["tracing_off"]),
        "metrics_cost_per_request_us": round(metrics_us, 2),
    }
    results["tracing_overhead_p50_ms"] = round(
        results["search_p50_ms"]["tracing_on"] - results["search_p50_ms"]["tracing_off"], 3
    )
    provider.shutdown()
    await index.close()
    out = ROOT / "bench/results/observability.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
