"""One contract, every Embedder: the hashing fake the unit tests use, the sentence-transformers
(torch) adapter and the ONNX int8 adapter.

Whatever the model, the use cases rely on the same things: one vector per text, in order, of
`dimension` floats, L2-normalised (so cosine is a dot product), the same text giving the same
vector, a batch giving each text (close to) the vector it gets alone, and texts that share words
closer than texts that do not. A new embedder gets one fixture here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.adapters.onnx_embedder import OnnxEmbedder
from app.adapters.sentence_transformer_embedder import SentenceTransformerEmbedder, default_model_path
from app.ports import Embedder
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.integration

TEXTS = [
    "waterproof bluetooth speaker",
    "portable waterproof bluetooth speaker",
    "braided usb c charging cable",
    "",
]


@pytest.fixture(scope="module", params=["hashing-fake", "sentence-transformers", "onnx-int8"])
def embedder(request: pytest.FixtureRequest, onnx_model_cache: Path) -> Embedder:
    if request.param == "hashing-fake":
        return HashingEmbedder()
    if request.param == "sentence-transformers":
        return SentenceTransformerEmbedder(threads=1)
    return OnnxEmbedder(default_model_path(), onnx_model_cache, threads=1)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_one_normalised_vector_of_dimension_floats_per_text_in_order(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    for vector in vectors:
        assert len(vector) == embedder.dimension
        assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-3)
    assert embedder.embed([]) == []


def test_the_same_text_gives_the_same_vector(embedder: Embedder) -> None:
    first, again = embedder.embed([TEXTS[0]]), embedder.embed([TEXTS[0]])
    assert cosine(first[0], again[0]) == pytest.approx(1.0, abs=1e-6)


def test_a_batch_gives_each_text_the_vector_it_gets_alone(embedder: Embedder) -> None:
    together = embedder.embed(TEXTS)
    for text, vector in zip(TEXTS, together, strict=True):
        # int8 activations are scaled per batch (ONNX): close, not identical
        assert cosine(vector, embedder.embed([text])[0]) > 0.95


def test_texts_that_share_words_are_closer_than_texts_that_do_not(embedder: Embedder) -> None:
    speaker, portable, cable, _ = embedder.embed(TEXTS)
    assert cosine(speaker, portable) > cosine(speaker, cable) + 0.2
