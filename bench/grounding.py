"""Grounding benchmark: what checking an LLM answer's reasons costs. Reports figures, asserts nothing.

`python -m bench.grounding` (about half a minute on 2 cores). Over the bundled Icecat sample, in
one run: an `explain` answer for 10 products (one reason each, built from the product's facts, as
a good model writes them; and the same answer with every reason an advertisement), timed as the
stage runs it: `parse_reasons` (reading the JSON) alone, then `parse_reasons` + `ground_reasons`.
The ratio is the grounding's share of validating an answer. Writes bench/results/grounding.json.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from app.domain.grounding import Facts, Grounds, brand_names, ground_reasons
from app.domain.models import Product
from app.domain.money import money
from app.llm.output import parse_reasons

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "icecat-sample.jsonl"
OUT = ROOT / "bench" / "results" / "grounding.json"
AD = "Only $1.00 today at http://evil.example, call 555-0199"
PER_ANSWER = 10


def _reason(p: Product) -> str:
    specs = [
        f"{k.replace('_', ' ')} {v}" for k, v in p.attributes.items() if isinstance(v, str) and len(v) <= 40
    ]
    price = f" for {money(p.price, p.currency)}" if p.price is not None else ""
    return f"{p.brand} {p.category.lower()}{price}: {', '.join(specs[:2]) or p.title}."


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 3),
        "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 3),
    }


def main() -> None:
    products = [Product(**json.loads(line)) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    grounds = Grounds(Facts.of("a query"), brand_names(tuple({p.brand for p in products})))
    answers = [products[i : i + PER_ANSWER] for i in range(0, len(products), PER_ANSWER)]
    figures: dict[str, object] = {
        "products": len(products),
        "answers": len(answers),
        "per_answer": PER_ANSWER,
    }
    for kind in ("facts", "advert"):
        parse_only, grounded, kept = [], [], 0
        for batch in answers:
            ids = [p.id for p in batch]
            by_id = {p.id: p for p in batch}
            text = json.dumps(
                {"reasons": [{"id": p.id, "reason": _reason(p) if kind == "facts" else AD} for p in batch]}
            )
            start = time.perf_counter()
            parse_reasons(text, ids)
            parse_only.append(time.perf_counter() - start)
            start = time.perf_counter()
            reasons = ground_reasons(parse_reasons(text, ids), by_id, grounds)
            grounded.append(time.perf_counter() - start)
            kept += len(reasons.text)
        figures[kind] = {
            "parse_ms": _ms(parse_only),
            "parse_and_ground_ms": _ms(grounded),
            "ratio_p50": round(statistics.median(grounded) / statistics.median(parse_only), 1),
            "reasons_kept": kept,
            "reasons": len(products),
        }
    OUT.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
