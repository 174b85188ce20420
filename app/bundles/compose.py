"""Choosing one item per slot: the vector composition (the fallback, and the LLM's fill-in) and the
strict reading of the LLM's composition.

Vector: the best candidate per slot in candidate order, skipping an item whose brand + model line
is already in the bundle; over budget, the most expensive pick is swapped for the best cheaper
candidate of its slot, or its slot is dropped. LLM: ids only from that slot's candidates, one per
slot (first wins), pinned slots untouchable, slots it skipped filled by the vector choice, the
whole within budget, or the answer is invalid (one re-ask, then the vector bundle). Each pick's
reason is grounded in that item's facts, the rationale in the picks' and anchors' (the total and
the budget may be stated); one that is not is left out (the template is shown) and recorded in
`Composition.ungrounded`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.domain.errors import LLMInvalidOutput
from app.domain.grounding import RATIONALE, Facts, Grounds, ground_reasons, ground_reply
from app.domain.models import Product, ScoredProduct, filter_key
from app.llm.output import extract_json

_HAS_DIGIT = re.compile(r"\d")


def model_line(p: Product) -> tuple[str, str]:
    """(brand, model line): the first title token with a digit after the brand ("DCB-306",
    "EOS"), else the first two words; "no two items of the same brand+model line"."""
    brand = filter_key(p.brand)
    words = p.title.split()
    if words and filter_key(words[0]) == brand:
        words = words[1:]
    for word in words:
        if _HAS_DIGIT.search(word):
            return brand, re.sub(r"\d.*$", "", word.casefold()) or word.casefold()
    return brand, " ".join(words[:2]).casefold()


@dataclass(slots=True)
class Composition:
    picks: dict[str, ScoredProduct] = field(default_factory=dict)  # slot -> item
    reasons: dict[str, str] = field(default_factory=dict)  # product id -> reason
    rationale: str | None = None
    dropped: dict[str, str] = field(default_factory=dict)  # slot -> why it is empty
    ungrounded: dict[str, str] = field(default_factory=dict)  # product id or "rationale" -> check

    def total(self) -> float:
        return round(sum(i.product.price or 0.0 for i in self.picks.values()), 2)


def vector_compose(
    candidates: Mapping[str, Sequence[ScoredProduct]],
    pinned: Mapping[str, ScoredProduct],
    max_total: float | None,
) -> Composition:
    out = Composition(picks=dict(pinned))
    lines = {model_line(i.product) for i in pinned.values()}
    for slot, items in candidates.items():
        if slot in out.picks:
            continue
        choice = next((i for i in items if model_line(i.product) not in lines), None)
        if choice is None:
            out.dropped[slot] = "no candidate"
            continue
        out.picks[slot] = choice
        lines.add(model_line(choice.product))
    if max_total is not None:
        _fit_budget(out, candidates, pinned, max_total)
    return out


def _fit_budget(
    out: Composition,
    candidates: Mapping[str, Sequence[ScoredProduct]],
    pinned: Mapping[str, ScoredProduct],
    max_total: float,
) -> None:
    while out.total() > max_total:
        swappable = [s for s in out.picks if s not in pinned]
        if not swappable:
            return  # only pinned items left: the merchandiser's pins are never dropped
        slot = max(swappable, key=lambda s: out.picks[s].product.price or 0.0)
        current = out.picks[slot].product.price or 0.0
        others = {model_line(i.product) for s, i in out.picks.items() if s != slot}
        cheaper = next(
            (
                i
                for i in candidates.get(slot, ())
                if (i.product.price or 0.0) < current and model_line(i.product) not in others
            ),
            None,
        )
        if cheaper is None:
            del out.picks[slot]
            out.dropped[slot] = "budget"
        else:
            out.picks[slot] = cheaper


def parse_composition(
    text: str,
    candidates: Mapping[str, Sequence[ScoredProduct]],
    fallback: Composition,
    pinned: Mapping[str, ScoredProduct],
    max_total: float | None,
    grounds: Grounds,
) -> Composition:
    """`grounds`: what a reason may draw on besides its item (the anchors, the budget)."""
    data = extract_json(text)
    raw = data.get("picks") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise LLMInvalidOutput('the answer has no "picks" list')
    by_slot = {s: {i.product.id: i for i in items} for s, items in candidates.items()}
    slot_keys = {filter_key(s): s for s in candidates}
    out = Composition(picks=dict(pinned))
    chosen = 0
    reasons: dict[str, str] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        slot = slot_keys.get(filter_key(str(entry.get("slot", ""))))
        pid = str(entry.get("id", ""))
        if slot is None or slot in out.picks or pid not in by_slot[slot]:
            continue  # an unknown slot, a second pick, a pinned slot, or an id from elsewhere
        out.picks[slot] = by_slot[slot][pid]
        chosen += 1
        reason = entry.get("reason")
        if isinstance(reason, str) and reason.strip():
            reasons[pid] = " ".join(reason.split())
    if not chosen:
        raise LLMInvalidOutput("the answer picks no candidate of any slot")
    for slot, item in fallback.picks.items():  # slots the LLM skipped keep the vector choice
        if slot not in out.picks and item.product.id not in {i.product.id for i in out.picks.values()}:
            out.picks[slot] = item
    out.dropped = {s: why for s, why in fallback.dropped.items() if s not in out.picks}
    if max_total is not None and out.total() > max_total + 1e-9:
        raise LLMInvalidOutput(f"the bundle costs {out.total():.2f}, over the budget of {max_total:.2f}")
    grounded = ground_reasons(reasons, {i.product.id: i.product for i in out.picks.values()}, grounds)
    out.reasons, out.ungrounded = grounded.text, dict(grounded.ungrounded)
    rationale = data.get("rationale")
    if isinstance(rationale, str) and rationale.strip():
        _ground_rationale(out, " ".join(rationale.split()), grounds)
    return out


def _ground_rationale(out: Composition, rationale: str, grounds: Grounds) -> None:
    """The rationale is about the whole bundle: its items' facts, the anchors', and its total."""
    items = list(out.picks.values())
    currency = items[0].product.currency if items else None
    total = Grounds(grounds.context | Facts.of(prices=[(out.total(), currency)]), grounds.brands)
    checked = ground_reply(rationale, items, total, RATIONALE)
    if checked.failed is None:
        out.rationale = checked.text
    else:
        out.ungrounded["rationale"] = checked.failed
