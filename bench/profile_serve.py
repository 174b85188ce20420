"""Profile a served `/search` under load with py-spy (issue #19). Reports, asserts nothing.

    .venv/bin/pip install py-spy            # a profiling tool, never a project dependency
    .venv/bin/python -m bench.profile_serve --data-dir DIR --catalog NAME --queries JUDGMENTS.csv
        [--concurrency 8] [--seconds 20] [--out bench/results/profile]

Starts one `aisle serve` (defaults, auth off) on a copy of the data directory, runs the bench.serve
client at `--concurrency` for `--seconds` twice: once under `py-spy record --gil` (only samples
where a thread holds the GIL: with one process, that is the serial part that bounds throughput)
and once under `py-spy record --idle` off (every thread running on a core, GIL or not). Writes the
collapsed stacks (`*.txt`, for flamegraph tools) and `summary.json`: the hottest leaf frames and
the inclusive share of the named parts of the request path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.serve import ROOT, dev_queries, phase, start_server, wait_ready

# Inclusive parts of the request path: (label, substring of a frame in the stack).
PARTS = (
    ("onnx embed (session.run)", "run (onnxruntime"),
    ("tokenizer", "encode_batch"),
    ("embedder total", "embed (app/adapters/onnx_embedder.py"),
    ("edge query (engine call)", "run (app/adapters/edge_index.py"),
    ("payload -> Product", "scored (app/adapters/payload.py"),
    ("ranker total", "_rank (app/ranking/stage.py"),
    ("ranker features", "extract (app/ranking/features.py"),
    ("ranker model", "score (app/adapters/lightgbm_ranker.py"),
    ("sparse query vector", "query_vector (app/domain/lexical.py"),
    ("edge request building", "edge_request (app/adapters/edge_index.py"),
    ("request log line", "request_middleware"),
    ("structlog", "structlog/"),
    ("opentelemetry", "opentelemetry/"),
    ("prometheus", "prometheus_client/"),
    ("response DTO", "_respond (app/api/routes.py"),
    ("msgspec", "msgspec"),
    ("litestar", "litestar/"),
    ("uvicorn / h11 / httptools", "uvicorn/"),
    ("anyio thread hop", "anyio/"),
    ("asyncio event loop", "asyncio/"),
    ("threading (worker wait)", "threading.py"),
)


def summarise(collapsed: Path, top: int = 30) -> dict[str, Any]:
    leaves: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaves[frames[-1]] += n
        for label, needle in PARTS:
            if needle in stack:
                parts[label] += n

    def share(n: int) -> float:
        return round(100.0 * n / max(1, total), 1)

    return {
        "samples": total,
        "parts_inclusive_pct": {label: share(parts[label]) for label, _ in PARTS},
        "top_leaf_frames_pct": [[frame, share(n)] for frame, n in leaves.most_common(top)],
    }


async def load(
    pid: int, port: int, catalog: str, queries: list[str], n: int, seconds: float
) -> dict[str, Any]:
    return await phase(pid, port, catalog, queries, n, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--catalog", default="icecat")
    parser.add_argument("--queries", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--env", nargs="*", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--out", default=str(ROOT / "bench/results/profile"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    queries = dev_queries(Path(args.queries))
    scratch = Path(tempfile.mkdtemp(prefix="aisle-profile-"))
    shutil.copytree(Path(args.data_dir).resolve(), scratch / "data")
    env = dict(kv.split("=", 1) for kv in args.env)
    process, port = start_server(scratch / "data", env, None)
    report: dict[str, Any] = {"command": "python -m bench.profile_serve " + " ".join(sys.argv[1:])}
    try:

        async def run() -> None:
            if not await wait_ready(port, 180):
                raise SystemExit("server never became ready")
            await load(process.pid, port, args.catalog, queries, 4, 3.0)  # warm-up
            for mode, flags in (("gil", ["--gil"]), ("oncpu", [])):
                target = out / f"{mode}.txt"
                spy = await asyncio.create_subprocess_exec(
                    *[py_spy, "record", "--pid", str(process.pid), "--rate", str(args.rate)],
                    *["--format", "raw", "--output", str(target), "--duration", str(int(args.seconds))],
                    *["--nonblocking", *flags],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                result = await load(process.pid, port, args.catalog, queries, args.concurrency, args.seconds)
                await asyncio.wait_for(spy.wait(), 60)
                report[mode] = {"load": result, **summarise(target)}
                print(json.dumps({mode: report[mode]["parts_inclusive_pct"], "load": result}), flush=True)

        asyncio.run(run())
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)
    (out / "summary.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
