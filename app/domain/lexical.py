"""Lexical sparse vectors for Qdrant's hybrid search (used by ingestion for documents and by the
search use case for queries, hence it lives in the domain): BM25 term weights computed here, IDF applied
by Qdrant (sparse vector config `modifier=IDF`), so one engine serves dense and lexical retrieval.

Tokens: lower-cased alphanumeric runs, English stop words dropped, Snowball-stemmed (PyStemmer),
hashed to a stable 31-bit index. A document's weight for a term is BM25's saturated term frequency
`tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / AVG_LEN))`, with title terms counted
`TITLE_WEIGHT` times (field weighting) and a fixed `AVG_LEN` so weights never depend on the rest of
the catalog (an incremental ingest cannot shift old documents' weights). A query's weight per
unique term is 1; Qdrant multiplies by IDF at search time.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

from app.domain.models import Product, SparseVector

K1 = 1.2
B = 0.75
AVG_LEN = 40.0  # measured mean weighted length of the v1 lexical text on the Icecat sample
TITLE_WEIGHT = 2
SPARSE_VERSION = "bm25-v1"
_TOKEN = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "s",
        "so",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
        "you",
        "your",
        "pc",
        "pcs",
    ]
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _index(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF


def terms(text: str) -> list[str]:
    tokens = [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]
    stemmed: list[str] = _stemmer().stemWords(tokens)
    return stemmed


@dataclass(frozen=True, slots=True)
class LexicalFields:
    title: str
    rest: str


def lexical_fields(product: Product) -> LexicalFields:
    """Title apart (weighted up); brand, category, description and text attributes as the rest."""
    attributes = " ".join(v for v in product.attributes.values() if isinstance(v, str) and len(v) <= 80)
    return LexicalFields(
        product.title, f"{product.brand} {product.category} {product.description} {attributes}"
    )


def _vector(counts: Counter[str]) -> SparseVector:
    merged: dict[int, float] = {}
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_LEN)
    for term, tf in counts.items():
        idx = _index(term)
        merged[idx] = merged.get(idx, 0.0) + tf * (K1 + 1) / (tf + norm)
    indices = sorted(merged)
    return SparseVector(tuple(indices), tuple(merged[i] for i in indices))


def document_vector(product: Product) -> SparseVector:
    fields = lexical_fields(product)
    counts: Counter[str] = Counter()
    for _ in range(TITLE_WEIGHT):
        counts.update(terms(fields.title))
    counts.update(terms(fields.rest))
    return _vector(counts)


def query_vector(text: str) -> SparseVector:
    unique = sorted({_index(t) for t in terms(text)})
    return SparseVector(tuple(unique), tuple(1.0 for _ in unique))


def mean_length(products: Iterable[Product]) -> float:
    """For re-measuring AVG_LEN when the text template changes."""
    lengths = []
    for p in products:
        fields = lexical_fields(p)
        lengths.append(TITLE_WEIGHT * len(terms(fields.title)) + len(terms(fields.rest)))
    return sum(lengths) / max(1, len(lengths))
