"""Precision of the product-type detector (app/ranking/query_types.py) on judged queries.

A query's true type is the category most of its good results (grade >= 2) belong to; queries
without good results, or whose good results are spread over categories with no majority, have
no true type and are counted apart. Precision = correct / detected (among queries with a true
type); coverage = detected / queries with a true type. Per layer (category names, title words).

    python -m evals.query_types --catalog-file ../shared/data/icecat/products-1.json ... \
        --judgments ../shared/data/icecat/judgments-dev.csv [--out docs/evals/query-types.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from app.domain.lexical import terms
from app.domain.models import Product, filter_key
from app.ranking.catalog import build_context
from embeddings.readers import read_products
from evals.datasets import Judgments, read_judgments

GOOD = 2


def true_types(judgments: Judgments, category: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for qid, grades in judgments.qrels.items():
        good = Counter(category[d] for d, g in grades.items() if g >= GOOD and d in category)
        if not good:
            out[qid] = None
            continue
        top, count = good.most_common(1)[0]
        out[qid] = top if count > sum(good.values()) / 2 else None
    return out


def measure(products: list[Product], judgments: Judgments) -> dict[str, Any]:
    context = build_context(products, {})
    category = {p.id: filter_key(p.category) for p in products if p.category}
    truth = true_types(judgments, category)
    rows: list[dict[str, Any]] = []
    for qid, text in judgments.queries.items():
        detected = context.types.detect(tuple(dict.fromkeys(terms(text))))
        rows.append(
            {
                "query": text,
                "detected": detected.category if detected else None,
                "layer": detected.source if detected else None,
                "true": truth[qid],
                "correct": bool(detected) and truth[qid] == (detected.category if detected else None),
            }
        )
    summary: dict[str, Any] = {
        "queries": len(rows),
        "with_true_type": sum(r["true"] is not None for r in rows),
    }
    for layer in ("all", "name", "title"):
        scoped = [r for r in rows if r["true"] is not None and r["detected"] and layer in ("all", r["layer"])]
        correct = sum(1 for r in scoped if r["correct"])
        summary[layer] = {
            "detected": len(scoped),
            "correct": correct,
            "precision": round(correct / len(scoped), 3) if scoped else None,
        }
    summary["coverage"] = round(summary["all"]["detected"] / max(1, summary["with_true_type"]), 3)
    summary["detected_without_true_type"] = sum(r["true"] is None and r["detected"] is not None for r in rows)
    return {"summary": summary, "queries": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog-file", action="append", required=True, type=Path, dest="files")
    parser.add_argument("--judgments", required=True, type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    products = [p for f in args.files for p in read_products(f) if isinstance(p, Product)]
    result = measure(products, read_judgments(args.judgments))
    for r in result["queries"]:
        mark = "ok" if r["correct"] else ("--" if r["true"] is None else "XX")
        print(f"{mark} {r['query']!r:28} detected={r['detected']} ({r['layer']}) true={r['true']}")
    print(json.dumps(result["summary"], indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
