"""ONNX int8 vs torch fp32 embedder: query latency, batch throughput, cosine agreement.
Reports figures, asserts nothing: `python -m bench.onnx` (about 1 minute). Writes bench/results/onnx.json.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from app.adapters.onnx_embedder import OnnxEmbedder
from app.adapters.sentence_transformer_embedder import SentenceTransformerEmbedder, default_model_path
from app.domain.models import Product
from embeddings.readers import read_products
from embeddings.text import product_text

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["bluetooth speaker", "usb cable", "laptop bag", "aa batteries", "gaming keyboard"] * 20


def query_p50(embedder: OnnxEmbedder | SentenceTransformerEmbedder) -> float:
    embedder.embed(["warm up"])
    times = []
    for q in QUERIES:
        t = time.perf_counter()
        embedder.embed([q])
        times.append((time.perf_counter() - t) * 1000)
    return round(float(np.percentile(times, 50)), 2)


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="aisle-onnx-"))
    t = time.perf_counter()
    onnx = OnnxEmbedder(default_model_path(), cache, threads=1)
    prepare_s = round(time.perf_counter() - t, 1)
    fp32 = SentenceTransformerEmbedder(threads=1)
    products = [p for p in read_products(ROOT / "data/sample/icecat-sample.jsonl") if isinstance(p, Product)]
    texts = [product_text(p) for p in products[:300]]
    cos = (np.array(onnx.embed(texts)) * np.array(fp32.embed(texts))).sum(axis=1)
    results: dict[str, object] = {
        "export_and_load_s": prepare_s,
        "cosine_to_fp32": {"mean": round(float(cos.mean()), 4), "min": round(float(cos.min()), 4)},
        "query_p50_ms": {"onnx_int8": query_p50(onnx), "torch_fp32": query_p50(fp32)},
    }
    batch = {}
    for name, embedder in (
        ("onnx_int8", OnnxEmbedder(default_model_path(), cache, threads=2)),
        ("torch_fp32", SentenceTransformerEmbedder(threads=2)),
    ):
        t = time.perf_counter()
        embedder.embed(texts)
        batch[name] = round(len(texts) / (time.perf_counter() - t), 1)
    results["batch_products_per_s_2_threads"] = batch
    (ROOT / "bench/results/onnx.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
