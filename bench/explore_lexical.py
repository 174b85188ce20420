"""Lexical parity exploration (issue #11): numpy replicas of the bm25s baseline and of the Qdrant
sparse pipeline over the same products, changed one factor at a time, each scored per query and
compared with bm25s by the CV statistics of evals/cv.py (nothing is fitted here, so a variant's
CV mean is its mean over the 93 queries; choosing among variants is done by nested CV below).

    python -m bench.explore_lexical ../shared/data/icecat
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from scipy.sparse import csr_matrix

from app.domain.models import Product
from embeddings.readers import read_products
from embeddings.text import product_text
from evals.cv import fixed_scores, make_folds, per_query_ndcg, summarize
from evals.datasets import read_judgments
from evals.pipelines import BM25Pipeline

STEM = Stemmer.Stemmer("english")
V1_TOKEN = r"[a-z0-9]+(?:[.-][a-z0-9]+)*"
V1_STOP_WORDS = frozenset(
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


@dataclass(frozen=True)
class Variant:
    name: str
    pattern: str = r"(?u)\b\w\w+\b"
    stop: frozenset[str] = frozenset(STOPWORDS_EN)
    k1: float = 1.5
    b: float = 0.75
    avg_len: float | None = None  # None: the catalog's real mean
    text: str = "product_text"  # or "lexical_fields"
    title_weight: int = 1
    query_unique: bool = False


def v1_fields(p: Product) -> tuple[str, str]:
    """bm25-v1's lexical text (before issue #11): title apart; brand, category, full description
    and every short text attribute as the rest."""
    attributes = " ".join(v for v in p.attributes.values() if isinstance(v, str) and len(v) <= 80)
    return p.title, f"{p.brand} {p.category} {p.description} {attributes}"


def tokens(v: Variant, text: str) -> list[str]:
    if v.pattern == "parts":
        return lexical_terms_with_parts(text, v.stop)
    toks = [t for t in re.findall(v.pattern, text.lower()) if t not in v.stop]
    return STEM.stemWords(toks)


def lexical_terms_with_parts(text: str, stop: frozenset[str]) -> list[str]:
    """The lexical tokenizer, plus the parts of hyphenated/dotted tokens ("usb-c" -> usb-c, usb, c)."""
    out = []
    for t in re.findall(V1_TOKEN, text.lower()):
        pieces = [t]
        if "-" in t or "." in t:
            pieces += [x for x in re.split(r"[.-]", t) if x]
        out += [x for x in pieces if x not in stop]
    return STEM.stemWords(out)


def doc_counts(v: Variant, p: Product) -> Counter[str]:
    c: Counter[str] = Counter()
    if v.text == "product_text":
        for _ in range(v.title_weight - 1):
            c.update(tokens(v, p.title))
        c.update(tokens(v, product_text(p)))
        return c
    title, rest = v1_fields(p)
    for _ in range(v.title_weight):
        c.update(tokens(v, title))
    c.update(tokens(v, rest))
    return c


def run_variant(v: Variant, products: list[Product], queries: dict[str, str]) -> dict[str, list[str]]:
    vocab: dict[str, int] = {}
    rows, cols, tfs, lens = [], [], [], []
    for i, p in enumerate(products):
        c = doc_counts(v, p)
        lens.append(sum(c.values()))
        for t, tf in c.items():
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
            tfs.append(tf)
    n = len(products)
    lens_a = np.array(lens, dtype=float)
    avg = v.avg_len or float(lens_a.mean())
    tf = np.array(tfs, dtype=float)
    norm = v.k1 * (1 - v.b + v.b * lens_a[np.array(rows)] / avg)
    w = tf * (v.k1 + 1) / (tf + norm)
    m = csr_matrix((w, (rows, cols)), shape=(n, len(vocab))).tocsc()
    df = np.diff(m.indptr)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    out = {}
    for qid, text in queries.items():
        qt = tokens(v, text)
        if v.query_unique:
            qt = list(dict.fromkeys(qt))
        ids = [vocab[t] for t in qt if t in vocab]
        if not ids:
            out[qid] = []
            continue
        scores = np.asarray(m[:, ids] @ idf[ids]).ravel()
        top = np.argsort(-scores, kind="stable")[:100]
        out[qid] = [products[i].id for i in top if scores[i] > 0]
    return out


def main(icecat: Path) -> None:
    import asyncio

    j = read_judgments(icecat / "judgments-dev.csv")
    products = [
        p for i in range(1, 5) for p in read_products(icecat / f"products-{i}.json") if isinstance(p, Product)
    ]
    folds = make_folds(j.queries)
    bm = BM25Pipeline(products)
    bm_rank = {q: asyncio.run(bm(t, 100)).doc_ids for q, t in j.queries.items()}
    base = fixed_scores("bm25s", per_query_ndcg(j.qrels, bm_rank))
    lex_stop = V1_STOP_WORDS  # "lexical" below means bm25-v1, the pipeline issue #11 measured
    lex_pat = V1_TOKEN
    parity = Variant("parity: bm25s replica")
    variants = [
        parity,
        Variant("+ query terms unique", query_unique=True),
        Variant("+ k1 1.2", k1=1.2),
        Variant("+ lexical tokenizer", pattern=lex_pat),
        Variant("+ lexical stop words", stop=lex_stop),
        Variant("+ stop words minus pc/pcs", stop=lex_stop - {"pc", "pcs"}),
        Variant("+ fixed avg len 40", avg_len=40.0),
        Variant("+ title x2", title_weight=2),
        Variant("+ title x3", title_weight=3),
        Variant("+ lexical fields (all attrs, full description)", text="lexical_fields"),
        Variant("+ lexical fields, title x2", text="lexical_fields", title_weight=2),
        Variant(
            "current lexical (all of the above)",
            pattern=lex_pat,
            stop=lex_stop,
            k1=1.2,
            avg_len=40.0,
            text="lexical_fields",
            title_weight=2,
            query_unique=True,
        ),
        Variant(
            "current lexical, real avg len",
            pattern=lex_pat,
            stop=lex_stop,
            k1=1.2,
            text="lexical_fields",
            title_weight=2,
            query_unique=True,
        ),
        Variant(
            "current lexical, bm25s tokenizer+stop",
            k1=1.2,
            avg_len=40.0,
            text="lexical_fields",
            title_weight=2,
            query_unique=True,
        ),
        Variant(
            "current lexical, product_text",
            pattern=lex_pat,
            stop=lex_stop,
            k1=1.2,
            avg_len=40.0,
            title_weight=2,
            query_unique=True,
        ),
        Variant(
            "current lexical, title x1",
            pattern=lex_pat,
            stop=lex_stop,
            k1=1.2,
            avg_len=40.0,
            text="lexical_fields",
            title_weight=1,
            query_unique=True,
        ),
    ]
    if len(sys.argv) > 2 and sys.argv[2] == "v2":
        bm_stop = frozenset(STOPWORDS_EN)
        variants = [
            Variant(
                "v2: product_text, title x2, k1 1.2, lexical tok",
                pattern=lex_pat,
                k1=1.2,
                title_weight=2,
                query_unique=True,
            ),
            Variant("v2 + tokenizer with parts", pattern="parts", k1=1.2, title_weight=2, query_unique=True),
            Variant("v2 parts, title x3", pattern="parts", k1=1.2, title_weight=3, query_unique=True),
            Variant("v2 parts, k1 1.5", pattern="parts", k1=1.5, title_weight=2, query_unique=True),
            Variant(
                "v2 parts, stop + s",
                pattern="parts",
                stop=bm_stop | {"s"},
                k1=1.2,
                title_weight=2,
                query_unique=True,
            ),
            Variant("v2 bm25s tok, title x2, k1 1.2", k1=1.2, title_weight=2, query_unique=True),
            Variant("bm25s tok, title x2", title_weight=2),
            Variant("v2 parts, title x1", pattern="parts", k1=1.2, title_weight=1, query_unique=True),
        ]
    rows = {}
    for v in variants:
        ranks = run_variant(v, products, j.queries)
        s = fixed_scores(v.name, per_query_ndcg(j.qrels, ranks))
        summary = summarize(s, folds, base)
        rows[v.name] = {"per_query": s.per_query(), **summary}
        vb = summary["vs_baseline"]
        print(
            f"{v.name:50s} {summary['cv_mean']:.4f} [{summary['ci95'][0]:.3f},{summary['ci95'][1]:.3f}] "
            f"x{vb['ratio']:.3f} p={vb['p_randomization']:.3f} w/l {vb['wins']}/{vb['losses']}",
            flush=True,
        )
    out = Path(f"var/explore-lexical{sys.argv[2] if len(sys.argv) > 2 else ''}.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
