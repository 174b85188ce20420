"""Load benchmark: a real `aisle serve` (uvicorn, real model, Edge index) under 8, 64 and 200
concurrent keep-alive clients. Reports figures, asserts nothing.

    .venv/bin/python -m bench.load [--seconds 20] [--products 1000] [--llm-share 0.25]
                                   [--keep-alive 75] [--out bench/results/load.json]

Set-up: the first `--products` rows of the bundled sample are ingested into a temporary data
directory; an OpenAI-compatible stub (its own process) answers every call after 2.5 s, past the
2 s LLM deadline, so every LLM-stage request times out and its `timings_ms.llm` shows whether the
deadline held (≈2000 ms) or ran over (event-loop lag: cancellation is delivered by the loop).
A `--llm-share` of the searches ask for `rerank: llm`; the rest are vector-only. The breaker and
the LLM bulkhead are opened wide so every one of them waits for the deadline.

Each phase runs `--seconds` with N client tasks sending back to back on one httpx pool of N
connections. Per phase: throughput (2xx/s), p50/p99 latency of answered requests, 503s from
admission control (`rejected`), other errors (5xx, transport errors), the LLM stage's p50/p99/max,
and /healthz p99 from a probe running beside the load. Latency is reported twice: as the client saw
it, and as the server's `Server-Timing` header says (admission wait included), overall and for
vector-only requests; the clients run in a child process, on the same cores. Between phases the pool idles 6 s (past
uvicorn's default 5 s keep-alive) and a keep-alive probe reuses connections at intervals straddling
the server's keep-alive timeout (the race that gave connection-level read errors).

The clients share the machine's cores with the server: at 200 clients the client process is part
of the load (its own scheduling shows in the client-side figures), so read the figures side by
side, not as capacity.
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
from concurrent.futures import ProcessPoolExecutor
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
    "toner cartridge black",
    "usb c hub",
]
LLM_STUB = """
import asyncio, sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await asyncio.sleep(float(sys.argv[2]))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"id":"x","object":"chat.completion",'
                b'"created":0,"model":"stub","choices":[{"index":0,"finish_reason":"stop",'
                b'"message":{"role":"assistant","content":"{\\\\"ranking\\\\": []}"}}]}'})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", timeout_keep_alive=120)
"""


@dataclass
class Phase:
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)  # Server-Timing: time inside the server
    server_vector_ms: list[float] = field(default_factory=list)  # the same, rerank "none" only
    llm_ms: list[float] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)
    rejected: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def report(self) -> dict[str, Any]:
        lat = np.array(self.latencies_ms or [0.0])
        llm = np.array(self.llm_ms or [0.0])
        health = np.array(self.health_ms or [0.0])
        server = np.array(self.server_ms or [0.0])
        vector = np.array(self.server_vector_ms or [0.0])
        return {
            "concurrency": self.concurrency,
            "seconds": self.seconds,
            "answered_2xx": len(self.latencies_ms),
            "throughput_rps": round(len(self.latencies_ms) / self.seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p99_ms": round(float(np.percentile(lat, 99)), 1),
            "server_p50_ms": round(float(np.percentile(server, 50)), 1),
            "server_p99_ms": round(float(np.percentile(server, 99)), 1),
            "server_vector_only_p50_ms": round(float(np.percentile(vector, 50)), 1),
            "server_vector_only_p99_ms": round(float(np.percentile(vector, 99)), 1),
            "rejected_503": self.rejected,
            "errors": dict(self.errors),
            "llm_stage_ms": {
                "n": len(self.llm_ms),
                "p50": round(float(np.percentile(llm, 50)), 1),
                "p99": round(float(np.percentile(llm, 99)), 1),
                "max": round(float(llm.max()), 1),
            },
            "healthz_p99_ms": round(float(np.percentile(health, 99)), 1),
        }


async def client_loop(
    client: httpx.AsyncClient, phase: Phase, stop: float, llm_share: float, seed: int
) -> None:
    rng = random.Random(phase.concurrency * 7919 + seed)  # each client its own, repeatable sequence
    while time.monotonic() < stop:
        llm = rng.random() < llm_share
        body = {"query": rng.choice(QUERIES), "limit": 10, "rerank": "llm" if llm else "none"}
        start = time.perf_counter()
        try:
            response = await client.post("/v1/catalogs/icecat/search", json=body)
        except httpx.TransportError as e:
            phase.error(type(e).__name__)
            continue
        elapsed = (time.perf_counter() - start) * 1000.0
        if response.status_code == 200:
            phase.latencies_ms.append(elapsed)
            server = float(response.headers["server-timing"].split("dur=")[1])
            phase.server_ms.append(server)
            if not llm:
                phase.server_vector_ms.append(server)
            if llm:
                phase.llm_ms.append(float(response.json()["timings_ms"]["llm"]))
        elif response.status_code == 503 and response.json().get("error") == "overloaded":
            phase.rejected += 1
            await asyncio.sleep(0.05)  # a client honouring Retry-After would wait longer
        else:
            phase.error(f"http_{response.status_code}")


async def health_probe(url: str, phase: Phase, stop: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as probe:
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                await probe.get("/healthz")
                phase.health_ms.append((time.perf_counter() - start) * 1000.0)
            except httpx.TransportError:
                phase.error("healthz_transport")
            await asyncio.sleep(0.25)


async def keep_alive_probe(url: str, keep_alive_s: float, stop: float) -> dict[str, int]:
    """20 connections, each reused after an idle gap drawn around the server's keep-alive."""
    out = {"requests": 0, "errors": 0}
    rng = random.Random(5)

    async def one() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=httpx.Limits(max_connections=1)) as c:
            while time.monotonic() < stop:
                try:
                    await c.get("/healthz")
                except httpx.TransportError:
                    out["errors"] += 1
                out["requests"] += 1
                await asyncio.sleep(keep_alive_s + rng.uniform(-0.02, 0.02))

    await asyncio.gather(*(one() for _ in range(20)))
    return out


def load_phase(url: str, n: int, seconds: float, llm_share: float) -> Phase:
    """One phase's clients, in their own process (see run)."""

    async def go() -> Phase:
        phase = Phase(n, seconds)
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
        async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as client:
            stop = time.monotonic() + seconds
            await asyncio.gather(*(client_loop(client, phase, stop, llm_share, seed) for seed in range(n)))
            await asyncio.sleep(6.0)  # idle past uvicorn's default keep-alive, then reuse the pool
            for _ in range(n):
                try:
                    await client.get("/healthz")
                except httpx.TransportError as e:
                    phase.error(f"after_idle_{type(e).__name__}")
        return phase

    return asyncio.run(go())


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Load clients run in a child process: the probes here are not queued behind 200 client
    tasks in one event loop (the first version measured its own client's lag)."""
    phases = []
    total = len(args.concurrency) * (args.seconds + 6) + 5
    probe = asyncio.create_task(keep_alive_probe(url, args.probe_gap, time.monotonic() + total))
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for n in args.concurrency:
            health = Phase(n, args.seconds)
            load = loop.run_in_executor(pool, load_phase, url, n, args.seconds, args.llm_share)
            await health_probe(url, health, time.monotonic() + args.seconds)
            phase = await load
            phase.health_ms = health.health_ms
            report = phase.report()
            print(json.dumps(report), flush=True)
            phases.append(report)
    return {"phases": phases, "keep_alive_probe": await probe}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--llm-share", type=float, default=0.25)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64, 200])
    parser.add_argument("--keep-alive", type=int, default=None, help="AISLE_KEEP_ALIVE_S for the server")
    parser.add_argument("--probe-gap", type=float, default=5.0, help="keep-alive probe's idle gap, s")
    parser.add_argument("--env", nargs="*", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--out", default=str(ROOT / "bench/results/load.json"))
    parser.add_argument("--work-dir", default=None, help="reuse a data directory (ingest is incremental)")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="aisle-bench-load-"))
    work.mkdir(parents=True, exist_ok=True)
    sample = work / "sample.jsonl"
    with SAMPLE.open() as src:
        sample.write_text("".join(line for _, line in zip(range(args.products), src, strict=False)))
    env = {**os.environ, "AISLE_DATA_DIR": str(work / "var"), "AISLE_INGEST_THREADS": "2"}
    aisle = str(Path(sys.executable).with_name("aisle"))
    subprocess.run([aisle, "ingest", str(sample), "--catalog", "icecat"], env=env, check=True)

    llm_port, port = free_port(), free_port()
    stub = subprocess.Popen([sys.executable, "-c", LLM_STUB, str(llm_port), "2.5"])
    server_env = {
        **env,
        "PORT": str(port),
        "AISLE_AUTH": "off",  # local benchmark on loopback: it measures admission, not keys
        "LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "LLM_MODEL": "stub",
        "LLM_DEADLINE_MS": "2000",
        # Every LLM request must meet the deadline itself: no breaker opening after 10 timeouts,
        # no bulkhead refusing past 8 calls (both would answer at once, hiding an overrun).
        "LLM_BREAKER_MIN_CALLS": "10000",
        "LLM_MAX_IN_FLIGHT": "1024",
        "AISLE_LOG_LEVEL": "warning",
        **({"AISLE_KEEP_ALIVE_S": str(args.keep_alive)} if args.keep_alive else {}),
        **dict(kv.split("=", 1) for kv in args.env),
    }
    server = subprocess.Popen([aisle, "serve"], env=server_env)
    url = f"http://127.0.0.1:{port}"
    try:

        async def go() -> dict[str, Any]:
            async with httpx.AsyncClient(base_url=url) as c:
                await wait_ready(c, 120)
            return await run(args, url)

        result = asyncio.run(go())
    finally:
        server.terminate()
        stub.terminate()
        server.wait(30)
        stub.wait(30)
    result["setup"] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "products": args.products,
        "seconds_per_phase": args.seconds,
        "llm_share": args.llm_share,
        "llm_stub_delay_s": 2.5,
        "llm_deadline_ms": 2000,
        "server_env": {k: v for k, v in server_env.items() if k.startswith(("AISLE_", "LLM_"))}
        | {"AISLE_DATA_DIR": "<tmp>"},
        "cores": os.cpu_count(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["keep_alive_probe"]))


if __name__ == "__main__":
    main()
