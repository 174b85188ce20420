"""Event logs to prove `aisle eval events` on, since no public e-commerce event log with product
texts is at hand (docs/events.md):

- `outfits`: the Pinterest complete-the-look outfits (real co-occurrence, ../shared/data; never
  copied here) as baskets at category level: each outfit is a session that views its items'
  categories in file order and then buys them as one order. There are no times in the data: the
  outfits are spaced a minute apart in file order, so the time-ordered split is the file order.
- `synthetic`: a shopper simulation, clearly labelled SYNTHETIC: a generated catalog (categories,
  styles, colours in the titles), shoppers with favourite styles and categories, sessions that
  browse mostly within a style, add to cart, and buy an item with a planted complement from the
  next category. It has known structure, so it checks that the evaluator and the models find
  what was planted (correctness) and how fast they run (throughput). It says nothing about
  quality on real shoppers.

    .venv/bin/python -m evals.event_logs outfits --outfits ../shared/data/pinterest-ctl/outfits.tsv --out var/outfit-events.jsonl
    .venv/bin/python -m evals.event_logs synthetic --out-dir var/synthetic-shoppers [--users 400] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SYNTHETIC = "SYNTHETIC shopper simulation (correctness and throughput only, never a quality claim)"


def read_outfits(path: Path) -> list[list[str]]:
    """The outfits in file order, each its items' category labels in file order (the header line
    is space-separated, data lines tab-separated: signature ... label)."""
    outfits: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as f:
        next(f, None)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[-1].strip():
                outfits.setdefault(parts[0], []).append(parts[-1].strip())
    return list(outfits.values())


def outfit_events(outfits: list[list[str]]) -> Iterator[dict[str, Any]]:
    """Each outfit (its items' category labels) as a session: views, then one order."""
    for n, categories in enumerate(outfits):
        at = T0 + timedelta(minutes=n)
        items = list(dict.fromkeys(categories))
        for step, kind in enumerate(["view"] * len(items) + ["purchase"] * len(items)):
            item = items[step % len(items)]
            yield {
                "type": kind,
                "item_id": item,
                "category": item,
                "session_id": f"outfit{n}",
                "order_id": f"outfit{n}" if kind == "purchase" else None,
                "timestamp": (at + timedelta(seconds=step)).isoformat(),
            }


@dataclass(frozen=True, slots=True)
class World:
    categories: tuple[str, ...] = (
        "running shoes", "sports socks", "rain jackets", "fleece hats", "backpacks", "water bottles",
        "yoga mats", "yoga blocks", "tents", "sleeping bags", "headlamps", "camping stoves",
    )  # fmt: skip
    styles: tuple[str, ...] = ("trail", "urban", "ultralight", "classic", "pro", "kids")
    colours: tuple[str, ...] = ("red", "blue", "black", "green", "grey", "orange", "white")
    per_category_style: int = 4

    def complement(self, category: int) -> int:
        """The planted complement: each category pairs with the next one (shoes with socks...)."""
        return category + 1 if category % 2 == 0 else category - 1


def synthetic(
    users: int = 400, days: int = 30, seed: int = 7, world: World | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(products, events) of a simulated shop."""
    w = world or World()
    rng = random.Random(seed)
    products: list[dict[str, Any]] = []
    by_slot: dict[tuple[int, int], list[str]] = {}
    for c, category in enumerate(w.categories):
        for s, style in enumerate(w.styles):
            ids = []
            for n in range(w.per_category_style):
                pid = f"p{c:02d}{s}{n}"
                colour = rng.choice(w.colours)
                products.append(
                    {
                        "id": pid,
                        "title": f"{style} {colour} {category[:-1] if category.endswith('s') else category}",
                        "category": category,
                        "brand": f"{style.title()}Co",
                        "price": round(rng.uniform(5, 200), 2),
                    }
                )
                ids.append(pid)
            by_slot[(c, s)] = ids
    events: list[dict[str, Any]] = []
    for u in range(users):
        taste = rng.randrange(len(w.styles))
        favourites = rng.sample(range(len(w.categories)), 2)
        for s in range(rng.randint(1, 6)):
            session = f"u{u}s{s}"
            at = T0 + timedelta(days=rng.uniform(0, days))
            here = rng.choice(favourites)
            cart: list[tuple[int, str]] = []
            for _ in range(rng.randint(2, 8)):
                roll = rng.random()
                if roll < 0.2:
                    here = w.complement(here)
                elif roll < 0.3:
                    here = rng.randrange(len(w.categories))
                this_style = taste if rng.random() < 0.8 else rng.randrange(len(w.styles))
                item = rng.choice(by_slot[(here, this_style)])
                at += timedelta(seconds=rng.uniform(5, 120))
                events.append(_event("view", item, w.categories[here], session, f"u{u}", at))
                if rng.random() < 0.15:
                    cart.append((here, item))
                    events.append(_event("add_to_cart", item, w.categories[here], session, f"u{u}", at))
            if cart and rng.random() < 0.6:
                c, bought = cart[-1]
                partner = rng.choice(by_slot[(w.complement(c), taste)])
                for item, cat in ((bought, c), (partner, w.complement(c))):
                    at += timedelta(seconds=30)
                    events.append(
                        _event("purchase", item, w.categories[cat], session, f"u{u}", at, order=f"o{session}")
                    )
    events.sort(key=lambda e: e["timestamp"])
    return products, events


def _event(
    kind: str, item: str, category: str, session: str, user: str, at: datetime, order: str | None = None
) -> dict[str, Any]:
    return {
        "type": kind,
        "item_id": item,
        "category": category,
        "session_id": session,
        "user_id": user,
        "order_id": order,
        "timestamp": at.isoformat(),
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.event_logs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    outfits = sub.add_parser("outfits", help="Pinterest outfits -> category-level event log")
    outfits.add_argument("--outfits", required=True, type=Path)
    outfits.add_argument("--out", required=True, type=Path)
    synth = sub.add_parser("synthetic", help=SYNTHETIC)
    synth.add_argument("--out-dir", required=True, type=Path)
    synth.add_argument("--users", type=int, default=400)
    synth.add_argument("--days", type=int, default=30)
    synth.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.command == "outfits":
        rows = list(outfit_events(read_outfits(args.outfits)))
        _write_jsonl(args.out, rows)
        print(f"{len(rows)} events from the outfits -> {args.out} (category level; never commit it)")
        return 0
    products, events = synthetic(args.users, args.days, args.seed)
    _write_jsonl(args.out_dir / "products.jsonl", products)
    _write_jsonl(args.out_dir / "events.jsonl", events)
    print(f"{SYNTHETIC}: {len(products)} products, {len(events)} events -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
