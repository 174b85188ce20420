"""Ranking features for (query, candidate) pairs: pure functions of the query, the retrieval
candidates (in retrieval order) and the catalog statistics.

The retrieval list contributes its rank only, not its score: a fused RRF score's scale changes
with the fusion settings (AISLE_FUSION_*), which would silently shift what the model was trained
on; dropping it cost nothing in CV (docs/evals.md). Per-field BM25 uses each field's own IDF and
mean length from the catalog (k1=1.2, b=0.75; brand and category are short, so b matters little). Scores whose scale varies by query
(BM25, cosine) also appear relative to the best candidate of the same query, which tree models
cannot derive themselves. Missing values are NaN (LightGBM routes them as learned).
`FEATURES` is the column order; the shipped model's manifest pins it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from app.domain.models import Product, ScoredProduct, Vector, filter_key
from app.ranking.query_types import Detection
from app.ranking.stats import BAGS, FIELDS, WHOLE, CatalogStats, bag_counts

K1 = 1.2
B = 0.75
_DIGIT = re.compile(r"\d")

FEATURES: tuple[str, ...] = (
    "retrieval_rank",
    "dense_cos",
    "dense_cos_gap",
    "dense_rank",
    *(f"bm25_{f}" for f in FIELDS),
    "bm25_sum",
    "bm25_sum_frac",
    "bm25_sum_rank",
    "bm25f",
    "bm25f_rank",
    "title_coverage",
    "title_all_terms",
    "coverage",
    "idf_coverage",
    "phrase_in_title",
    "brand_in_query",
    "type_match",
    "type_affinity",
    "model_match",
    "query_terms",
    "query_has_type",
    "title_terms",
    "description_terms",
    "log_price",
    "price_pct",
    "in_stock",
)


@dataclass(frozen=True, slots=True)
class RankQuery:
    text: str
    terms: tuple[str, ...]  # unique, as app.domain.lexical.terms makes them
    vector: Vector | None = None
    detected: Detection | None = None


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the highest value; NaN stays NaN."""
    missing = np.isnan(values)
    if np.isinf(values).any():  # nan_to_num's clamping of infinities decides their ties
        filled = np.nan_to_num(values, nan=-np.inf)
    else:  # the same values, without nan_to_num's cost (4 calls were a tenth of the extraction)
        filled = np.where(missing, -np.inf, values)
    order = np.argsort(-filled, kind="stable")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(len(values))
    ranks[missing] = np.nan
    return ranks


def _term_frequencies(
    stats: CatalogStats,
    products: Sequence[Product],
    rows: np.ndarray,
    query_terms: Sequence[str],
    columns: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """(bags x candidates x query terms) term frequencies and (bags x candidates) lengths.
    Candidates the statistics do not know yet (ingested since) are tokenised on the spot."""
    n, q = len(products), len(columns)
    tf = np.zeros((BAGS, n, q), dtype=float)
    lengths = np.zeros((BAGS, n), dtype=float)
    known = rows >= 0
    if known.any():
        lengths[:, known] = stats.lengths[:, rows[known]]
        _gather_tf(tf, stats, rows, known, columns)
    for i in (int(x) for x in np.flatnonzero(~known)):
        counts, bag_lengths = bag_counts(products[i])
        for f, bag in enumerate(counts):
            lengths[f, i] = bag_lengths[f]
            for j, term in enumerate(query_terms):
                tf[f, i, j] = bag.get(term, 0)
    return tf, lengths


def _gather_tf(
    tf: np.ndarray, stats: CatalogStats, rows: np.ndarray, known: np.ndarray, columns: list[int]
) -> None:
    """Fills `tf` for the known candidates: every (bag, query term) column of the statistics'
    matrix read in one gather over its index arrays (a Python loop of scipy slices per bag and
    term was most of the extraction's time)."""
    cols = np.asarray(columns, dtype=np.int64)
    term_at = np.flatnonzero(cols >= 0)
    if not term_at.size:
        return
    position = np.full(stats.size, -1, dtype=np.int64)  # catalog row -> candidate
    position[rows[known]] = np.flatnonzero(known)
    bag_of = np.repeat(np.arange(BAGS), term_at.size)
    term_of = np.tile(term_at, BAGS)
    indptr = stats.tf.indptr
    matrix_cols = bag_of * stats.terms + cols[term_of]
    starts = indptr[matrix_cols].astype(np.int64)
    counts = indptr[matrix_cols + 1] - starts
    ends = np.cumsum(counts)
    entries = np.arange(int(ends[-1])) + np.repeat(starts - (ends - counts), counts)
    at = position[stats.tf.indices[entries]]
    hit = at >= 0
    tf[np.repeat(bag_of, counts)[hit], at[hit], np.repeat(term_of, counts)[hit]] = stats.tf.data[entries[hit]]


def _bm25(tf: np.ndarray, lengths: np.ndarray, avg: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """fields x candidates."""
    norm = K1 * (1 - B + B * lengths / avg[:, None])
    saturated = tf * (K1 + 1) / (tf + norm[:, :, None])
    out: np.ndarray = np.einsum("fnq,fq->fn", saturated, idf)
    return out


COLUMN = {name: i for i, name in enumerate(FEATURES)}


def extract(query: RankQuery, candidates: Sequence[ScoredProduct], stats: CatalogStats) -> np.ndarray:
    """candidates x len(FEATURES), float64."""
    out = np.full((len(candidates), len(FEATURES)), np.nan)
    if not candidates:
        return out
    products = [c.product for c in candidates]
    rows = np.array([stats.rows.get(p.id, -1) for p in products], dtype=np.int64)
    out[:, COLUMN["retrieval_rank"]] = np.arange(len(candidates))
    _dense(out, query, stats, rows)
    columns = stats.columns(query.terms)
    lengths = _lexical(out, query, stats, products, rows, columns)
    _matching(out, query, stats, products, rows, columns)
    _product(out, query, products, lengths)
    return out


def _dense(out: np.ndarray, query: RankQuery, stats: CatalogStats, rows: np.ndarray) -> None:
    known = rows >= 0
    if query.vector is None or stats.vectors is None or not known.any():
        return
    vector = np.asarray(query.vector, dtype=np.float32)
    if known.all():  # the usual case: no masks, and nanmax only if a product's vector had a NaN
        cos = (stats.vectors[rows] @ vector).astype(float)
    else:
        cos = np.full(len(rows), np.nan)
        cos[known] = stats.vectors[rows[known]] @ vector
    top = cos.max()
    out[:, COLUMN["dense_cos"]] = cos
    out[:, COLUMN["dense_cos_gap"]] = (np.nanmax(cos) if np.isnan(top) else top) - cos
    out[:, COLUMN["dense_rank"]] = _ranks(cos)


def _lexical(
    out: np.ndarray,
    query: RankQuery,
    stats: CatalogStats,
    products: Sequence[Product],
    rows: np.ndarray,
    columns: list[int],
) -> np.ndarray:
    """Per-field and whole-product BM25, and how much of the query each candidate covers; returns
    the bags' lengths (bags x candidates)."""
    tf, lengths = _term_frequencies(stats, products, rows, query.terms, columns)
    idf = stats.idf(columns)
    per_bag = _bm25(tf, lengths, stats.avg_lengths, idf)
    for f, name in enumerate(FIELDS):
        out[:, COLUMN[f"bm25_{name}"]] = per_bag[f]
    out[:, COLUMN["bm25f"]] = per_bag[WHOLE]
    out[:, COLUMN["bm25f_rank"]] = _ranks(per_bag[WHOLE])
    total = per_bag[:WHOLE].sum(axis=0)
    out[:, COLUMN["bm25_sum"]] = total
    out[:, COLUMN["bm25_sum_frac"]] = total / total.max() if total.max() > 0 else 0.0
    out[:, COLUMN["bm25_sum_rank"]] = _ranks(total)
    q_all = max(1, len(query.terms))
    present = tf[:WHOLE] > 0  # fields x candidates x terms
    anywhere = present.any(axis=0)
    in_title = present[0].sum(axis=1)
    out[:, COLUMN["title_coverage"]] = in_title / q_all
    out[:, COLUMN["title_all_terms"]] = (in_title == len(query.terms)) & bool(query.terms)
    out[:, COLUMN["coverage"]] = anywhere.sum(axis=1) / q_all
    weights = idf[WHOLE] if columns else np.zeros(0)
    out[:, COLUMN["idf_coverage"]] = (anywhere * weights).sum(axis=1) / weights.sum() if columns else 0.0
    return lengths


def _matching(
    out: np.ndarray,
    query: RankQuery,
    stats: CatalogStats,
    products: Sequence[Product],
    rows: np.ndarray,
    columns: list[int],
) -> None:
    """The query's phrase, brand, product type and model numbers against each candidate: one pass
    over the candidates, each title lower-cased once."""
    phrase = " ".join(query.text.lower().split())
    padded = f" {phrase} "
    detected = query.detected
    model_terms = [t for t in query.terms if _DIGIT.search(t)]
    n = len(products)
    titles = [p.title.lower() for p in products]
    keys = stats.keys  # a catalog's own brands and categories: their filter keys, looked up
    out[:, COLUMN["phrase_in_title"]] = _floats((phrase in title for title in titles), n)
    out[:, COLUMN["brand_in_query"]] = _floats(
        (bool(b) and f" {keys.get(b) or filter_key(b)} " in padded for b in (p.brand for p in products)), n
    )
    out[:, COLUMN["query_has_type"]] = detected is not None
    if detected is not None:
        out[:, COLUMN["type_match"]] = _floats(
            ((keys.get(p.category) or filter_key(p.category)) == detected.category for p in products), n
        )
    out[:, COLUMN["type_affinity"]] = _type_affinity(stats, rows, columns)
    if model_terms:
        out[:, COLUMN["model_match"]] = _floats(
            (sum(t in title for t in model_terms) / len(model_terms) for title in titles), n
        )


def _product(out: np.ndarray, query: RankQuery, products: Sequence[Product], lengths: np.ndarray) -> None:
    out[:, COLUMN["query_terms"]] = len(query.terms)
    out[:, COLUMN["title_terms"]] = lengths[0]
    out[:, COLUMN["description_terms"]] = lengths[FIELDS.index("description")]
    prices = _floats((p.price if p.price is not None else np.nan for p in products), len(products))
    out[:, COLUMN["log_price"]] = np.log1p(prices)
    if not np.isnan(prices).all():
        out[:, COLUMN["price_pct"]] = _ranks(-prices) / max(1, len(products) - 1)
    out[:, COLUMN["in_stock"]] = _floats((p.in_stock for p in products), len(products))


def _floats(values: Iterable[float | bool], n: int) -> np.ndarray:
    """A column from per-candidate Python values: fromiter, as assigning a list into an array
    column converts it element by element at several times the cost."""
    return np.fromiter(values, dtype=float, count=n)


def _type_affinity(stats: CatalogStats, rows: np.ndarray, columns: list[int]) -> np.ndarray:
    """Mean over the query's terms of log P(candidate's category | term in a title), add-one
    smoothed over the catalog's categories; NaN where unknown."""
    n = len(rows)
    known = [c for c in columns if c >= 0]
    if not known or not stats.categories:
        return np.full(n, np.nan)
    matrix = stats.title_category
    counts = np.zeros((matrix.shape[0], len(known)))  # categories x terms; no scipy slice per query
    for j, c in enumerate(known):
        start, end = matrix.indptr[c], matrix.indptr[c + 1]
        counts[matrix.indices[start:end], j] = matrix.data[start:end]
    k = counts.shape[0]
    log_p = np.log((counts + 1.0) / (counts.sum(axis=0, keepdims=True) + k)).mean(axis=1)
    cats = np.where(rows >= 0, stats.category_of[np.maximum(rows, 0)], -1)
    out = np.full(n, np.nan)
    out[cats >= 0] = log_p[cats[cats >= 0]]
    return out
