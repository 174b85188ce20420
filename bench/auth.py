"""Cost of the trust boundary per request: reports figures, asserts nothing.

One process, one Edge index (200 products of the bundled sample, real model), requests through
the ASGI app (httpx ASGITransport) on the cheapest route (`GET /v1/catalogs/icecat/products/{id}`),
so the guard's share is as visible as it gets. Variants, rounds alternating to spread drift:
auth off; auth on with a SQLite store and the default 5 s key cache; auth on with the cache off
(one SQLite read in a worker thread per request: what a cache miss costs). The in-process rate
limiter is on in both auth variants. Writes bench/results/auth.json.

    .venv/bin/python -m bench.auth
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.sqlite_store import SQLiteControlStore
from app.auth.admin import KeyAdmin
from app.auth.principal import Principal
from app.log import configure_logging
from app.main import Deps, build_embedder, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from embeddings.readers import read_products

ROOT = Path(__file__).resolve().parents[1]


async def timed(app: object, ids: list[str], headers: dict[str, str]) -> list[float]:
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aisle") as client:  # type: ignore[arg-type]
        for product_id in ids:
            t = time.perf_counter()
            (
                await client.get(f"/v1/catalogs/icecat/products/{product_id}", headers=headers)
            ).raise_for_status()
            out.append((time.perf_counter() - t) * 1000)
    return out


async def main() -> None:
    configure_logging("warning", json=True)  # the request lines would time the terminal
    tmp = Path(tempfile.mkdtemp(prefix="aisle-bench-auth-"))
    products = list(read_products(ROOT / "data/sample/icecat-sample.jsonl"))[:200]
    index = EdgeVectorIndex(tmp)
    embedder = build_embedder(Settings(data_dir=tmp), threads=2)
    await ingest(products, "icecat", embedder, index, model_id="bench")
    store = SQLiteControlStore(tmp / "control.db")
    await store.migrate()
    token = (await KeyAdmin(store).create(Principal.root("bench"), "bench", ["search"], ["icecat"])).token
    ids = [p.id for p in products if hasattr(p, "id")] * 2
    auth = {"auth": True, "admin_key": "b" * 40, "rate_limit_rps": 1e6, "rate_limit_burst": 1_000_000}
    variants = {
        "auth_off": (Settings(data_dir=tmp), {}),
        "auth_on_cached": (Settings(data_dir=tmp, **auth), {"X-API-Key": token}),  # type: ignore[arg-type]
        "auth_on_uncached": (Settings(data_dir=tmp, key_cache_s=0, **auth), {"X-API-Key": token}),  # type: ignore[arg-type]
    }
    apps = {
        name: (create_app(settings, Deps(embedder=embedder, index=index, store=store)), headers)
        for name, (settings, headers) in variants.items()
    }
    times: dict[str, list[float]] = {name: [] for name in apps}
    for app, headers in apps.values():
        async with app.lifespan():
            await timed(app, ids[:20], headers)  # warm up
    for _ in range(3):
        for name, (app, headers) in apps.items():
            async with app.lifespan():
                times[name] += await timed(app, ids, headers)
    p50 = {n: round(float(np.percentile(v, 50)), 3) for n, v in times.items()}
    results = {
        "route": "GET /v1/catalogs/icecat/products/{id}",
        "p50_ms": p50,
        "p99_ms": {n: round(float(np.percentile(v, 99)), 3) for n, v in times.items()},
        "requests_per_variant": len(times["auth_off"]),
        "auth_overhead_p50_ms": {
            "cached": round(p50["auth_on_cached"] - p50["auth_off"], 3),
            "uncached": round(p50["auth_on_uncached"] - p50["auth_off"], 3),
        },
    }
    await store.close()
    await index.close()
    out = ROOT / "bench/results/auth.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
