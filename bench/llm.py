"""LLM-stage benchmark: reports figures, asserts nothing. `make bench-llm` (about 5 minutes).

In one run, over the bundled sample (real model, Edge index) and a real OpenAI-compatible server
(llama.cpp via xllamacpp serving SmolLM2-135M-Instruct, scripts/llm_server.py):
  1. /search p50: vector only vs LLM re-rank cache miss vs cache hit (10 real dev queries);
  2. what the small model did on those 10 queries: valid re-rank, or fallback and why;
  3. p50/p99 with a dead LLM endpoint (accepts TCP, never answers) vs the 2 s deadline;
  4. upstream calls made for 20 identical concurrent requests.
Requests go through the ASGI app in-process (httpx ASGITransport), so HTTP parsing and routing
are included but not the network. Writes bench/results/llm.json.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.memory_cache import MemoryCache
from app.adapters.openai_llm_client import OpenAILLMClient
from app.domain.llm import LLMRequest, LLMResponse
from app.domain.models import Product
from app.main import Deps, build_embedder, create_app
from app.settings import Settings
from bench.serving import free_port
from embeddings.ingest import ingest
from embeddings.readers import read_products

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench/results/llm.json"
QUERIES = [
    "bluetooth speaker",
    "wireless mouse",
    "usb cable",
    "laptop bag",
    "printer ink",
    "external hard drive",
    "gaming keyboard",
    "hdmi cable",
    "webcam",
    "phone charger",
]


class CountingLLM:
    """Counts upstream calls (a bench-only decorator over the real adapter)."""

    def __init__(self, inner: OpenAILLMClient) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def model(self) -> str:
        return self.inner.model

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        return await self.inner.complete(request)

    async def close(self) -> None:
        await self.inner.close()


def blackhole() -> int:
    """A TCP server that accepts connections and never answers: a hung LLM endpoint."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return int(server.getsockname()[1])


def p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    r = await client.post("/v1/catalogs/icecat/search", json=body)
    r.raise_for_status()
    return (time.perf_counter() - t) * 1000, r.json()


def start_llm_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "scripts.llm_server", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.25)
    return server, url


async def main(server: subprocess.Popen[bytes], url: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aisle-bench-llm-"))
    settings = Settings(data_dir=tmp)
    embedder = build_embedder(settings)
    index = EdgeVectorIndex(tmp)
    products = [x for x in read_products(ROOT / "data/sample/icecat-sample.jsonl") if isinstance(x, Product)]
    await ingest(products, "icecat", build_embedder(settings, threads=2), index, model_id="bench")
    embedder = build_embedder(settings)  # torch threads are process-global: back to 1, as served

    results: dict[str, Any] = {"llm": "SmolLM2-135M-Instruct Q4_1 via xllamacpp (llama.cpp), 2 threads"}
    try:
        # 1 + 2: a generous deadline so the small model's behaviour shows, not our timeout.
        llm = CountingLLM(OpenAILLMClient(url, "unused", "smollm2"))
        config = Settings(data_dir=tmp, llm_base_url=url, llm_model="smollm2", llm_deadline_ms=60_000)
        app = create_app(config, Deps(embedder=embedder, index=index, llm=llm, cache=MemoryCache()))
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://aisle", timeout=120
            ) as client,
        ):
            await post(client, {"query": "warm up", "rerank": "none"})
            vector = [(await post(client, {"query": q, "rerank": "none"}))[0] for q in QUERIES * 3]
            miss, outcomes = [], []
            for q in QUERIES:
                ms, body = await post(client, {"query": q, "rerank": "llm"})
                miss.append(ms)
                outcomes.append(
                    {
                        "query": q,
                        "ranking": body["ranking"],
                        "fallback": (body["fallback"] or {}).get("reason"),
                        "ms": round(ms),
                    }
                )
            hit = [(await post(client, {"query": q, "rerank": "llm"}))[0] for q in QUERIES * 3]
            results["search_p50_ms"] = {
                "vector_only": p(vector, 50),
                "llm_cache_hit": p(hit, 50),
                "llm_cache_miss": p(miss, 50),
            }
            results["llm_cache_miss_p95_ms"] = p(miss, 95)
            results["small_model_on_10_queries"] = {
                "outcomes": outcomes,
                "summary": dict(Counter(o["fallback"] or "valid_llm_ranking" for o in outcomes)),
            }
            # 4: 20 identical concurrent requests, a query not asked before.
            before = llm.calls
            await asyncio.gather(
                *(post(client, {"query": "portable speaker", "rerank": "llm"}) for _ in range(20))
            )
            results["upstream_calls_for_20_identical_concurrent"] = llm.calls - before
        print(json.dumps(results, indent=2), flush=True)

        # 3: a dead (hung) LLM endpoint with the default 2 s deadline.
        dead = f"http://127.0.0.1:{blackhole()}/v1"
        config = Settings(data_dir=tmp, llm_base_url=dead, llm_model="smollm2")
        app = create_app(
            config,
            Deps(
                embedder=embedder,
                index=index,
                llm=OpenAILLMClient(dead, "unused", "smollm2"),
                cache=MemoryCache(),
            ),
        )
        async with (
            app.lifespan(),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://aisle", timeout=30
            ) as client,
        ):
            times, reasons = [], Counter()
            for n in range(20):
                ms, body = await post(client, {"query": f"{QUERIES[n % 10]} {n}", "rerank": "llm"})
                times.append(ms)
                reasons[(body["fallback"] or {}).get("reason")] += 1
        results["dead_llm_endpoint"] = {
            "deadline_ms": config.llm_deadline_ms,
            "p50_ms": p(times, 50),
            "p99_ms": p(times, 99),
            "fallbacks": dict(reasons),
            "requests": len(times),
        }
    finally:
        server.terminate()
        server.wait(10)
        await index.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main(*start_llm_server()))
