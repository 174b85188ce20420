"""A disk cache in front of an `Embedder`, for evals only: the same text embedded by the same model
gets the same vector back without running the model again.

Eval runs re-ingest the 19,406-product catalog whenever the sparse vectors or the payload change
(the content hash covers both) although the dense vectors did not change; embedding dominates that
cost (minutes on 2 shared cores). The cache is keyed by the text's SHA-1 and lives in one `.npz`
per embedding model id under the eval work dir (gitignored `var/`). Serving never uses it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.ports import Embedder

_FLUSH_EVERY = 4096


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def cache_path(root: Path, model_id: str) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_.@+" else "_" for c in model_id)
    return root / f"{slug}.npz"


class CachedEmbedder:
    def __init__(self, inner: Embedder, path: Path) -> None:
        self._inner = inner
        self._path = path
        self._vectors: dict[str, np.ndarray] = {}
        self._unsaved = 0
        self.hits = 0
        self.misses = 0
        if path.is_file():
            with np.load(path) as data:
                for key, row in zip(data["keys"], data["vectors"], strict=True):
                    self._vectors[str(key)] = row

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [_key(t) for t in texts]
        missing = list(
            dict.fromkeys(k_t for k_t in zip(keys, texts, strict=True) if k_t[0] not in self._vectors)
        )
        if missing:
            vectors = self._inner.embed([t for _, t in missing])
            for (key, _), vector in zip(missing, vectors, strict=True):
                self._vectors[key] = np.asarray(vector, dtype=np.float32)
            self._unsaved += len(missing)
            if self._unsaved >= _FLUSH_EVERY:
                self.save()
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        return [self._vectors[k].tolist() for k in keys]

    def save(self) -> None:
        if not self._unsaved and self._path.is_file():
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="U40")
        vectors = np.stack(list(self._vectors.values())) if self._vectors else np.zeros((0, self.dimension))
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, suffix=".npz")
        os.close(fd)
        np.savez(tmp, keys=keys, vectors=vectors.astype(np.float32))
        os.replace(tmp, self._path)
        self._unsaved = 0
