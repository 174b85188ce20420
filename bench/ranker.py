"""Learned-ranker benchmark: reports figures, asserts nothing (issue #11).

    python -m bench.ranker [--work-dir var/evals-full-onnx --catalog eval] [--rounds 5]

Measures, in one run on this machine:
  1. the ranking stage alone for 100 candidates per request (the budget is 2 ms): feature
     extraction and model scoring, p50/p99 over every judged query's real candidates;
  2. `/search` latency p50/p99 with the ranker on against off, in-process ASGI (litestar's
     AsyncTestClient: the whole app, middleware included, no network), two apps over the same
     embedder and index, requests interleaved on/off so both see the same machine load.
Without --work-dir it ingests the bundled sample (3,000 products) into a temporary directory.
Writes bench/results/ranker.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from litestar.testing import AsyncTestClient

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.lightgbm_ranker import LightGBMRanker
from app.main import Deps, build_embedder, build_retrieval, create_app
from app.ranking.catalog import CatalogContexts
from app.ranking.features import extract
from app.ranking.stage import RankingStage, rank_query
from app.search.service import RecommendationService
from app.settings import Settings, embedding_model_id
from embeddings.ingest import ingest
from embeddings.readers import read_products
from evals.datasets import read_judgments

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/sample/icecat-sample.jsonl"
JUDGMENTS = ROOT / "data/sample/judgments-dev.csv"
OUT = ROOT / "bench/results/ranker.json"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values), q)), 3)


async def stage_timings(
    settings: Settings, deps: Deps, catalog: str, queries: list[str], rounds: int
) -> dict[str, Any]:
    assert settings.ranker_model is not None
    ranker = LightGBMRanker.load(settings.ranker_model)
    contexts = CatalogContexts(deps.index)
    t0 = time.perf_counter()
    context = await contexts.get(catalog, wait=True)
    build_s = time.perf_counter() - t0
    assert context is not None
    plain = RecommendationService(deps.embedder, deps.index, None, build_retrieval(settings))
    requests = []
    for text in queries:
        items = (await plain.search(catalog, text, limit=settings.ranker_depth)).items
        vector = await plain.embed_query(text)
        requests.append((text, vector, items))
    extract_ms, score_ms, total_ms, sizes = [], [], [], []
    for _ in range(rounds):
        for text, vector, items in requests:
            t = time.perf_counter()
            rows = extract(rank_query(text, vector, context), items, context.stats)
            t1 = time.perf_counter()
            ranker.score(rows)
            t2 = time.perf_counter()
            RankingStage._rank(ranker, context, text, vector, items)
            t3 = time.perf_counter()
            extract_ms.append((t1 - t) * 1000)
            score_ms.append((t2 - t1) * 1000)
            total_ms.append((t3 - t2) * 1000)
            sizes.append(len(items))
    return {
        "catalog_products": context.stats.size,
        "context_build_s": round(build_s, 2),
        "candidates_per_request_median": float(np.median(sizes)),
        "requests": len(total_ms),
        "features_ms": {"p50": pct(extract_ms, 50), "p99": pct(extract_ms, 99)},
        "model_ms": {"p50": pct(score_ms, 50), "p99": pct(score_ms, 99)},
        "stage_total_ms": {"p50": pct(total_ms, 50), "p99": pct(total_ms, 99)},
    }


async def search_timings(
    settings: Settings, deps: Deps, catalog: str, queries: list[str], rounds: int
) -> dict[str, Any]:
    apps = {
        "ranker_on": create_app(settings, deps),
        "ranker_off": create_app(replace(settings, ranker_model=None), deps),
    }
    times: dict[str, list[float]] = {name: [] for name in apps}
    server_ms: dict[str, list[float]] = {name: [] for name in apps}
    stages: dict[str, dict[str, list[float]]] = {name: {} for name in apps}
    async with AsyncTestClient(apps["ranker_on"]) as on, AsyncTestClient(apps["ranker_off"]) as off:
        clients = {"ranker_on": on, "ranker_off": off}
        for client in clients.values():  # warm-up: first requests load lazily initialised parts
            for text in queries[:5]:
                await client.post(f"/v1/catalogs/{catalog}/search", json={"query": text})
        for r in range(rounds):
            for i, text in enumerate(queries):
                order = list(clients) if (i + r) % 2 == 0 else list(reversed(clients))
                for name in order:
                    t = time.perf_counter()
                    response = await clients[name].post(
                        f"/v1/catalogs/{catalog}/search", json={"query": text}
                    )
                    times[name].append((time.perf_counter() - t) * 1000)
                    body = response.json()
                    server_ms[name].append(body["timings_ms"]["total"])
                    for stage, ms in body["timings_ms"].items():
                        stages[name].setdefault(stage, []).append(ms)
                    if name == "ranker_on":
                        assert body["ranker"]["model"], body["ranker"]
    out: dict[str, Any] = {}
    for name in apps:
        out[name] = {
            "requests": len(times[name]),
            "p50_ms": pct(times[name], 50),
            "p99_ms": pct(times[name], 99),
            "server_total_p50_ms": pct(server_ms[name], 50),
            "server_total_p99_ms": pct(server_ms[name], 99),
            "server_stage_p50_ms": {stage: pct(v, 50) for stage, v in stages[name].items()},
        }
    out["p50_ratio_on_off"] = round(out["ranker_on"]["p50_ms"] / out["ranker_off"]["p50_ms"], 3)
    out["p99_ratio_on_off"] = round(out["ranker_on"]["p99_ms"] / out["ranker_off"]["p99_ms"], 3)
    return out


async def main(args: argparse.Namespace) -> None:
    settings = Settings.from_env(os.environ)
    queries = list(read_judgments(JUDGMENTS).queries.values())
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.work_dir or Path(tmp)
        settings = replace(settings, data_dir=data_dir)
        embedder = build_embedder(settings)
        index = EdgeVectorIndex(data_dir)
        catalog = args.catalog
        if args.work_dir is None:
            catalog = "bench"
            items = list(read_products(SAMPLE))
            await ingest(
                items,
                catalog,
                build_embedder(settings, threads=os.cpu_count() or 1),
                index,
                model_id=embedding_model_id(settings),
            )
        deps = Deps(embedder=embedder, index=index)
        try:
            stage = await stage_timings(settings, deps, catalog, queries, args.rounds)
            print(json.dumps({"stage": stage}, indent=2), flush=True)
            search = await search_timings(settings, deps, catalog, queries, args.rounds)
            print(json.dumps({"search": search}, indent=2), flush=True)
        finally:
            await index.close()
    result = {
        "command": "python -m bench.ranker "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other engineers' jobs",
        "embed_backend": settings.embed_backend,
        "ranker_model": str(settings.ranker_model),
        "stage_100_candidates": stage,
        "search_in_process_asgi": search,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="an eval work dir holding an ingested catalog"
    )
    parser.add_argument("--catalog", default="eval")
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
