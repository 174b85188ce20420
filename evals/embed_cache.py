"""An `Embedder` that remembers: vectors by (model id, text) in a SQLite file under var/, so the
bundle eval re-embeds only the products whose text changed (a category change rewrites a
product's text) instead of the whole 19,406 + 12,491 products (20+ minutes on the shared 2-core
machine). Evals only: the service never caches vectors this way.

    python -m evals.embed_cache --from-index var/evals-bundles/icecat --catalog icecat

fills the cache from an index built earlier (its stored vectors, keyed by the text each stored
product embeds to today).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.adapters.edge_index import EdgeVectorIndex
from app.ports import Embedder
from app.settings import Settings, embedding_model_id
from embeddings.text import product_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT / "var" / "embed-cache.sqlite"


def _key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\0{text}".encode()).hexdigest()


class VectorCache:
    def __init__(self, path: Path, model_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._lock = threading.Lock()
        self.model_id = model_id

    def get(self, texts: Sequence[str]) -> dict[str, list[float]]:
        keys = {_key(self.model_id, t): t for t in texts}
        found: dict[str, list[float]] = {}
        with self._lock:
            items = list(keys)
            for start in range(0, len(items), 500):
                chunk = items[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})",
                    chunk,
                ):
                    found[keys[key]] = np.frombuffer(blob, dtype=np.float32).tolist()
        return found

    def put(self, pairs: Sequence[tuple[str, Sequence[float]]]) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                [(_key(self.model_id, t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in pairs],
            )
            self._db.commit()


class CachedEmbedder:
    def __init__(self, inner: Embedder, cache: VectorCache) -> None:
        self._inner = inner
        self._cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        known = self._cache.get(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = self._inner.embed(missing)
            self._cache.put(list(zip(missing, fresh, strict=True)))
            known |= dict(zip(missing, fresh, strict=True))
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return [known[t] for t in texts]


async def _backfill(data_dir: Path, catalog: str, cache: VectorCache) -> int:
    index = EdgeVectorIndex(data_dir)
    try:
        ids = list(await index.fingerprints(catalog))
        added = 0
        for start in range(0, len(ids), 1000):
            records = await index.retrieve(catalog, ids[start : start + 1000])
            cache.put([(product_text(r.product), r.vector) for r in records])
            added += len(records)
        return added
    finally:
        await index.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from-index", type=Path, required=True, help="an Edge data directory")
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    cache = VectorCache(args.cache, embedding_model_id(Settings()))
    added = asyncio.run(_backfill(args.from_index, args.catalog, cache))
    print(f"{added} vectors from {args.from_index} ({args.catalog}) -> {args.cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
