"""Lexical sparse vectors for Qdrant's hybrid search (used by ingestion for documents and by the
search use case for queries, hence it lives in the domain): BM25 term weights computed here, IDF applied
by Qdrant (sparse vector config `modifier=IDF`, ln(1 + (N - df + 0.5) / (df + 0.5)): the same
IDF as the bm25s baseline's default "lucene" method), so one engine serves dense and lexical retrieval.

Version bm25-v2 (issue #11, docs/evals.md "Lexical parity"): the text is the product text the
embedder and the bm25s baseline see (embeddings/text.py) with the title counted once more
(field weighting); tokens are lower-cased alphanumeric runs, kept whole when joined by '-' or '.'
("usb-c", "2.5") and also split into their parts, so "usb c" and "usb-c" match either way; the
bm25s English stop-word list (33 words; product words like "pc" are not stop words); Snowball
stems (PyStemmer); each term hashed to a stable 31-bit index. A document's weight for a term is
BM25's saturated term frequency `tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / AVG_LEN))` with a
fixed `AVG_LEN` so weights never depend on the rest of the catalog (an incremental ingest cannot
shift old documents' weights). A query's weight per unique term is 1; Qdrant multiplies by IDF.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

from app.domain.models import Product, SparseVector

K1 = 1.2
B = 0.75
AVG_LEN = 57.4  # mean weighted length of the v2 text over the full Icecat catalog (lexical.mean_length)
TITLE_WEIGHT = 2  # the title's terms count twice: once in the product text, once more
SPARSE_VERSION = "bm25-v2"
_TOKEN = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
_PARTS = re.compile(r"[.-]")
# bm25s' English list (bm25s.stopwords.STOPWORDS_EN), copied: the domain does not import the eval
# library, and the baseline and the served lexical pipeline must drop the same words.
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
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
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
        "will",
        "with",
    ]
)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _index(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF


def tokens(text: str) -> list[str]:
    """Lower-cased tokens before stemming: joined tokens whole and as their parts."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token not in STOP_WORDS:
            out.append(token)
        if "-" in token or "." in token:
            out.extend(p for p in _PARTS.split(token) if p and p not in STOP_WORDS)
    return out


def terms(text: str) -> list[str]:
    stemmed: list[str] = _stemmer().stemWords(tokens(text))
    return stemmed


def _vector(counts: Counter[str]) -> SparseVector:
    merged: dict[int, float] = {}
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVG_LEN)
    for term, tf in counts.items():
        idx = _index(term)
        merged[idx] = merged.get(idx, 0.0) + tf * (K1 + 1) / (tf + norm)
    indices = sorted(merged)
    return SparseVector(tuple(indices), tuple(merged[i] for i in indices))


def document_counts(product: Product, text: str) -> Counter[str]:
    """Term counts of the product `text` (which holds the title once) plus the title
    `TITLE_WEIGHT - 1` more times."""
    counts: Counter[str] = Counter(terms(text))
    title = terms(product.title)
    for _ in range(TITLE_WEIGHT - 1):
        counts.update(title)
    return counts


def document_vector(product: Product, text: str) -> SparseVector:
    """`text`: the product text that is embedded (embeddings.text.product_text)."""
    return _vector(document_counts(product, text))


def query_vector(text: str) -> SparseVector:
    unique = sorted({_index(t) for t in terms(text)})
    return SparseVector(tuple(unique), tuple(1.0 for _ in unique))


def mean_length(products: Iterable[tuple[Product, str]]) -> float:
    """For re-measuring AVG_LEN when the text template changes: (product, product text) pairs."""
    lengths = [sum(document_counts(p, text).values()) for p, text in products]
    return sum(lengths) / max(1, len(lengths))
