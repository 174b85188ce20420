"""A slot's candidates, as pure functions: the budget left for the open slots, the index filters
for one slot, the hard constraints (gender; an accessory that says it is for other devices) and
the order: the merchandiser's boosts, then how well an item fits the anchors (fit.py: a
statement or a model match before a series or brand affinity before nothing), then similarity.

The service only adds the I/O: one index query per slot between `slot_filters` and
`slot_candidates`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace

from app.bundles.fit import KIND_WORDS, STRENGTH, Fit, misfit, strongest
from app.domain.models import Filters, Product, ScoredProduct, filter_key

_KIDS = {"boys", "girls", "unisex kids", "kids"}
DEVICE_SLOTS = 3  # the "full plan" for a device: case, memory, power (or what fits it)


def remaining_budget(max_total: float | None, pinned: Iterable[Product]) -> float | None:
    """What the open slots may spend once the pinned items are paid for; None: no budget."""
    if max_total is None:
        return None
    return max_total - sum(p.price or 0.0 for p in pinned)


def slot_filters(
    request: Filters, slot: str, remaining: float | None, excluded: Iterable[str]
) -> Filters | None:
    """One slot's index filters: the slot's category, in stock, the request's own filters, at most
    the remaining budget, none of `excluded` (anchors, pins, the merchandiser's excludes). None
    when no price can satisfy them (the budget left is below the request's `price_min`)."""
    ceiling = min((x for x in (request.price_max, remaining) if x is not None), default=None)
    if ceiling is not None and request.price_min is not None and ceiling < request.price_min:
        return None
    return replace(
        request,
        category=(slot,),
        in_stock=True,
        price_max=ceiling,
        exclude_ids=tuple(dict.fromkeys((*request.exclude_ids, *excluded))),
    )


def _gender(p: Product) -> str | None:
    for key, value in p.attributes.items():
        if key.casefold() == "gender" and isinstance(value, str) and value.strip():
            return value.strip().casefold()
    return None


def gender_compatible(candidate: Product, anchors: Sequence[Product]) -> bool:
    """Same gender as every anchor that has one; unisex goes with adults, unisex kids with kids."""
    mine = _gender(candidate)
    if mine is None:
        return True
    for anchor in anchors:
        theirs = _gender(anchor)
        if theirs is None or theirs == mine:
            continue
        kids = theirs in _KIDS
        if (mine == "unisex" and not kids) or (mine == "unisex kids" and kids):
            continue
        return False
    return True


def admissible(candidate: Product, anchors: Sequence[Product]) -> bool:
    """The hard constraints: the anchors' gender, and no accessory that says it is for other
    devices only (its statement names none of the anchors, or it names another model of theirs)."""
    return gender_compatible(candidate, anchors) and not misfit(candidate, anchors)


def slot_candidates(
    hits: Sequence[ScoredProduct], anchors: Sequence[Product], boost_brands: Iterable[str]
) -> list[ScoredProduct]:
    """The admissible hits: boosted brands first, then by how well they fit (a verified fit
    before an affinity before nothing), then in index order (similarity)."""
    boost = {filter_key(b) for b in boost_brands}

    def order(hit: ScoredProduct) -> tuple[bool, int]:
        found = strongest(hit.product, anchors)
        return filter_key(hit.product.brand) not in boost, -(STRENGTH[found.kind] if found else 0)

    return sorted((h for h in hits if admissible(h.product, anchors)), key=order)  # stable: index order


def _best(pool: Sequence[ScoredProduct], anchors: Sequence[Product]) -> int:
    return max((STRENGTH[f.kind] for h in pool if (f := strongest(h.product, anchors))), default=0)


def fit_tier(pool: Sequence[ScoredProduct], anchors: Sequence[Product]) -> int:
    """How well a slot's candidates can fit the anchors: 0 an item verifiably fits, 1 an item has
    an affinity (series, brand), 2 only unrelated items, 3 no candidate."""
    best = max((STRENGTH[f.kind] for h in pool if (f := strongest(h.product, anchors))), default=-1)
    if best < 0:
        return 2 if pool else 3
    return 0 if best >= STRENGTH["model"] else 1


def least_slots(anchors: Sequence[Product], fitted: Collection[str], room: int) -> tuple[int, int]:
    """(how many slots a bundle fills even without a verified fit, the weakest `fit_tier` that may
    fill them). A device (a category its accessories name by kind: camera, printer, laptop...)
    gets its usual kit of three (a memory card goes with any camera); another anchor of a
    category where fits apply (`fitted`: the electronics taxonomy; a toner, a memory module)
    gets what fits it and, without a fit, one item of some affinity (its series, kind or brand)
    at most: fewer fitting items beat more unrelated ones. Elsewhere (fashion) fits say little:
    `room` slots of any tier, as before."""
    own = {filter_key(a.category) for a in anchors}
    if own & KIND_WORDS.keys():
        return DEVICE_SLOTS, 2
    if own & {filter_key(c) for c in fitted}:
        return 1, 1
    return room, 3


def choose_slots(
    planned: Sequence[str],
    pools: Mapping[str, Sequence[ScoredProduct]],
    anchors: Sequence[Product],
    room: int,
    fitted: Collection[str] = (),
) -> list[str]:
    """Up to `room` of the planned (hinted) slots: every slot with an item that verifiably fits
    the anchors, then, only while fewer than `least_slots` are kept, the others (the strongest
    affinity first: series, kind, brand), each group in the plan's order; the bundle keeps the plan's order. A plan learned
    from data ranks categories; whether this catalog has an accessory for this very device
    decides which of them are worth a slot."""
    tiers = {s: fit_tier(pools.get(s, ()), anchors) for s in planned}
    least, weakest = least_slots(anchors, fitted, room)
    ranked = sorted(planned, key=lambda s: (tiers[s], -_best(pools.get(s, ()), anchors), planned.index(s)))
    fitting = [s for s in ranked if tiers[s] == 0]
    others = [s for s in ranked if 0 < tiers[s] <= weakest]
    kept = set((fitting + others[: max(least - len(fitting), 0)])[:room])
    return [s for s in planned if s in kept]


def item_fit(item: ScoredProduct | None, anchors: Sequence[Product]) -> Fit | None:
    return strongest(item.product, anchors) if item else None


def fits_anchor(item: ScoredProduct | None, anchors: Sequence[Product]) -> bool | None:
    """True if the item verifiably fits an anchor (its statement or its text names the model),
    False if it says it is for other devices, None if neither is known (or there is no item)."""
    if item is None:
        return None
    found = strongest(item.product, anchors)
    if found is not None and found.verified:
        return True
    return False if misfit(item.product, anchors) else None
