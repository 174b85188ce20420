"""From a composition to what the response shows, as pure functions: per slot its item, up to
three alternatives (no model line twice), whether and why it fits the anchor (fit.py) and its
reason; the bundle's rationale, the LLM's when it had a grounded one (compose.py grounds it), else
a template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.bundles.candidates import fits_anchor, item_fit
from app.bundles.compose import Composition, model_line
from app.bundles.fit import Fit
from app.domain.models import Product, ScoredProduct
from app.domain.money import money

ALTERNATIVES = 3


@dataclass(slots=True)
class BundleSlot:
    category: str
    item: ScoredProduct | None
    alternatives: list[ScoredProduct]
    reason: str | None = None
    pinned: bool = False
    fits_anchor: bool | None = None  # the item verifiably fits the anchor (statement or model number)
    empty_because: str | None = None
    fit: Fit | None = None  # why the item goes with the anchor: statement, model, series, brand


def alternatives(item: ScoredProduct | None, candidates: Sequence[ScoredProduct]) -> list[ScoredProduct]:
    """The next best candidates of the slot, none of the item's model line nor each other's."""
    lines = {model_line(item.product)} if item else set()
    out: list[ScoredProduct] = []
    for other in candidates:
        if item is not None and other.product.id == item.product.id:
            continue
        if model_line(other.product) in lines:
            continue
        out.append(other)
        lines.add(model_line(other.product))
        if len(out) == ALTERNATIVES:
            break
    return out


def fit_phrase(fit: Fit) -> str:
    """Why it goes with the anchor, in words a shopper reads."""
    if fit.kind == "statement":
        return "its maker lists it as compatible"
    if fit.kind == "model":
        return f"made for the {fit.evidence} (its description names the model)"
    if fit.kind == "series":
        return f"made for the {fit.evidence} series"
    if fit.kind == "kind":
        return f"made for a {fit.evidence}"
    return f"made by or for {fit.evidence}"


def template_reason(slot: str, p: Product, anchors: Sequence[Product], fit: Fit | None) -> str:
    anchor = anchors[0].title if len(anchors) == 1 else "your selection"
    parts = [f"{p.category or slot} to go with {anchor}"]
    if fit is not None:
        parts.append(fit_phrase(fit))
    if p.price is not None:
        parts.append(money(p.price, p.currency))
    return "; ".join(parts)


def assemble_slots(
    order: Sequence[str],
    c: Composition,
    candidates: Mapping[str, Sequence[ScoredProduct]],
    pinned: Mapping[str, ScoredProduct],
    anchors: Sequence[Product],
    *,
    explain: bool,
) -> list[BundleSlot]:
    out = []
    for slot in order:
        item = c.picks.get(slot)
        fit = item_fit(item, anchors)
        reason = None
        if explain and item is not None:
            reason = c.reasons.get(item.product.id) or template_reason(slot, item.product, anchors, fit)
        out.append(
            BundleSlot(
                category=item.product.category if item else slot,
                item=item,
                alternatives=alternatives(item, candidates.get(slot, ())),
                reason=reason,
                pinned=slot in pinned,
                fits_anchor=fits_anchor(item, anchors),
                empty_because=c.dropped.get(slot) if item is None else None,
                fit=fit,
            )
        )
    return out


def rationale(c: Composition, anchors: Sequence[Product]) -> str:
    items = list(c.picks.values())
    if c.rationale:
        return c.rationale
    if not items:
        return "No complementary items were found within the constraints."
    currency = anchors[0].currency
    kinds = ", ".join(dict.fromkeys((i.product.category or "item").lower() for i in items))
    names = " and ".join(a.title for a in anchors[:2])
    return f"Completes {names} with {len(items)} item(s) ({kinds}) for {money(c.total(), currency)}."
