"""Build the bundled sample catalog from ../shared/data/icecat (a maintainer's tool, run once).

Takes every product judged in judgments-dev.csv plus a seeded random fill up to SIZE products,
converts them to the canonical format with the same reader `aisle ingest` uses (categories filed
by the classifier the whole catalog teaches, embeddings/categorize.py, as `aisle ingest` of the
full catalog would), and writes data/sample/icecat-sample.jsonl. The README's commands never run
this: its output is committed.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

from app.domain.models import Product
from embeddings.readers import read_catalog

SIZE = 3000
SEED = 20261127


def main(shared: Path, out: Path) -> None:
    rows, summary = read_catalog(shared / f"products-{i}.json" for i in range(1, 5))
    by_id = {p.id: p for p in rows if isinstance(p, Product)}
    print(summary.line() if summary else "no Icecat rows", file=sys.stderr)
    with (shared / "judgments-dev.csv").open(newline="") as f:
        judged = {row["docid"] for row in csv.DictReader(f)}
    chosen = sorted(judged & by_id.keys())
    rest = sorted(by_id.keys() - set(chosen))
    random.Random(SEED).shuffle(rest)
    chosen += rest[: max(0, SIZE - len(chosen))]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for pid in sorted(chosen, key=int):
            product = by_id[pid]
            row = {
                "id": product.id,
                "title": product.title,
                "brand": product.brand,
                "description": product.description,
                "category": product.category,
                "price": product.price,
                "currency": product.currency,
                "attributes": dict(product.attributes),
                "in_stock": product.in_stock,
            }
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
    print(f"{len(chosen)} products ({len(judged & by_id.keys())} judged of {len(judged)}) -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
