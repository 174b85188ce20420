"""Exploration for the retrieval-quality push (issue #4): scores lexical and dense variants in numpy
so many can be tried without re-ingesting; winners are then measured for real with `aisle eval run`.
Figures from here are exploratory only. Usage: python -m bench.explore_retrieval ../shared/data/icecat
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
from ranx import Qrels, Run, evaluate
from scipy.sparse import csr_matrix

from app.domain import lexical
from app.domain.models import Product
from app.main import build_embedder
from app.settings import Settings
from embeddings.readers import read_products
from embeddings.text import product_text
from evals.datasets import read_judgments


def ndcg(judgments, run, split):  # type: ignore[no-untyped-def]
    ids = [q for q in judgments.qrels if judgments.split_of(q) == split]
    return round(
        float(
            evaluate(Qrels({q: judgments.qrels[q] for q in ids}), Run({q: run[q] for q in ids}), "ndcg@10")
        ),
        4,
    )


def lexical_run(products, judgments, title_weight, use_attrs, avg_len):  # type: ignore[no-untyped-def]
    rows, cols, vals = [], [], []
    vocab: dict[str, int] = {}
    for i, p in enumerate(products):
        counts: Counter[str] = Counter()
        for _ in range(title_weight):
            counts.update(lexical.terms(p.title))
        attrs = (
            " ".join(v for v in p.attributes.values() if isinstance(v, str) and len(v) <= 80)
            if use_attrs
            else ""
        )
        counts.update(lexical.terms(f"{p.brand} {p.category} {p.description} {attrs}"))
        length = sum(counts.values())
        norm = lexical.K1 * (1 - lexical.B + lexical.B * length / avg_len)
        for t, tf in counts.items():
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
            vals.append(tf * (lexical.K1 + 1) / (tf + norm))
    m = csr_matrix((vals, (rows, cols)), shape=(len(products), len(vocab)))
    df = np.bincount(m.indices, minlength=len(vocab))
    n = len(products)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    out = {}
    for qid, text in judgments.queries.items():
        q = [vocab[t] for t in set(lexical.terms(text)) if t in vocab]
        scores = np.asarray(m[:, q].multiply(idf[q]).sum(axis=1)).ravel() if q else np.zeros(n)
        top = np.argsort(-scores)[:100]
        out[qid] = [(products[i].id, float(scores[i])) for i in top if scores[i] > 0]
    return out


def dense_run(products, judgments, texts):  # type: ignore[no-untyped-def]
    embedder = build_embedder(Settings(), threads=2)
    docs = np.array(embedder.embed(texts), dtype=np.float32)
    out = {}
    for qid, text in judgments.queries.items():
        qv = np.array(embedder.embed([text])[0], dtype=np.float32)
        scores = docs @ qv
        top = np.argsort(-scores)[:100]
        out[qid] = [(products[i].id, float(scores[i])) for i in top]
    return out


def as_run(lists):  # type: ignore[no-untyped-def]
    return {
        q: ({d: float(len(ranked) - i) for i, (d, _) in enumerate(ranked)} or {"__none__": 0.0})
        for q, ranked in lists.items()
    }


def rrf(a, b, wa, wb, k, depth):  # type: ignore[no-untyped-def]
    out = {}
    for q in a:
        s: dict[str, float] = {}
        for w, lst in ((wa, a[q][:depth]), (wb, b[q][:depth])):
            for r, (d, _) in enumerate(lst):
                s[d] = s.get(d, 0.0) + 1.0 / ((r + 1) / w + k - 1)
        out[q] = sorted(s.items(), key=lambda t: -t[1])[:100]
    return out


def main(icecat: Path) -> None:
    judgments = read_judgments(icecat / "judgments-dev.csv")
    products = [
        p for i in range(1, 5) for p in read_products(icecat / f"products-{i}.json") if isinstance(p, Product)
    ]
    lex = {}
    for tw, attrs, avg in [
        (1, True, 40.0),
        (2, True, 40.0),
        (3, True, 40.0),
        (2, False, 30.0),
        (3, False, 30.0),
    ]:
        lex[(tw, attrs)] = lexical_run(products, judgments, tw, attrs, avg)
        r = as_run(lex[(tw, attrs)])
        print(
            f"lexical title_weight={tw} attrs={attrs}: dev={ndcg(judgments, r, 'dev')} val={ndcg(judgments, r, 'validation')}",
            flush=True,
        )
    variants = {
        "v1 (title, brand/category, description, 8 attributes)": [product_text(p) for p in products],
        "v2 (title, brand, category)": [
            f"{p.title}\nBrand: {p.brand}. Category: {p.category}." for p in products
        ],
    }
    for name, texts in variants.items():
        d = dense_run(products, judgments, texts)
        r = as_run(d)
        print(
            f"dense {name}: dev={ndcg(judgments, r, 'dev')} val={ndcg(judgments, r, 'validation')}",
            flush=True,
        )
        for key, lx in lex.items():
            for wb, k in [(1.0, 60), (2.0, 10), (2.0, 30), (3.0, 30)]:
                f = as_run(rrf(d, lx, 1.0, wb, k, 100))
                print(
                    f"  + lexical {key} w={wb} k={k}: dev={ndcg(judgments, f, 'dev')} val={ndcg(judgments, f, 'validation')}",
                    flush=True,
                )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
