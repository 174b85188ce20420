"""The vectorised feature extraction computes what the per-candidate loops did (issue #19): the
bundled Icecat sample's products and the dev judgments' queries, each against 100 candidates
(its lexically closest products, some the statistics do not know, some edited since), compared
with a frozen copy of the previous extraction (tests/reference_ranking.py)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.domain.models import Product, ScoredProduct
from app.ranking.catalog import build_context
from app.ranking.features import FEATURES, extract
from app.ranking.stage import rank_query
from embeddings.readers import read_products
from tests import reference_ranking

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data/sample/icecat-sample.jsonl"
JUDGMENTS = ROOT / "data/sample/judgments-dev.csv"
CANDIDATES = 100


@pytest.fixture(scope="module")
def catalog() -> tuple[list[Product], dict[str, np.ndarray]]:
    products = [p for p in read_products(SAMPLE) if isinstance(p, Product)]
    rng = np.random.default_rng(7)
    vectors = {}
    for p in products:
        v = rng.normal(size=32)
        vectors[p.id] = (v / np.linalg.norm(v)).astype(np.float32)
    return products, vectors


def queries() -> list[str]:
    with JUDGMENTS.open(newline="") as f:
        texts = sorted({row["query"] for row in csv.DictReader(f)})
    return [*texts, "", "the", "logitech m185 usb-c 1m", "zzzz unknownword"]


def candidates(text: str, products: list[Product], unknown: list[Product]) -> list[ScoredProduct]:
    words = set(text.lower().split())
    closest = sorted(products, key=lambda p: -sum(w in f"{p.title} {p.description}".lower() for w in words))
    chosen = closest[: CANDIDATES - 10]
    # edited since the statistics were built: the product's own fields, the statistics' counts
    chosen[3:6] = [
        replace(p, title=p.title.upper(), price=None, in_stock=False, brand="") for p in chosen[3:6]
    ]
    return [ScoredProduct(p, 1.0, "") for p in [*chosen, *unknown]]


def test_features_match_the_previous_extraction(catalog: tuple[list[Product], dict[str, np.ndarray]]) -> None:
    products, vectors = catalog
    known, unknown = products[:-10], products[-10:]  # the last ten were ingested after the build
    context = build_context(known, {p.id: vectors[p.id] for p in known})
    old_stats = reference_ranking.build_stats(known, {p.id: vectors[p.id] for p in known})
    rng = np.random.default_rng(11)
    compared = 0
    for text in queries():
        vector = rng.normal(size=32)
        query = rank_query(text, (vector / np.linalg.norm(vector)).tolist(), context)
        items = candidates(text, known, unknown)
        new = extract(query, items, context.stats)
        old = reference_ranking.extract(query, items, old_stats)
        assert new.shape == old.shape == (len(items), len(FEATURES))
        np.testing.assert_array_equal(np.isnan(new), np.isnan(old), err_msg=text)
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-9, equal_nan=True, err_msg=text)
        compared += int(np.isfinite(old).sum())
    assert compared > 0


def test_features_match_without_vectors_or_candidates(
    catalog: tuple[list[Product], dict[str, np.ndarray]],
) -> None:
    products, _ = catalog
    context = build_context(products[:200], {})
    old_stats = reference_ranking.build_stats(products[:200], {})
    for text in ("laptop", "usb cable 2m"):
        query = rank_query(text, None, context)
        for items in ([], [ScoredProduct(p, 1.0, "") for p in products[150:250]]):
            new = extract(query, items, context.stats)
            old = reference_ranking.extract(query, items, old_stats)
            np.testing.assert_allclose(new, old, rtol=0, atol=1e-9, equal_nan=True)
