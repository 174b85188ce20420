"""The category eval: how often an Icecat product is filed under the right category, before (the
rules as they were, evals/category_rules_v1.py) and after (the rules alone, and the classifier the
catalog teaches: embeddings/categorize.py), on two labelled sets.

    python -m evals.categories --icecat-dir ../shared/data/icecat [--out docs/evals/categories-report.json]

1. `hand`: 300 products drawn at random from the 19,406 (seeds 16 and 1616) and filed by hand
   with the definitions of docs/categories.md, committed with the checker's notes
   (data/sample/icecat-categories-hand.csv). Every system sees the products as ingested.
2. `type_attributes`: the products whose type attributes name one category
   (embeddings/categories.py TYPE_CATEGORIES; 2,000+), in 5 folds by id: each fold's type
   attributes are removed (the label may not be read off the product) and the whole catalog is
   filed again, so the classifier never learns from the products it is scored on. This is the
   situation of the 90% of products that carry no type attribute.

Accuracy and macro-F1 over the labelled categories, in the new taxonomy and collapsed to the old
one (the new categories mapped to where the old rules put them), so the old rules are not
penalised for categories they did not have; and the share filed under `Other`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.domain.models import Product
from embeddings.categories import OTHER, seed, type_category
from embeddings.categorize import file_products
from embeddings.readers import read_products
from evals import category_rules_v1

ROOT = Path(__file__).resolve().parents[1]
HAND = ROOT / "data" / "sample" / "icecat-categories-hand.csv"
# The categories #16 added, and where the old rules filed what they hold.
TO_OLD = {
    "Memory Cards": "Storage",
    "Camera Accessories": "Cameras",
    "Webcams": "Cameras",
    "Printer Accessories": "Printers & Scanners",
    "Docks & Hubs": "Accessories",
}
FOLDS = 5
System = Callable[[Sequence[Product]], list[str]]


def _text(p: Product, key: str) -> str | None:
    value = p.attributes.get(key)
    return value if isinstance(value, str) else None


def old_rules(products: Sequence[Product]) -> list[str]:
    return [
        category_rules_v1.derive_category(_text(p, "product_type"), _text(p, "type"), p.title)
        for p in products
    ]


def new_rules(products: Sequence[Product]) -> list[str]:
    return [seed(p.attributes, p.title).category for p in products]


def classifier(products: Sequence[Product]) -> list[str]:
    return [f.category for f in file_products(products)]


SYSTEMS: dict[str, System] = {"rules_before": old_rules, "rules_after": new_rules, "classifier": classifier}


def scores(predicted: Mapping[str, str], gold: Mapping[str, str], *, collapse: bool) -> dict[str, float]:
    def norm(c: str) -> str:
        return TO_OLD.get(c, c) if collapse else c

    keys = sorted(gold)
    labels = sorted({norm(gold[k]) for k in keys})
    f1 = []
    for label in labels:
        tp = sum(norm(predicted[k]) == label == norm(gold[k]) for k in keys)
        fp = sum(norm(predicted[k]) == label != norm(gold[k]) for k in keys)
        fn = sum(norm(gold[k]) == label != norm(predicted[k]) for k in keys)
        f1.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {
        "accuracy": round(sum(norm(predicted[k]) == norm(gold[k]) for k in keys) / len(keys), 4),
        "macro_f1": round(sum(f1) / len(f1), 4),
        "other_rate": round(sum(predicted[k] == OTHER for k in keys) / len(keys), 4),
    }


def read_hand(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as f:
        return {row["id"]: row["category"] for row in csv.DictReader(f)}


def _masked(p: Product) -> Product:
    return replace(p, attributes={k: v for k, v in p.attributes.items() if k not in ("product_type", "type")})


def held_out(products: Sequence[Product], gold: Mapping[str, str], system: System) -> dict[str, str]:
    """Each labelled product's category with its own fold's type attributes removed."""
    folds: dict[int, set[str]] = defaultdict(set)
    for key in gold:
        folds[int(key) % FOLDS if key.isdigit() else hash(key) % FOLDS].add(key)
    out: dict[str, str] = {}
    for fold in folds.values():
        catalog = [_masked(p) if p.id in fold else p for p in products]
        out |= {p.id: c for p, c in zip(catalog, system(catalog), strict=True) if p.id in fold}
    return out


def evaluate(products: Sequence[Product], hand: Mapping[str, str]) -> dict[str, Any]:
    by_id = {p.id: p for p in products}
    typed = {p.id: c for p in products if (c := type_category(p.attributes)) is not None}
    report: dict[str, Any] = {
        "catalog_products": len(products),
        "hand": {"products": len(hand), "labels": dict(Counter(hand.values()).most_common())},
        "type_attributes": {"products": len(typed), "labels": dict(Counter(typed.values()).most_common())},
    }
    missing = sorted(set(hand) - set(by_id))
    if missing:
        raise SystemExit(f"hand-labelled ids not in the catalog: {missing[:5]}")
    for name, system in SYSTEMS.items():
        started = time.perf_counter()
        everything = dict(zip((p.id for p in products), system(products), strict=True))
        on_hand = {k: everything[k] for k in hand}
        masked = held_out(products, typed, system)
        report["hand"][name] = {
            "new_taxonomy": scores(on_hand, hand, collapse=False),
            "old_taxonomy": scores(on_hand, hand, collapse=True),
        }
        report["type_attributes"][name] = {
            "new_taxonomy": scores(masked, typed, collapse=False),
            "old_taxonomy": scores(masked, typed, collapse=True),
        }
        report.setdefault("catalog", {})[name] = {
            "other_rate": round(sum(c == OTHER for c in everything.values()) / len(everything), 4),
            "seconds": round(time.perf_counter() - started, 1),
        }
        if name == "classifier":
            report["hand"]["classifier_errors"] = [
                {"id": k, "label": hand[k], "filed": on_hand[k], "title": by_id[k].title}
                for k in hand
                if on_hand[k] != hand[k]
            ]
    filed = file_products(products)
    report["catalog"]["classifier"] |= {
        "seeds": sum(f.seeded for f in filed),
        "by_source": dict(Counter(f.source for f in filed).most_common()),
        "categories": dict(Counter(f.category for f in filed).most_common()),
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--icecat-dir", type=Path, required=True)
    parser.add_argument("--hand", type=Path, default=HAND)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "evals" / "categories-report.json")
    args = parser.parse_args(argv)
    files = sorted(args.icecat_dir.glob("products-*.json"))
    # The rows as read (categories from the rules alone): every system files them itself.
    products = [p for f in files for p in read_products(f) if isinstance(p, Product)]
    report = evaluate(products, read_hand(args.hand))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for name in SYSTEMS:
        print(
            f"{name:13s} hand {report['hand'][name]['new_taxonomy']} old-taxonomy "
            f"{report['hand'][name]['old_taxonomy']['accuracy']}; type attributes (held out) "
            f"{report['type_attributes'][name]['new_taxonomy']}"
        )
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
