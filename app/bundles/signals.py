"""Co-purchase statistics as a bundle source (docs/bundles.md, docs/events.md).

`PurchaseSignals` is what the bundle use case needs from the behavioural models (the
recommendations use case provides it, wired in app/main.py): the items shoppers bought together
with the anchors, strongest first, with each item's category. Bundles use it twice, always below
the merchandiser:

- slot plans: the co-purchased items' categories, by summed strength, are a plan source between
  the merchandiser's map and a learned map (planner.py);
- picking: in each slot, co-purchased items that pass the slot's filters join the candidates
  (even when the vector query did not reach them) and go first, after the merchandiser's boosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.domain.filtering import admits
from app.domain.models import Filters, IndexRecord, Product, ScoredProduct, filter_key
from app.domain.vocabulary import Vocabulary

MAX_CO_PURCHASED = 100


@dataclass(frozen=True, slots=True)
class CoPurchase:
    item_id: str
    category: str  # a category key ("" when the events did not know it)
    score: float


class PurchaseSignals(Protocol):
    async def co_purchased(self, catalog: str, item_ids: Sequence[str], limit: int) -> list[CoPurchase]:
        """What was bought together with these items, strongest first; [] without evidence."""
        ...


def purchase_slots(co: Sequence[CoPurchase], anchors: Sequence[Product], known: Vocabulary) -> list[str]:
    """The catalog categories of co-purchased items, strongest summed score first, never an
    anchor's own category."""
    own = {filter_key(a.category) for a in anchors}
    totals: dict[str, float] = {}
    for c in co:
        category = known.category(c.category) if c.category else None
        if category is not None and category not in own:
            totals[category] = totals.get(category, 0.0) + c.score
    return sorted(totals, key=lambda k: (-totals[k], k))


def co_purchased_first(
    candidates: Sequence[ScoredProduct], co: Sequence[CoPurchase], boost_brands: Sequence[str]
) -> list[ScoredProduct]:
    """Candidates reordered: boosted brands stay first (the merchandiser's word), then items
    bought together with the anchors by strength, then the rest in their order."""
    strength = {c.item_id: c.score for c in co}
    boost = {filter_key(b) for b in boost_brands}

    def order(hit: ScoredProduct) -> tuple[bool, float]:
        return filter_key(hit.product.brand) not in boost, -strength.get(hit.product.id, 0.0)

    return sorted(candidates, key=order)  # stable: equal keys keep the candidates' order


def with_co_purchased(
    hits: Sequence[ScoredProduct], co: Sequence[CoPurchase], records: Sequence[IndexRecord], filters: Filters
) -> list[ScoredProduct]:
    """The slot's hits plus the co-purchased items the index has that pass the slot's filters
    (its category, stock, budget, excludes) and are not among the hits already."""
    strength = {c.item_id: c.score for c in co}
    present = {h.product.id for h in hits}
    extra = [
        ScoredProduct(r.product, strength[r.product.id], r.content_hash)
        for r in records
        if r.product.id in strength and r.product.id not in present and admits(filters, r.product)
    ]
    return [*hits, *extra]
