"""Serving benchmark (issue #19): reports figures, asserts nothing. `make bench-serve`.

    .venv/bin/python -m bench.serve --data-dir DIR --catalog NAME --queries JUDGMENTS.csv
        [--rounds 3] [--seconds 8] [--concurrency 1 8 32] [--baseline-ref main]
        [--contenders aisle aisle-torch] [--out bench/results/serve.json]

Contenders, each a real `aisle serve` (uvicorn, one worker, auth off, INFO logs to /dev/null: the
canonical request line is still built and written), all started once and measured in turn,
interleaved in rounds so the machine's other load falls on each alike:
  aisle         this tree, the default embedder (ONNX int8);
  aisle-torch   this tree, AISLE_EMBED_BACKEND=torch (the previous default);
  aisle@REF     with --baseline-ref: the tree at REF (`git archive`, same venv), default settings;
and in each round the in-process floor, run in its own process (bench.serve_floor): the same
adapters with no HTTP on one thread, ONNX embed + Edge hybrid query, at the issue's depth (10, no
ranker) and at the served depth with the learned ranker.

Every phase: N keep-alive clients (a raw asyncio HTTP/1.1 client: an httpx client costs more CPU
than the server path it measures, on the same 2 cores) post the real dev queries, cycled, for
`--seconds`. Reported per phase: throughput (2xx/s), p50/p99, errors, and the server's CPU per
request (utime+stime of its process from /proc over the phase, divided by answered requests).
Per contender: RSS after warm-up and peak (VmHWM). Ratios: CPU per request over the floor's, and
throughput at the top concurrency over the ceiling the floor's CPU implies for this machine's
cores (cores x 1000 / floor CPU ms). The data directory must hold the catalog already
(docs/performance.md says how to build the full Icecat one); the servers only read it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from bench.serving import free_port

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def dev_queries(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return list(dict.fromkeys(row["query"] for row in csv.DictReader(f)))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": out.get("VmRSS", 0.0), "peak_rss_mb": out.get("VmHWM", 0.0)}


# -- the client -------------------------------------------------------------------------------


async def _one_client(
    port: int, path: bytes, bodies: list[bytes], offset: int, stop: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.monotonic() < stop:
            body = bodies[i % len(bodies)]
            i += 1
            head = b"POST %s HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n" % path
            start = time.perf_counter()
            writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
            response = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in response.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            elapsed = (time.perf_counter() - start) * 1000.0
            status = int(response[9:12])
            if status == 200:
                out["latencies"].append(elapsed)
            else:
                out["errors"][str(status)] = out["errors"].get(str(status), 0) + 1
    except (OSError, asyncio.IncompleteReadError) as e:
        out["errors"][type(e).__name__] = out["errors"].get(type(e).__name__, 0) + 1
    finally:
        writer.close()


async def phase(
    pid: int, port: int, catalog: str, queries: list[str], n: int, seconds: float
) -> dict[str, Any]:
    bodies = [json.dumps({"query": q, "limit": 10}).encode() for q in queries]
    path = f"/v1/catalogs/{catalog}/search".encode()
    out: dict[str, Any] = {"latencies": [], "errors": {}}
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    stop = t0 + seconds
    await asyncio.gather(*(_one_client(port, path, bodies, k * 7, stop, out) for k in range(n)))
    wall, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    lat = np.array(out["latencies"] or [0.0])
    done = len(out["latencies"])
    return {
        "concurrency": n,
        "requests": done,
        "throughput_rps": round(done / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
        "server_cpu_ms_per_request": round(cpu * 1000.0 / max(1, done), 2),
        "errors": out["errors"],
    }


# -- servers ----------------------------------------------------------------------------------


def baseline_tree(ref: str, scratch: Path) -> Path:
    """The source tree at `ref`, unpacked under `scratch` (run with this venv)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    target = scratch / "source"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def start_server(
    data_dir: Path, env_extra: dict[str, str], source: Path | None
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "AISLE_DATA_DIR": str(data_dir),
        "AISLE_AUTH": "off",
        "PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **env_extra,
    }
    if source is not None:  # the baseline's own `app` package shadows the installed one
        env["PYTHONPATH"] = str(source)
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        env=env,
        cwd=str(source or ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


async def wait_ready(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nhost: bench\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            writer.close()
            if int(head[9:12]) == 200:
                return True
        except (OSError, asyncio.IncompleteReadError):
            pass
        await asyncio.sleep(0.5)
    return False


def run_floor(
    data_dir: Path, catalog: str, queries_file: Path, embed_backend: str = "onnx"
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.serve_floor", str(data_dir), catalog, str(queries_file)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "AISLE_EMBED_BACKEND": embed_backend},
        cwd=str(ROOT),
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# -- the run ----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return round(float(np.median(values)), 2) if values else 0.0


def summarise(rounds: list[dict[str, Any]], names: list[str], concurrency: list[int]) -> dict[str, Any]:
    floors = [r["floor"] for r in rounds]
    floor_cpu = median([f["issue_floor"]["cpu_ms"] for f in floors])
    served_floor_cpu = median([f["served_floor"]["cpu_ms"] for f in floors])
    cores = os.cpu_count() or 1
    summary: dict[str, Any] = {
        "floor": {
            "issue_floor_p50_ms": median([f["issue_floor"]["p50_ms"] for f in floors]),
            "issue_floor_cpu_ms": floor_cpu,
            "served_floor_p50_ms": median([f["served_floor"]["p50_ms"] for f in floors]),
            "served_floor_cpu_ms": served_floor_cpu,
            "served_floor_parts_ms": {
                k: median([f["served_floor"][k] for f in floors]) for k in ("embed_ms", "query_ms", "rank_ms")
            },
            "ceiling_rps_issue_floor": round(cores * 1000.0 / floor_cpu, 1) if floor_cpu else None,
            "ceiling_rps_served_floor": round(cores * 1000.0 / served_floor_cpu, 1)
            if served_floor_cpu
            else None,
        },
        "contenders": {},
    }
    for name in names:
        per_n: dict[str, Any] = {}
        for n in concurrency:
            rows = [p for r in rounds for p in r["servers"][name]["phases"] if p["concurrency"] == n]
            per_n[str(n)] = {
                key: median([p[key] for p in rows])
                for key in ("throughput_rps", "p50_ms", "p99_ms", "server_cpu_ms_per_request")
            } | {"errors": sum(sum(p["errors"].values()) for p in rows)}
        top = per_n[str(concurrency[-1])]
        cpu = median([per_n[str(n)]["server_cpu_ms_per_request"] for n in concurrency])
        memory = rounds[-1]["servers"][name]["memory"]
        summary["contenders"][name] = {
            "by_concurrency": per_n,
            "memory": memory,
            "ratios": {
                "cpu_per_request_over_issue_floor": round(cpu / floor_cpu, 2) if floor_cpu else None,
                "cpu_per_request_over_served_floor": round(cpu / served_floor_cpu, 2)
                if served_floor_cpu
                else None,
                "top_throughput_over_issue_ceiling": round(
                    top["throughput_rps"] / summary["floor"]["ceiling_rps_issue_floor"], 3
                )
                if floor_cpu
                else None,
                "top_throughput_over_served_ceiling": round(
                    top["throughput_rps"] / summary["floor"]["ceiling_rps_served_floor"], 3
                )
                if served_floor_cpu
                else None,
                "top_p99_over_sequential_p50": round(top["p99_ms"] / per_n[str(concurrency[0])]["p50_ms"], 2)
                if per_n[str(concurrency[0])]["p50_ms"]
                else None,
            },
        }
    return summary


Contenders = dict[str, tuple[dict[str, str], Path | None]]


def prepare(args: argparse.Namespace, scratch: Path) -> tuple[Contenders, dict[str, Path]]:
    """The contenders (extra env, source tree) and a copy of the data directory for each and for
    the floor: an Edge shard is locked by the one process that opens it."""
    contenders: Contenders = {}
    if "aisle" in args.contenders:
        contenders["aisle"] = ({}, None)
    if "aisle-torch" in args.contenders:
        contenders["aisle-torch"] = ({"AISLE_EMBED_BACKEND": "torch"}, None)
    if args.baseline_ref:
        contenders[f"aisle@{args.baseline_ref}"] = ({}, baseline_tree(args.baseline_ref, scratch))
    copies = {}
    for name in [*contenders, "floor"]:
        copies[name] = scratch / name.replace("@", "-")
        shutil.copytree(Path(args.data_dir).resolve(), copies[name])
    return contenders, copies


async def measure(
    args: argparse.Namespace, contenders: Contenders, copies: dict[str, Path]
) -> dict[str, Any]:
    queries_file = Path(args.queries)
    queries = dev_queries(queries_file)
    servers = {name: start_server(copies[name], env, src) for name, (env, src) in contenders.items()}
    rounds: list[dict[str, Any]] = []
    try:
        for name, (process, port) in servers.items():
            if not await wait_ready(port, 180):
                raise SystemExit(f"{name} never became ready (exit {process.poll()})")
            await phase(process.pid, port, args.catalog, queries, 4, 3.0)  # warm-up: caches, allocator
        for r in range(args.rounds):
            result: dict[str, Any] = {"round": r + 1, "servers": {}}
            order = list(servers) if r % 2 == 0 else list(reversed(servers))  # alternate who goes first
            for name in order:
                process, port = servers[name]
                phases = []
                for n in args.concurrency:
                    phases.append(await phase(process.pid, port, args.catalog, queries, n, args.seconds))
                    print(json.dumps({"round": r + 1, "contender": name} | phases[-1]), flush=True)
                result["servers"][name] = {"phases": phases, "memory": memory_mb(process.pid)}
            result["floor"] = run_floor(copies["floor"], args.catalog, queries_file)
            print(json.dumps({"round": r + 1, "floor": result["floor"]}), flush=True)
            rounds.append(result)
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            process.wait(30)
    return {
        "summary": summarise(rounds, list(servers), args.concurrency),
        "rounds": rounds,
        "setup": {
            "command": " ".join(["python -m bench.serve", *sys.argv[1:]]),
            "cores": os.cpu_count(),
            "queries": len(queries),
            "seconds_per_phase": args.seconds,
            "rounds": args.rounds,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", required=True, help="a data directory holding the catalog")
    parser.add_argument("--catalog", default="icecat")
    parser.add_argument("--queries", required=True, help="judgments CSV: its distinct queries are sent")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--contenders", nargs="*", default=["aisle", "aisle-torch"])
    parser.add_argument("--baseline-ref", default=None, help="also serve the tree at this git ref")
    parser.add_argument("--out", default=str(ROOT / "bench/results/serve.json"))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="aisle-bench-serve-"))
    try:
        contenders, copies = prepare(args, scratch)
        result = asyncio.run(measure(args, contenders, copies))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
