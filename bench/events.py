"""Event-collection benchmark: a real `aisle serve` (uvicorn, real model, Edge index, the default
SQLite control store, auth on) takes shopper events in batches while searches run beside them.
Reports figures, asserts nothing.

    .venv/bin/python -m bench.events [--seconds 20] [--products 500] [--rate 5000] [--batch 100]
                                     [--search-clients 4] [--event-clients 4] [--out bench/results/events.json]

Three phases on one server, in one run, so the figures are side by side on the same (shared,
noisy) machine:

1. `search`: `--search-clients` clients send searches back to back (vector ranking, no LLM);
2. `search+events`: the same searches, and `--event-clients` clients sending batches of
   `--batch` events paced to `--rate` events/s in all (the issue's goal: 5,000/s in batches of
   100), each batch committed to SQLite (WAL, synchronous=FULL: one fsync per batch) before the
   200; the models follow the log in the same process;
3. `events`: event clients alone, unpaced: the most this server accepts.

Per phase: searches' p50/p99 as the client saw them and as the server's Server-Timing says;
batches' p50/p99; events accepted (stored) per second. The headline is search p99 in phase 2 over
phase 1. Search and event clients run in two child processes, on the same two cores as the
server: read the figures as ratios, not capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.load import QUERIES, SAMPLE
from bench.serving import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "bench-events-admin-key-0123456789abcdefgh"
HEADERS = {"X-API-Key": ADMIN_KEY}
TYPES = ("view",) * 14 + ("click",) * 3 + ("add_to_cart",) * 2 + ("purchase",)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    stored: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def report(self, unit: str) -> dict[str, Any]:
        lat = np.array(self.latencies_ms or [0.0])
        server = np.array(self.server_ms or [0.0])
        out: dict[str, Any] = {
            f"{unit}_answered": len(self.latencies_ms),
            f"{unit}_per_s": round(len(self.latencies_ms) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "server_p50_ms": round(float(np.percentile(server, 50)), 2),
            "server_p99_ms": round(float(np.percentile(server, 99)), 2),
            "errors": dict(self.errors),
        }
        if unit == "batches":
            out["events_stored"] = self.stored
            out["events_accepted_per_s"] = round(self.stored / self.seconds, 1) if self.seconds else 0.0
        return out


def _record(tally: Tally, response: httpx.Response, start: float) -> bool:
    if response.status_code != 200:
        tally.error(f"http_{response.status_code}")
        return False
    tally.latencies_ms.append((time.perf_counter() - start) * 1000.0)
    tally.server_ms.append(float(response.headers["server-timing"].split("dur=")[1]))
    return True


def searches(url: str, clients: int, seconds: float) -> Tally:
    async def go() -> Tally:
        tally = Tally(seconds=seconds)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits, headers=HEADERS) as client:
            stop = time.monotonic() + seconds

            async def loop(seed: int) -> None:
                rng = random.Random(seed)
                while time.monotonic() < stop:
                    body = {"query": rng.choice(QUERIES), "limit": 10, "rerank": "none"}
                    start = time.perf_counter()
                    try:
                        _record(tally, await client.post("/v1/catalogs/icecat/search", json=body), start)
                    except httpx.TransportError as e:
                        tally.error(type(e).__name__)

            await asyncio.gather(*(loop(n) for n in range(clients)))
        return tally

    return asyncio.run(go())


def batch_of(rng: random.Random, items: list[str], size: int) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    events = []
    for _ in range(size):
        session = f"s{rng.randrange(20_000)}"
        kind = rng.choice(TYPES)
        event: dict[str, Any] = {
            "type": kind,
            "item_id": rng.choice(items),
            "session_id": session,
            "user_id": f"u{rng.randrange(5_000)}",
            "event_id": uuid.uuid4().hex,
            "timestamp": now,
        }
        if kind == "purchase":
            event["order_id"] = f"o-{session}"
        events.append(event)
    return {"events": events}


def events(url: str, clients: int, seconds: float, rate: float | None, size: int, items: list[str]) -> Tally:
    """`clients` senders; with `rate`, each paced to rate / clients events per second."""

    async def go() -> Tally:
        tally = Tally(seconds=seconds)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits, headers=HEADERS) as client:
            stop = time.monotonic() + seconds
            gap = size * clients / rate if rate else 0.0

            async def loop(seed: int) -> None:
                rng = random.Random(seed)
                due = time.monotonic() + gap * seed / clients  # staggered starts
                while time.monotonic() < stop:
                    if gap:
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                        due += gap
                    body = batch_of(rng, items, size)
                    start = time.perf_counter()
                    try:
                        response = await client.post("/v1/catalogs/icecat/events", json=body)
                    except httpx.TransportError as e:
                        tally.error(type(e).__name__)
                        continue
                    if _record(tally, response, start):
                        tally.stored += int(response.json()["stored"])

            await asyncio.gather(*(loop(n) for n in range(clients)))
        return tally

    return asyncio.run(go())


async def run(args: argparse.Namespace, url: str, items: list[str]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    s, e = args.search_clients, args.event_clients
    phases: dict[str, Any] = {}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        phases["search"] = {
            "search": (await loop.run_in_executor(pool, searches, url, s, args.seconds)).report("searches")
        }
        both = await asyncio.gather(
            loop.run_in_executor(pool, searches, url, s, args.seconds),
            loop.run_in_executor(pool, events, url, e, args.seconds, args.rate, args.batch, items),
        )
        phases["search+events"] = {"search": both[0].report("searches"), "events": both[1].report("batches")}
        alone = await loop.run_in_executor(pool, events, url, e, args.seconds, None, args.batch, items)
        phases["events"] = {"events": alone.report("batches")}
    for name, figures in phases.items():
        print(name, json.dumps(figures), flush=True)
    base, loaded = phases["search"]["search"], phases["search+events"]["search"]
    return {
        "phases": phases,
        "search_p99_ratio_client": round(loaded["p99_ms"] / base["p99_ms"], 2) if base["p99_ms"] else None,
        "search_p99_ratio_server": round(loaded["server_p99_ms"] / base["server_p99_ms"], 2)
        if base["server_p99_ms"]
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s offered in phase 2")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--search-clients", type=int, default=4)
    parser.add_argument("--event-clients", type=int, default=4)
    parser.add_argument("--env", nargs="*", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--out", default=str(ROOT / "bench/results/events.json"))
    parser.add_argument("--work-dir", default=None, help="reuse a data directory (ingest is incremental)")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="aisle-bench-events-"))
    work.mkdir(parents=True, exist_ok=True)
    sample = work / "sample.jsonl"
    with SAMPLE.open() as src:
        lines = [line for _, line in zip(range(args.products), src, strict=False)]
    sample.write_text("".join(lines))
    items = [json.loads(line)["id"] for line in lines]
    env = {**os.environ, "AISLE_DATA_DIR": str(work / "var"), "AISLE_INGEST_THREADS": "2"}
    aisle = str(Path(sys.executable).with_name("aisle"))
    subprocess.run([aisle, "ingest", str(sample), "--catalog", "icecat"], env=env, check=True)
    port = free_port()
    server_env = {
        **env,
        "PORT": str(port),
        "AISLE_ADMIN_KEY": ADMIN_KEY,
        "AISLE_RATE_LIMIT_RPS": "0",  # unlimited: the bench measures the server, not the limiter
        "AISLE_LOG_LEVEL": "warning",
        **dict(kv.split("=", 1) for kv in args.env),
    }
    server = subprocess.Popen([aisle, "serve"], env=server_env)
    url = f"http://127.0.0.1:{port}"
    try:

        async def go() -> dict[str, Any]:
            async with httpx.AsyncClient(base_url=url) as c:
                await wait_ready(c, 120)
            return await run(args, url, items)

        result = asyncio.run(go())
    finally:
        server.terminate()
        server.wait(30)
    db = work / "var" / "control.db"
    result["setup"] = {
        "command": " ".join(["python -m bench.events", *sys.argv[1:]]),
        "products": args.products,
        "seconds_per_phase": args.seconds,
        "offered_events_per_s": args.rate,
        "batch": args.batch,
        "search_clients": args.search_clients,
        "event_clients": args.event_clients,
        "store": "SQLite (WAL, synchronous=FULL), the default",
        "control_db_mb": round(db.stat().st_size / 1e6, 1) if db.exists() else None,
        "cores": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "phases"}))


if __name__ == "__main__":
    main()
