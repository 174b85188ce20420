"""The optional ONNX int8 embedder (AISLE_EMBED_BACKEND=onnx): exported once, cached, and close to
the torch fp32 model it comes from."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from app.adapters.onnx_embedder import OnnxEmbedder
from app.adapters.sentence_transformer_embedder import SentenceTransformerEmbedder, default_model_path
from app.main import build_embedder
from app.settings import Settings

pytestmark = pytest.mark.integration
TEXTS = ["bluetooth speaker", "Canon EOS digital camera with 18-55 mm lens", "HP 85 ink cartridge cyan", ""]


@pytest.fixture(scope="module")
def cache(onnx_model_cache: Path) -> Path:
    return onnx_model_cache


def test_the_export_is_cached_and_vectors_stay_close_to_fp32(cache: Path) -> None:
    onnx = OnnxEmbedder(default_model_path(), cache)
    exported = list(cache.glob("*/model.onnx"))
    assert len(exported) == 1
    mtime = exported[0].stat().st_mtime
    OnnxEmbedder(default_model_path(), cache)  # second start: reuses the export
    assert exported[0].stat().st_mtime == mtime
    fp32 = SentenceTransformerEmbedder(threads=1)
    for a, b in zip(onnx.embed(TEXTS), fp32.embed(TEXTS), strict=True):
        assert len(a) == onnx.dimension == 384
        assert math.sqrt(sum(x * x for x in a)) == pytest.approx(1.0, abs=1e-4)
        assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.97


def test_batches_come_back_in_input_order(cache: Path) -> None:
    onnx = OnnxEmbedder(default_model_path(), cache, batch_size=2)
    together = onnx.embed(TEXTS)
    alone = [onnx.embed([t])[0] for t in TEXTS]
    # int8 activations are scaled per batch, so a text's vector moves slightly with its batch
    # (cosine about 0.99); each batched vector must still be nearest to its own text's.
    for i, a in enumerate(together):
        sims = [sum(x * y for x, y in zip(a, b, strict=True)) for b in alone]
        assert max(range(len(sims)), key=sims.__getitem__) == i
        assert sims[i] > 0.95


def test_settings_select_the_backend(tmp_path: Path) -> None:
    embedder = build_embedder(Settings(data_dir=tmp_path, embed_backend="onnx"))
    assert isinstance(embedder, OnnxEmbedder)
