"""The ranking features as they were computed before the vectorised extraction (issue #19): a
frozen copy of app/ranking/stats.py's `build_stats` and app/ranking/features.py's `extract`, kept
only so tests/unit/test_ranking_features_equivalence.py can check the fast path computes the same
features. Not used by the app.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix

from app.domain.models import Product, ScoredProduct, Vector, filter_key
from app.ranking.features import FEATURES, RankQuery
from app.ranking.stats import BAGS, FIELDS, WHOLE, bag_counts


@dataclass(frozen=True, slots=True)
class CatalogStats:
    """Everything is indexed by `rows` (product id -> row) and `vocab` (stemmed term -> column)."""

    rows: Mapping[str, int]
    vocab: Mapping[str, int]
    tf: tuple[csc_matrix, ...]  # per bag (fields, then the whole product): products x terms
    lengths: np.ndarray  # bags x products: terms in the bag
    df: np.ndarray  # bags x terms: products whose bag has the term
    vectors: np.ndarray | None  # products x dimension, L2-normalised; None when not known
    categories: tuple[str, ...]  # the catalog's categories as filter keys, most products first
    category_of: np.ndarray  # products: index into `categories` (-1: none)
    title_category: csc_matrix  # categories x terms: products of that category with the term in the title

    @property
    def size(self) -> int:
        return len(self.rows)

    @property
    def avg_lengths(self) -> np.ndarray:
        return np.maximum(self.lengths.mean(axis=1), 1e-9) if self.size else np.ones(BAGS)

    def idf(self, columns: Sequence[int]) -> np.ndarray:
        """bags x columns: BM25's IDF, ln(1 + (N - df + 0.5) / (df + 0.5)), per bag; a column of
        -1 (a term the catalog has not seen) has df 0."""
        known = np.array([c for c in columns if c >= 0], dtype=np.int64)
        df = np.zeros((BAGS, len(columns)))
        mask = np.array([c >= 0 for c in columns], dtype=bool)
        if known.size:
            df[:, mask] = self.df[:, known]
        out: np.ndarray = np.log1p((self.size - df + 0.5) / (df + 0.5))
        return out

    def columns(self, query_terms: Sequence[str]) -> list[int]:
        """One column per query term; -1 for terms no product of the statistics has."""
        return [self.vocab.get(t, -1) for t in query_terms]


def build_stats(
    products: Iterable[Product], vectors: Mapping[str, Vector | np.ndarray] | None = None
) -> CatalogStats:
    items = list(products)
    vocab: dict[str, int] = {}
    rows_per_field: list[list[int]] = [[] for _ in range(BAGS)]
    cols_per_field: list[list[int]] = [[] for _ in range(BAGS)]
    data_per_field: list[list[int]] = [[] for _ in range(BAGS)]
    lengths = np.zeros((BAGS, len(items)), dtype=np.float32)
    category_counts: Counter[str] = Counter(filter_key(p.category) for p in items if p.category)
    categories = tuple(c for c, _ in category_counts.most_common())
    category_index = {c: i for i, c in enumerate(categories)}
    category_of = np.array(
        [category_index.get(filter_key(p.category), -1) if p.category else -1 for p in items], dtype=np.int32
    )
    for row, product in enumerate(items):
        counts, bag_lengths = bag_counts(product)
        for f, bag in enumerate(counts):
            lengths[f, row] = bag_lengths[f]
            for term, count in bag.items():
                rows_per_field[f].append(row)
                cols_per_field[f].append(vocab.setdefault(term, len(vocab)))
                data_per_field[f].append(count)
    shape = (len(items), max(1, len(vocab)))
    tf = tuple(
        csc_matrix(
            (np.array(data_per_field[f], dtype=np.float32), (rows_per_field[f], cols_per_field[f])),
            shape=shape,
        )
        for f in range(BAGS)
    )
    df = np.stack([np.diff(m.indptr) for m in tf]).astype(np.int32)
    title = tf[0].tocsr()
    title.data[:] = 1.0
    # categories x terms: how many products of each category use the term in their title
    labelled = category_of >= 0
    onehot = csc_matrix(
        (np.ones(int(labelled.sum()), dtype=np.float32), (category_of[labelled], np.flatnonzero(labelled))),
        shape=(max(1, len(categories)), len(items)),
    )
    title_category = csc_matrix(onehot @ title)
    matrix = None
    if vectors is not None and items and all(p.id in vectors for p in items):
        matrix = np.asarray([vectors[p.id] for p in items], dtype=np.float32)
    return CatalogStats(
        rows={p.id: i for i, p in enumerate(items)},
        vocab=vocab,
        tf=tf,
        lengths=lengths,
        df=df,
        vectors=matrix,
        categories=categories,
        category_of=category_of,
        title_category=title_category,
    )


K1 = 1.2
B = 0.75
_DIGIT = re.compile(r"\d")


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the highest value; NaN stays NaN."""
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(len(values))
    ranks[np.isnan(values)] = np.nan
    return ranks


def _term_frequencies(
    stats: CatalogStats, products: Sequence[Product], query_terms: Sequence[str], columns: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(bags x candidates x query terms) term frequencies and (bags x candidates) lengths.
    Candidates the statistics do not know yet (ingested since) are tokenised on the spot."""
    n, q = len(products), len(columns)
    tf = np.zeros((BAGS, n, q), dtype=float)
    lengths = np.zeros((BAGS, n), dtype=float)
    rows = np.array([stats.rows.get(p.id, -1) for p in products], dtype=np.int64)
    known = rows >= 0
    if known.any():
        lengths[:, known] = stats.lengths[:, rows[known]]
        position = np.full(stats.size, -1, dtype=np.int64)
        position[rows[known]] = np.flatnonzero(known)
        for f, matrix in enumerate(stats.tf):
            for j, col in enumerate(columns):
                if col < 0:
                    continue
                start, end = matrix.indptr[col], matrix.indptr[col + 1]
                at = position[matrix.indices[start:end]]
                hit = at >= 0
                tf[f, at[hit], j] = matrix.data[start:end][hit]
    for i in (int(x) for x in np.flatnonzero(~known)):
        counts, bag_lengths = bag_counts(products[i])
        for f, bag in enumerate(counts):
            lengths[f, i] = bag_lengths[f]
            for j, term in enumerate(query_terms):
                tf[f, i, j] = bag.get(term, 0)
    return tf, lengths


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
    lengths = _lexical(out, query, stats, products, columns)
    _matching(out, query, stats, products, rows, columns)
    _product(out, query, products, lengths)
    return out


def _dense(out: np.ndarray, query: RankQuery, stats: CatalogStats, rows: np.ndarray) -> None:
    known = rows >= 0
    if query.vector is None or stats.vectors is None or not known.any():
        return
    cos = np.full(len(rows), np.nan)
    cos[known] = stats.vectors[rows[known]] @ np.asarray(query.vector, dtype=np.float32)
    out[:, COLUMN["dense_cos"]] = cos
    out[:, COLUMN["dense_cos_gap"]] = np.nanmax(cos) - cos
    out[:, COLUMN["dense_rank"]] = _ranks(cos)


def _lexical(
    out: np.ndarray, query: RankQuery, stats: CatalogStats, products: Sequence[Product], columns: list[int]
) -> np.ndarray:
    """Per-field and whole-product BM25, and how much of the query each candidate covers; returns
    the bags' lengths (bags x candidates)."""
    tf, lengths = _term_frequencies(stats, products, query.terms, columns)
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
    """The query's phrase, brand, product type and model numbers against each candidate."""
    phrase = " ".join(query.text.lower().split())
    out[:, COLUMN["phrase_in_title"]] = [phrase in p.title.lower() for p in products]
    padded = f" {phrase} "
    out[:, COLUMN["brand_in_query"]] = [
        bool(p.brand) and f" {filter_key(p.brand)} " in padded for p in products
    ]
    detected = query.detected
    out[:, COLUMN["query_has_type"]] = detected is not None
    if detected is not None:
        out[:, COLUMN["type_match"]] = [filter_key(p.category) == detected.category for p in products]
    out[:, COLUMN["type_affinity"]] = _type_affinity(stats, rows, columns)
    model_terms = [t for t in query.terms if _DIGIT.search(t)]
    if model_terms:
        out[:, COLUMN["model_match"]] = [
            sum(t in p.title.lower() for t in model_terms) / len(model_terms) for p in products
        ]


def _product(out: np.ndarray, query: RankQuery, products: Sequence[Product], lengths: np.ndarray) -> None:
    out[:, COLUMN["query_terms"]] = len(query.terms)
    out[:, COLUMN["title_terms"]] = lengths[0]
    out[:, COLUMN["description_terms"]] = lengths[FIELDS.index("description")]
    prices = np.array([p.price if p.price is not None else np.nan for p in products], dtype=float)
    out[:, COLUMN["log_price"]] = np.log1p(prices)
    if not np.isnan(prices).all():
        out[:, COLUMN["price_pct"]] = _ranks(-prices) / max(1, len(products) - 1)
    out[:, COLUMN["in_stock"]] = [p.in_stock for p in products]


def _type_affinity(stats: CatalogStats, rows: np.ndarray, columns: list[int]) -> np.ndarray:
    """Mean over the query's terms of log P(candidate's category | term in a title), add-one
    smoothed over the catalog's categories; NaN where unknown."""
    n = len(rows)
    known = [c for c in columns if c >= 0]
    if not known or not stats.categories:
        return np.full(n, np.nan)
    counts = np.asarray(stats.title_category[:, known].todense(), dtype=float)  # categories x terms
    k = counts.shape[0]
    log_p = np.log((counts + 1.0) / (counts.sum(axis=0, keepdims=True) + k)).mean(axis=1)
    cats = np.array([stats.category_of[r] if r >= 0 else -1 for r in rows])
    out = np.full(n, np.nan)
    out[cats >= 0] = log_p[cats[cats >= 0]]
    return out
