"""The bundle use case's LLM tasks: proposing slots and composing the bundle. Each answer is read
strictly against what the task was built from (planner.parse_slots, compose.parse_composition)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from app.bundles.compose import Composition, parse_composition
from app.bundles.planner import anchor_facts, parse_slots
from app.domain.grounding import Facts, Grounds, brand_names
from app.domain.models import Product, ScoredProduct
from app.domain.money import money
from app.llm.output import compact_facts
from app.llm.task import Task


def slots_task(
    catalog: str, anchors: Sequence[Product], allowed: Sequence[str], limit: int
) -> Task[tuple[str, ...]]:
    """Up to `limit` complement categories, only from `allowed` (the catalog's, not the anchors')."""
    return Task(
        "slots",
        {"anchor": anchor_facts(anchors), "categories": json.dumps(list(allowed)), "count": str(limit)},
        lambda text: parse_slots(text, allowed, limit),
        (catalog, [a.id for a in anchors], list(allowed), limit),
        enums={"slots": list(allowed)},
    )


def bundle_task(
    catalog: str,
    anchors: Sequence[Product],
    shown: Mapping[str, Sequence[ScoredProduct]],
    pinned: Mapping[str, ScoredProduct],
    vector: Composition,
    max_total: float | None,
    remaining: float | None,
) -> Task[Composition]:
    """One pick per slot from that slot's shown candidates, pinned slots untouched, the whole
    within `max_total` (`remaining` is what the open slots may spend); slots the LLM skips keep
    the vector choice."""
    grounds = _grounds(anchors, shown, pinned, max_total)
    blocks = [f"Slot: {s} (fixed by the merchandiser): {i.product.title}" for s, i in pinned.items()]
    blocks += [f"Slot: {s}\n{compact_facts(items)}" for s, items in shown.items()]
    return Task(
        "bundle",
        {
            "anchor": anchor_facts(anchors),
            "slots": "\n\n".join(blocks),
            "budget": money(remaining, anchors[0].currency) if remaining is not None else "none",
        },
        lambda text: parse_composition(text, shown, vector, pinned, max_total, grounds),
        (
            catalog,
            [(a.id, a.title) for a in anchors],
            {s: [(i.product.id, i.content_hash) for i in items] for s, items in shown.items()},
            sorted((s, i.product.id) for s, i in pinned.items()),
            max_total,
        ),
        enums={
            "picks": [i.product.id for items in shown.values() for i in items],
            "picks.slot": list(shown),
        },
        max_items={"picks": len(shown)},
    )


def _grounds(
    anchors: Sequence[Product],
    shown: Mapping[str, Sequence[ScoredProduct]],
    pinned: Mapping[str, ScoredProduct],
    max_total: float | None,
) -> Grounds:
    """What a pick's reason may draw on besides its item: the anchors' and the pinned items' facts
    and the budget; the brands of everything shown are the names it must not give another item."""
    related = [*anchors, *(i.product for i in pinned.values())]
    budget = [(max_total, anchors[0].currency)] if max_total is not None and anchors else []
    brands = {p.brand for p in related} | {i.product.brand for items in shown.values() for i in items}
    return Grounds(
        Facts.products(related) | Facts.of(prices=budget), brand_names(tuple(sorted(b for b in brands if b)))
    )
