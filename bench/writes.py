"""Catalog write benchmark: a real `aisle serve` (real model, Qdrant Edge), real Icecat products.
Reports figures, asserts nothing.

    .venv/bin/python -m bench.writes --icecat-dir ../shared/data/icecat \\
        [--products 5000] [--batch 500] [--clients 2] [--idle-seconds 20] [--out bench/results/writes.json]

1. Raw embedding throughput: the products' texts (template v1) embedded in this process by the
   embedder the server's write path uses (AISLE_EMBED_THREADS=1, int8, batches of 64 sorted by
   length), with no server running: products/s.
2. A server on an empty data directory; a `base` catalog of 1,000 products from the bundled
   sample, pushed through the API with nothing else running (`upsert_alone`: the write path's
   throughput against the raw embedding's, on similar products).
3. Idle: `--clients` search clients send searches back to back (vector only, no LLM) for
   `--idle-seconds`: p50/p99, client-side and server-side (`Server-Timing`).
4. The same clients while `--products` Icecat products (read from `--icecat-dir` now, never
   committed) are pushed into a new `bulk` catalog by `aisle ingest --server`'s own code (NDJSON
   batches of `--batch`, each acknowledged once flushed): search p50/p99 during the upsert, and
   the upsert's throughput (products/s) against the raw embedding throughput.

The machine is shared (other engineers' builds and tests run on the same 2 cores): the load
average is reported beside the figures; read them as ratios measured side by side in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.serving import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data/sample/icecat-sample.jsonl"
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


@dataclass
class Latencies:
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def report(self) -> dict[str, Any]:
        client = np.array(self.client_ms or [0.0])
        server = np.array(self.server_ms or [0.0])
        return {
            "searches": len(self.client_ms),
            "errors": self.errors,
            "p50_ms": round(float(np.percentile(client, 50)), 1),
            "p99_ms": round(float(np.percentile(client, 99)), 1),
            "server_p50_ms": round(float(np.percentile(server, 50)), 1),
            "server_p99_ms": round(float(np.percentile(server, 99)), 1),
        }


def icecat_products(directory: Path, count: int) -> list[Any]:
    from app.domain.models import Product
    from embeddings.readers import read_products

    out: list[Product] = []
    for path in sorted(directory.glob("products-*.json")):
        out += [p for p in read_products(path) if isinstance(p, Product)]
        if len(out) >= count:
            break
    return out[:count]


def raw_embedding(products: list[Any], threads: int) -> dict[str, Any]:
    from app.main import build_embedder
    from app.settings import Settings
    from embeddings.text import product_text

    embedder = build_embedder(Settings(embed_threads=threads))
    texts = sorted((product_text(p) for p in products), key=len)
    embedder.embed(texts[:64])  # warm up
    start = time.perf_counter()
    for i in range(0, len(texts), 64):
        embedder.embed(texts[i : i + 64])
    seconds = time.perf_counter() - start
    return {
        "products": len(texts),
        "seconds": round(seconds, 1),
        "products_per_s": round(len(texts) / seconds, 1),
    }


async def searcher(client: httpx.AsyncClient, out: Latencies, stop: threading.Event, seed: int) -> None:
    n = seed
    while not stop.is_set():
        n += 1
        body = {"query": QUERIES[n % len(QUERIES)], "limit": 10, "rerank": "none"}
        start = time.perf_counter()
        try:
            response = await client.post("/v1/catalogs/base/search", json=body)
        except httpx.TransportError:
            out.errors += 1
            continue
        if response.status_code != 200:
            out.errors += 1
            continue
        out.client_ms.append((time.perf_counter() - start) * 1000.0)
        out.server_ms.append(float(response.headers["server-timing"].split("dur=")[1]))


async def searches(url: str, clients: int, stop: threading.Event) -> Latencies:
    out = Latencies()
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as client:
        await asyncio.gather(*(searcher(client, out, stop, seed * 3) for seed in range(clients)))
    return out


def push_products(url: str, catalog: str, products: list[Any], batch: int) -> dict[str, Any]:
    from app.cli_push import PushOptions, push

    items = [(f"row {n}", p) for n, p in enumerate(products, start=1)]
    options = PushOptions(server=url, catalog=catalog, batch_size=batch)
    with httpx.Client(base_url=url, timeout=600.0) as client:
        start = time.perf_counter()
        summary = push(items, options, client)
        seconds = time.perf_counter() - start
    return {
        "products": len(products),
        "batch": batch,
        "seconds": round(seconds, 1),
        "products_per_s": round(len(products) / seconds, 1),
        "created": summary.counts["created"],
        "embedded": summary.embedded,
        "failed": summary.failed,
        "retries": summary.retries,
    }


async def measure(url: str, args: argparse.Namespace, bulk: list[Any]) -> dict[str, Any]:
    stop = threading.Event()
    idle_task = asyncio.create_task(searches(url, args.clients, stop))
    await asyncio.sleep(args.idle_seconds)
    stop.set()
    idle = (await idle_task).report()
    print("idle", json.dumps(idle), flush=True)

    stop = threading.Event()
    during_task = asyncio.create_task(searches(url, args.clients, stop))
    loop = asyncio.get_running_loop()
    upsert = await loop.run_in_executor(None, push_products, url, "bulk", bulk, args.batch)
    stop.set()
    during = (await during_task).report()
    print("during upsert", json.dumps(during), flush=True)
    print("upsert", json.dumps(upsert), flush=True)
    return {"idle": idle, "during_upsert": during, "upsert": upsert}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--icecat-dir", required=True, type=Path)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--out", default=str(ROOT / "bench/results/writes.json"))
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

    from app.domain.models import Product
    from embeddings.readers import read_products

    bulk = icecat_products(args.icecat_dir, args.products)
    base = [p for p in read_products(SAMPLE) if isinstance(p, Product)][:1000]
    load_before = os.getloadavg()
    raw = raw_embedding(bulk, threads=1)
    print("raw embedding", json.dumps(raw), flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "AISLE_DATA_DIR": data_dir,
            "PORT": str(port),
            "AISLE_AUTH": "off",
            "AISLE_LOG_LEVEL": "warning",
        }
        env.pop("QDRANT_URL", None)
        server = subprocess.Popen([sys.executable, "-m", "app", "serve"], env=env, cwd=ROOT)
        try:

            async def ready() -> None:
                async with httpx.AsyncClient(base_url=url) as client:
                    await wait_ready(client, 300)

            asyncio.run(ready())
            alone = push_products(url, "base", base, args.batch)  # set-up, and the upsert with no searches
            print("base catalog (no searches running)", json.dumps(alone), flush=True)
            figures = {"upsert_alone": alone, **asyncio.run(measure(url, args, bulk))}
        finally:
            server.terminate()
            server.wait(60)
    idle, during = figures["idle"], figures["during_upsert"]
    result = {
        "command": "python -m bench.writes " + " ".join(sys.argv[1:]),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "raw_embedding": raw,
        **figures,
        "ratios": {
            "search_p50_during_over_idle": round(during["p50_ms"] / max(idle["p50_ms"], 1e-9), 2),
            "search_p99_during_over_idle": round(during["p99_ms"] / max(idle["p99_ms"], 1e-9), 2),
            "upsert_over_raw_embedding": round(
                figures["upsert"]["products_per_s"] / raw["products_per_s"], 2
            ),
            "upsert_alone_over_raw_embedding": round(
                figures["upsert_alone"]["products_per_s"] / raw["products_per_s"], 2
            ),
        },
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"]))


if __name__ == "__main__":
    main()
