"""How the deterministic intent parser (the assistant's no-LLM path) reads realistic shopping
utterances: `python -m evals.intents [--catalog FILE] [--out FILE]`.

The utterances and their expected intents (evals/assistant/utterances.jsonl, 30 written by hand
for the bundled sample catalog's vocabulary) are scored field by field; an utterance is fully
correct when every expected field matches: categories, brands, excluded brands (as sets), price
bounds (to the cent), sort, and every expected query word appears in the search text. Fields an
entry does not state must be empty / null / "relevance".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.assistant.conversation import Turn
from app.assistant.intent import Intent
from app.assistant.parser import IntentParser
from app.domain.models import Product, filter_key
from app.domain.vocabulary import Vocabulary
from embeddings.readers import read_products

ROOT = Path(__file__).resolve().parents[1]
UTTERANCES = ROOT / "evals" / "assistant" / "utterances.jsonl"
SAMPLE = ROOT / "data" / "sample" / "icecat-sample.jsonl"
FIELDS = ("query", "category", "brands", "exclude_brands", "price_min", "price_max", "sort")


def vocabulary_of(products: Iterable[Product]) -> Vocabulary:
    categories: Counter[str] = Counter()
    brands: Counter[str] = Counter()
    for p in products:
        categories[filter_key(p.category)] += 1
        brands[filter_key(p.brand)] += 1
    return Vocabulary(
        tuple(c for c, _ in categories.most_common() if c), tuple(b for b, _ in brands.most_common() if b)
    )


def conversation(entry: dict[str, Any]) -> list[Turn]:
    replies = entry.get("replies", [])
    turns: list[Turn] = []
    for n, text in enumerate(entry["turns"]):
        if n:
            reply = replies[n - 1] if n - 1 < len(replies) and replies[n - 1] else "Here are some options."
            turns.append(Turn("assistant", reply))
        turns.append(Turn("user", text))
    return turns


def field_results(intent: Intent, expect: dict[str, Any]) -> dict[str, bool]:
    words = set(intent.search_text.casefold().split())
    return {
        "query": all(w.casefold() in words for w in expect.get("query", [])),
        "category": set(intent.categories) == set(expect.get("category", [])),
        "brands": set(intent.brands) == set(expect.get("brands", [])),
        "exclude_brands": set(intent.exclude_brands) == set(expect.get("exclude_brands", [])),
        "price_min": intent.price_min == expect.get("price_min"),
        "price_max": intent.price_max == expect.get("price_max"),
        "sort": intent.sort == expect.get("sort", "relevance"),
    }


def evaluate(parser: IntentParser, entries: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for entry in entries:
        intent = parser.parse(conversation(entry))
        checks = field_results(intent, entry["expect"])
        rows.append(
            {
                "id": entry["id"],
                "turns": entry["turns"],
                "correct": all(checks.values()),
                "wrong_fields": [f for f, ok in checks.items() if not ok],
                "parsed": intent.as_dict(),
            }
        )
    n = len(rows)
    return {
        "utterances": n,
        "fully_correct": sum(r["correct"] for r in rows),
        "share_fully_correct": round(sum(r["correct"] for r in rows) / n, 4) if n else 0.0,
        "field_accuracy": {f: round(sum(f not in r["wrong_fields"] for r in rows) / n, 4) for f in FIELDS},
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--catalog", type=Path, default=SAMPLE)
    parser.add_argument("--utterances", type=Path, default=UTTERANCES)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    products = [p for p in read_products(args.catalog) if isinstance(p, Product)]
    entries = [json.loads(line) for line in args.utterances.read_text().splitlines() if line.strip()]
    report = evaluate(IntentParser(vocabulary_of(products)), entries)
    for row in report["rows"]:
        if not row["correct"]:
            print(f"#{row['id']:>2} wrong {row['wrong_fields']}: {row['turns']} -> {row['parsed']}")
    print(
        f"fully correct: {report['fully_correct']}/{report['utterances']} "
        f"({report['share_fully_correct']:.0%}); per field: {report['field_accuracy']}"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
