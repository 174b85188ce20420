"""Slot planning: which categories complete the anchors, by this order of authority:

1. the request's `slots`;
2. the catalog's merchandiser map (API);
3. what this catalog's shoppers bought together with the anchors (signals.py: co-purchases);
4. the other maps, in `MAP_STEPS` order: the map learned from the catalog (fits ranked by lift,
   or outfits), the curated defaults (app/bundles/defaults/);
5. the LLM's proposal (prompts/slots), validated against the catalog's real categories.

Every slot is one of the catalog's categories and never an anchor's own category; `max_items`
caps the slots. A decisive step (the request, the merchandiser's map: decisions, not hints) that
yields any slot is the whole plan. Hints (learned, defaults) are merged in order: the learned
slots first, then the defaults the learned map lacks, so a thin learned map is filled up, never
overridden. Each slot keeps the source it came from. A hint slot listed as `never` for an anchor's
category (defaults/: a printer needs no case) is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from app.domain.complements import ComplementMap
from app.domain.errors import InvalidRequest, LLMInvalidOutput
from app.domain.llm import LLMUsage
from app.domain.models import Product, filter_key
from app.domain.vocabulary import Vocabulary
from app.llm.output import extract_json
from app.llm.task import Answer

PlanSource = Literal["request", "merchandiser", "purchases", "learned", "default", "llm"]
MapSource = Literal["merchandiser", "learned", "default"]  # "default": the curated maps, shipped


@dataclass(frozen=True, slots=True)
class MapStep:
    source: MapSource
    decisive: bool  # a decision: its slots are the plan; else a hint, merged with the next hints


# The maps, strongest first. A new source (co-purchase statistics, say) is one more step here.
MAP_STEPS: tuple[MapStep, ...] = (
    MapStep("merchandiser", decisive=True),
    MapStep("learned", decisive=False),
    MapStep("default", decisive=False),
)


@dataclass(frozen=True, slots=True)
class SlotPlan:
    slots: tuple[str, ...]
    source: PlanSource  # where the first slot came from
    fallback: str | None = None  # why the LLM proposal was not used, when it was tried
    usage: LLMUsage | None = None  # the LLM's proposal, when it was asked for one
    sources: tuple[PlanSource, ...] = ()  # per slot, when the plan merges several maps

    def source_of(self, slot: str) -> PlanSource:
        return self.sources[self.slots.index(slot)] if self.sources and slot in self.slots else self.source


LoadMap = Callable[[MapSource], Awaitable[ComplementMap | None]]
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
    never: Mapping[str, frozenset[str]] | None = None,
) -> SlotPlan:
    own = {filter_key(a.category) for a in anchors}
    senseless = set().union(*((never or {}).get(c, frozenset()) for c in own))
    if requested:
        keys = []
        for n, name in enumerate(requested):
            key = known.category(name)
            if key is None:
                raise InvalidRequest(f"slots[{n}]", f"{name!r} is not a category of this catalog")
            keys.append(key)
        return SlotPlan(tuple(dict.fromkeys(keys))[:max_items], "request")
    hints: dict[str, PlanSource] = {}
    for step in MAP_STEPS:  # a map is read only when the steps before left room
        slots = [s for s in dict.fromkeys(_from_map(await maps(step.source), anchors, known)) if s not in own]
        if step.decisive and slots and not hints:
            return SlotPlan(tuple(slots[:max_items]), step.source)
        bought = (
            [s for s in dict.fromkeys(purchases) if s not in own] if step.source == "merchandiser" else []
        )
        if bought:  # shoppers' co-purchases: below the merchandiser's map, above the learned hints
            return SlotPlan(tuple(bought[:max_items]), "purchases")
        for slot in slots:
            if slot not in senseless:
                hints.setdefault(slot, step.source)
        if len(hints) >= max_items:
            break
    if hints:
        chosen = list(hints.items())[:max_items]
        return SlotPlan(
            tuple(s for s, _ in chosen), chosen[0][1], sources=tuple(source for _, source in chosen)
        )
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
