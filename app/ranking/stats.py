"""Per-catalog statistics the ranking features need: per-field term frequencies, document
frequencies and mean lengths (so each field gets its own BM25), the products' dense vectors, and
which categories the catalog's titles use each word for.

Built from the catalog itself (the products and vectors stored in the index), never from judged
queries, so serving and evals compute the same features from the same data. Pure: numpy and
scipy over products; reading them from the index is `app/ranking/catalog.py`'s job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix

from app.domain.lexical import terms
from app.domain.models import Product, Vector, filter_key

FIELDS = ("title", "brand", "category", "description", "attributes")
# Besides each field, one bag of the whole product with the title counted twice (BM25F-style,
# as the lexical retrieval weights it): bag `WHOLE` of `CatalogStats.tf`.
FIELD_WEIGHTS = (2, 1, 1, 1, 1)
WHOLE = len(FIELDS)
BAGS = len(FIELDS) + 1
MAX_ATTRIBUTE_CHARS = 80


def field_texts(product: Product) -> tuple[str, str, str, str, str]:
    """The text of each field in `FIELDS` order; attributes are the short text values."""
    attributes = " ".join(
        v for v in product.attributes.values() if isinstance(v, str) and len(v) <= MAX_ATTRIBUTE_CHARS
    )
    return (product.title, product.brand, product.category, product.description, attributes)


def field_terms(product: Product) -> list[list[str]]:
    return [terms(text) for text in field_texts(product)]


def bag_counts(product: Product) -> tuple[list[Counter[str]], list[int]]:
    """Term counts and lengths per field, then of the whole product (`WHOLE`)."""
    counts = [Counter(field) for field in field_terms(product)]
    whole: Counter[str] = Counter()
    for weight, field in zip(FIELD_WEIGHTS, counts, strict=True):
        for term, count in field.items():
            whole[term] += weight * count
    counts.append(whole)
    return counts, [sum(c.values()) for c in counts]


@dataclass(frozen=True, slots=True)
class CatalogStats:
    """Everything is indexed by `rows` (product id -> row) and `vocab` (stemmed term -> column).

    The bags' term frequencies are one matrix, bag after bag (`column`): a query's columns in every
    bag are then one gather over its index arrays, not a scipy slice per bag and term."""

    rows: Mapping[str, int]
    vocab: Mapping[str, int]
    tf: csc_matrix  # products x (bags * terms): bag b's term t is column `column(b, t)`
    lengths: np.ndarray  # bags x products: terms in the bag
    avg_lengths: np.ndarray  # bags: mean of `lengths` (at least 1e-9), kept so no query recomputes it
    df: np.ndarray  # bags x terms: products whose bag has the term
    vectors: np.ndarray | None  # products x dimension, L2-normalised; None when not known
    categories: tuple[str, ...]  # the catalog's categories as filter keys, most products first
    category_of: np.ndarray  # products: index into `categories` (-1: none)
    title_category: csc_matrix  # categories x terms: products of that category with the term in the title
    keys: Mapping[str, str]  # the catalog's brand and category strings -> their filter keys (a
    # lookup, not `filter_key` per candidate: that was the extraction's largest Python cost)

    @property
    def size(self) -> int:
        return len(self.rows)

    @property
    def terms(self) -> int:
        """Columns per bag in `tf`."""
        return int(self.df.shape[1])

    def column(self, bag: int, term: int) -> int:
        return bag * self.terms + term

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
    width = max(1, len(vocab))
    tf = csc_matrix(
        (
            np.concatenate([np.array(d, dtype=np.float32) for d in data_per_field]),
            (
                np.concatenate([np.array(r, dtype=np.int64) for r in rows_per_field]),
                np.concatenate(
                    [np.array(c, dtype=np.int64) + f * width for f, c in enumerate(cols_per_field)]
                ),
            ),
        ),
        shape=(len(items), BAGS * width),
    )
    del rows_per_field, cols_per_field, data_per_field
    df = np.diff(tf.indptr).reshape(BAGS, width).astype(np.int32)
    title = tf[:, :width].tocsr()
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
        avg_lengths=np.maximum(lengths.mean(axis=1), 1e-9) if items else np.ones(BAGS),
        df=df,
        vectors=matrix,
        categories=categories,
        category_of=category_of,
        title_category=title_category,
        keys={v: filter_key(v) for p in items for v in (p.brand, p.category)},
    )
