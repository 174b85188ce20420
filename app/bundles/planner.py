"""Slot planning: which categories complete the anchors, by this order of authority:

1. the request's `slots`;
2. the catalog's merchandiser map (API or file);
3. what this catalog's shoppers bought together with the anchors (signals.py: co-purchases);
4. the catalog's learned map (co-occurrence data);
5. the LLM's proposal (prompts/slots), validated against the catalog's real categories.

Every slot is one of the catalog's categories and never an anchor's own category; the first
source that yields any slot wins (sources are not mixed: a merchandiser's map is a decision, not
a hint). `max_items` caps the slots.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from app.domain.complements import ComplementMap, ComplementSource
from app.domain.errors import InvalidRequest, LLMInvalidOutput
from app.domain.llm import LLMUsage
from app.domain.models import Product, filter_key
from app.domain.vocabulary import Vocabulary
from app.llm.output import extract_json
from app.llm.task import Answer

PlanSource = Literal["request", "merchandiser", "purchases", "learned", "llm"]


@dataclass(frozen=True, slots=True)
class SlotPlan:
    slots: tuple[str, ...]
    source: PlanSource
    fallback: str | None = None  # why the LLM proposal was not used, when it was tried
    usage: LLMUsage | None = None  # the LLM's proposal, when it was asked for one


LoadMap = Callable[[ComplementSource], Awaitable[ComplementMap | None]]
ProposeSlots = Callable[[Sequence[Product], Sequence[str], int], Awaitable[Answer[tuple[str, ...]]]]


def _from_map(mapping: ComplementMap | None, anchors: Sequence[Product], known: Vocabulary) -> list[str]:
    if mapping is None:
        return []
    out: list[str] = []
    for anchor in anchors:
        out += [s for s in mapping.for_category(anchor.category) if known.category(s)]
    return out


def parse_slots(text: str, allowed: Sequence[str], limit: int) -> tuple[str, ...]:
    data = extract_json(text)
    raw = data.get("slots") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise LLMInvalidOutput('the answer has no "slots" list')
    keys = {filter_key(a): a for a in allowed}
    slots = tuple(
        dict.fromkeys(keys[filter_key(s)] for s in raw if isinstance(s, str) and filter_key(s) in keys)
    )
    if not slots:
        raise LLMInvalidOutput("the answer names no category of this catalog")
    return slots[:limit]


async def plan_slots(
    anchors: Sequence[Product],
    requested: Sequence[str],
    known: Vocabulary,
    *,
    maps: LoadMap,
    propose: ProposeSlots | None,
    max_items: int,
    purchases: Sequence[str] = (),
) -> SlotPlan:
    own = {filter_key(a.category) for a in anchors}
    if requested:
        keys = []
        for n, name in enumerate(requested):
            key = known.category(name)
            if key is None:
                raise InvalidRequest(f"slots[{n}]", f"{name!r} is not a category of this catalog")
            keys.append(key)
        return SlotPlan(tuple(dict.fromkeys(keys))[:max_items], "request")
    for source in ("merchandiser", "learned"):  # read only when the sources before said nothing
        slots = [s for s in dict.fromkeys(_from_map(await maps(source), anchors, known)) if s not in own]
        if slots:
            return SlotPlan(tuple(slots[:max_items]), source)
        bought = [s for s in dict.fromkeys(purchases) if s not in own] if source == "merchandiser" else []
        if bought:  # shoppers' co-purchases: below the merchandiser's map, above a learned one
            return SlotPlan(tuple(bought[:max_items]), "purchases")
    fallback = "llm_disabled"
    if propose is not None:
        allowed = [c for c in known.categories if c not in own and c not in ("", "other")]
        answer = await propose(anchors, allowed, max_items)
        if answer.value:
            return SlotPlan(answer.value, "llm", usage=answer.usage)
        fallback = answer.fallback or "invalid_output"
    categories = ", ".join(sorted(own)) or "(none)"
    raise InvalidRequest(
        "slots",
        f"no complement categories are known for {categories} (LLM: {fallback}); pass `slots`, "
        "or set a complement map with PUT /v1/catalogs/{catalog}/complements",
    )


def with_pins(planned: Sequence[str], pinned: Sequence[str], max_items: int) -> list[str]:
    """The bundle's slots: the pinned items' slots first, then the plan's, `max_items` in all."""
    room = max(max_items - len(pinned), 0)
    return list(dict.fromkeys((*pinned, *[s for s in planned if s not in pinned][:room])))


def anchor_facts(anchors: Sequence[Product]) -> str:
    return "\n".join(
        json.dumps(
            {"id": a.id, "title": a.title, "brand": a.brand, "category": a.category, "price": a.price},
            ensure_ascii=False,
        )
        for a in anchors
    )
