"""The bundle use case: anchors in, one complementary item per slot out, explained, with a fallback.

    anchors (+ pins) from the index -> slot plan (planner.py) -> per slot, concurrently: candidates
    from the index (slot category, in stock, budget, request filters, merchandiser excludes;
    conditioned on the anchor: its vector, plus its title's words when there is one anchor; and
    one lexical query by the anchors' model numbers over all open slots) ->
    hard constraints (same gender where the catalog has it; an accessory whose compatibility
    statement names only other devices is dropped) -> merchandiser boosts, then confirmed fits
    -> a hinted plan keeps the slots that fit (candidates.choose_slots) -> LLM composition (the "bundle" task, validated) or the vector composition -> reasons.

The rules are pure functions (candidates.py, compose.py, assemble.py); this module does the I/O
and puts the pieces together. Merchandiser rules are applied before the LLM sees a candidate and
it cannot undo them: excluded ids never reach it, pinned items are fixed slots it is shown but
cannot change, boosted brands lead each candidate list. Every LLM failure returns the vector
composition flagged with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from app.bundles.assemble import BundleSlot, assemble_slots, rationale
from app.bundles.candidates import choose_slots, remaining_budget, slot_candidates, slot_filters
from app.bundles.complements import validate_map
from app.bundles.compose import Composition, vector_compose
from app.bundles.defaults import load_defaults, load_never
from app.bundles.fit import fit_terms
from app.bundles.planner import MapSource, ProposeSlots, SlotPlan, plan_slots, with_pins
from app.bundles.signals import (
    MAX_CO_PURCHASED,
    CoPurchase,
    PurchaseSignals,
    co_purchased_first,
    purchase_slots,
    with_co_purchased,
)
from app.bundles.tasks import bundle_task, slots_task
from app.domain.complements import ComplementMap
from app.domain.errors import InvalidRequest, ProductNotFound
from app.domain.lexical import query_vector
from app.domain.llm import LLMUsage
from app.domain.models import Filters, Fusion, IndexRecord, Product, ScoredProduct, VectorQuery, filter_key
from app.domain.search import Ranking
from app.llm.stage import LLMStage
from app.llm.task import Answer, Task
from app.observability.timing import elapsed_ms
from app.ports import ComplementStore, VectorIndex
from app.vocabularies import Vocabularies
from embeddings.categories import TAXONOMY

Compose = Literal["llm", "vector"]
POOL = 60  # candidates fetched per slot before the hard constraints
NAMING_POOL = 60  # items naming the anchors' model numbers, fetched once for all slots
DEFAULTS = ComplementMap("learned", {}, "the curated defaults (app/bundles/defaults/)")  # a marker
SHOWN = 8  # candidates per slot the LLM chooses from
WIDE = 2  # a hinted plan (learned, defaults) looks at this many times `max_items` slots
MAX_PLANNED = 10


@dataclass(frozen=True, slots=True)
class BundleRules:
    pin: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    boost_brands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BundleQuery:
    anchor_ids: tuple[str, ...]
    slots: tuple[str, ...] = ()
    max_items: int = 4
    max_total: float | None = None
    filters: Filters = Filters()
    rules: BundleRules = BundleRules()
    explain: bool = True
    compose: Compose = "llm"


@dataclass(slots=True)
class BundleResult:
    anchors: list[Product]
    slots: list[BundleSlot]
    plan: SlotPlan
    total_price: float = 0.0
    rationale: str | None = None
    ranking: Ranking = "vector"
    fallback: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    llm: list[LLMUsage] = field(default_factory=list)  # one record per LLM task run


@dataclass(frozen=True, slots=True)
class Composed:
    """The composition used, and how it was chosen."""

    composition: Composition
    ranking: Ranking = "vector"
    fallback: str | None = None
    usage: LLMUsage | None = None


def _taxonomy(defaults: ComplementMap | None, never: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """Aisle's electronics categories (embeddings/categories.py, what ingest files products under)
    and any the curated maps name: where accessories fit devices."""
    named = {filter_key(c) for c in TAXONOMY} | {*never, *(s for slots in never.values() for s in slots)}
    if defaults is not None:
        named |= {*defaults.complements, *(s for slots in defaults.complements.values() for s in slots)}
    return frozenset(named)


def _ms(since: float) -> float:
    return round(elapsed_ms(since), 3)


class BundleService:
    def __init__(
        self,
        index: VectorIndex,
        stage: LLMStage | None,
        store: ComplementStore,
        vocabularies: Vocabularies,
        *,
        fusion: Fusion = Fusion(),
        purchases: PurchaseSignals | None = None,
        defaults: ComplementMap | None = DEFAULTS,
        never: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._purchases = purchases  # co-purchase statistics, below the merchandiser (signals.py)
        self._index = index
        self._stage = stage if stage is not None and stage.enabled else None
        self._store = store
        self._vocabularies = vocabularies
        self._fusion = fusion
        self._defaults = load_defaults() if defaults is DEFAULTS else defaults
        self._never = load_never() if defaults is DEFAULTS else (never or {})
        # The taxonomy where accessories fit devices: there a bundle keeps what fits over what is
        # merely similar (candidates.least_slots); fashion keeps its full outfits.
        self._fitted = _taxonomy(self._defaults, self._never)

    async def bundle(self, catalog: str, q: BundleQuery) -> BundleResult:
        start = time.perf_counter()
        self._check(q)
        wanted = list(dict.fromkeys((*q.anchor_ids, *q.rules.pin)))
        records = {r.product.id: r for r in await self._index.retrieve(catalog, wanted)}
        missing = [i for i in wanted if i not in records]
        if missing:
            raise ProductNotFound(catalog, missing)
        anchors = [records[i] for i in dict.fromkeys(q.anchor_ids)]
        anchor_products = [a.product for a in anchors]
        known = await self._vocabularies.get(catalog)
        timings = {"retrieve": _ms(start)}

        step = time.perf_counter()
        pinned = {filter_key(records[p].product.category): records[p] for p in dict.fromkeys(q.rules.pin)}
        co = await self._co_purchased(catalog, q.anchor_ids)
        plan = await plan_slots(
            anchor_products,
            q.slots,
            known,
            maps=lambda source: self._map(catalog, source),
            propose=self._proposer(catalog),
            max_items=min(q.max_items * WIDE, MAX_PLANNED),
            purchases=purchase_slots(co[0], anchor_products, known),
            never=self._never,
        )
        hinted = plan.source in ("learned", "default")  # hints: the slots that fit are kept below
        if not hinted:
            plan = replace(plan, slots=plan.slots[: q.max_items])
        slots = with_pins(plan.slots, list(pinned), len(plan.slots) + len(pinned))
        timings["plan"] = _ms(step)

        step = time.perf_counter()
        remaining = remaining_budget(q.max_total, [r.product for r in pinned.values()])
        open_slots = [s for s in slots if s not in pinned]
        named = await self._naming(catalog, anchor_products, open_slots, q, remaining)
        pools = await asyncio.gather(
            *(self._candidates(catalog, anchors, s, q, remaining, co, named.get(s, ())) for s in open_slots)
        )
        candidates = dict(zip(open_slots, pools, strict=True))
        if hinted:
            room = max(q.max_items - len(pinned), 0)
            chosen = choose_slots(open_slots, candidates, anchor_products, room, self._fitted)
            plan = replace(plan, slots=tuple(chosen), sources=tuple(plan.source_of(s) for s in chosen))
            candidates = {s: candidates[s] for s in chosen}
        slots = with_pins(plan.slots, list(pinned), q.max_items)
        timings["candidates"] = _ms(step)

        fixed = {s: ScoredProduct(r.product, 1.0, r.content_hash) for s, r in pinned.items()}
        vector = vector_compose(candidates, fixed, q.max_total)
        shown = {s: list(items[:SHOWN]) for s, items in candidates.items() if items}
        task = (
            bundle_task(catalog, anchor_products, shown, fixed, vector, q.max_total, remaining)
            if shown
            else None
        )
        step = time.perf_counter()
        composed = await self._compose(task, vector) if q.compose == "llm" else Composed(vector)
        timings["compose"] = _ms(step)

        composition = composed.composition
        return BundleResult(
            anchor_products,
            assemble_slots(slots, composition, candidates, fixed, anchor_products, explain=q.explain),
            plan,
            total_price=composition.total(),
            rationale=rationale(composition, anchor_products) if q.explain else None,
            ranking=composed.ranking,
            fallback=composed.fallback,
            timings={**timings, "total": _ms(start)},
            llm=[u for u in (plan.usage, composed.usage) if u is not None],
        )

    async def _map(self, catalog: str, source: MapSource) -> ComplementMap | None:
        if source == "default":
            return self._defaults
        return await self._store.get(catalog, source)

    async def complement_maps(self, catalog: str) -> tuple[ComplementMap | None, ComplementMap | None]:
        await self._vocabularies.get(catalog)  # 404 for an unknown catalog
        return await self._store.get(catalog, "merchandiser"), await self._store.get(catalog, "learned")

    async def set_merchandiser_map(self, catalog: str, raw: Mapping[str, Sequence[str]]) -> ComplementMap:
        """Validated against the catalog's real categories (422 naming the bad entry), then stored."""
        self._vocabularies.forget(catalog)  # validate against the catalog as it is now
        known = await self._vocabularies.get(catalog)
        mapping = validate_map({k: list(v) for k, v in raw.items()}, known.categories, "merchandiser", "api")
        await self._store.put(catalog, mapping)
        return mapping

    @staticmethod
    def _check(q: BundleQuery) -> None:
        if not q.anchor_ids:
            raise InvalidRequest("anchor_ids", "name at least one anchor product")
        if not 1 <= q.max_items <= 10:
            raise InvalidRequest("max_items", "must be 1..10")
        clash = set(q.rules.pin) & set(q.rules.exclude)
        if clash:
            raise InvalidRequest("rules.pin", f"ids cannot be both pinned and excluded: {sorted(clash)}")
        if set(q.rules.pin) & set(q.anchor_ids):
            raise InvalidRequest("rules.pin", "an anchor cannot also be pinned")
        if q.max_total is not None and q.max_total <= 0:
            raise InvalidRequest("budget.max_total", "must be positive")

    def _proposer(self, catalog: str) -> ProposeSlots | None:
        """The planner's last resort, the LLM's slot proposal; None without an LLM."""
        stage = self._stage
        if stage is None:
            return None

        async def propose(
            anchors: Sequence[Product], allowed: Sequence[str], limit: int
        ) -> Answer[tuple[str, ...]]:
            return await stage.run(slots_task(catalog, anchors, allowed, limit))

        return propose

    async def _candidates(
        self,
        catalog: str,
        anchors: Sequence[IndexRecord],
        slot: str,
        q: BundleQuery,
        remaining: float | None,
        co: tuple[Sequence[CoPurchase], Sequence[IndexRecord]] = ((), ()),
        named: Sequence[ScoredProduct] = (),
    ) -> list[ScoredProduct]:
        filters = slot_filters(q.filters, slot, remaining, (*q.anchor_ids, *q.rules.exclude, *q.rules.pin))
        if filters is None:
            return []
        single = anchors[0].product if len(anchors) == 1 else None
        hits = await self._index.query(
            catalog,
            VectorQuery(
                positives=tuple(a.vector for a in anchors),
                filters=filters,
                limit=POOL,
                sparse=query_vector(f"{single.brand} {single.title}") if single else None,
                fusion=self._fusion,
            ),
        )
        seen = {h.product.id for h in hits}
        hits = [*hits, *(h for h in named if h.product.id not in seen)]  # fits are ranked below
        if co[0]:
            hits = with_co_purchased(hits, co[0], co[1], filters)
        candidates = slot_candidates(hits, [a.product for a in anchors], q.rules.boost_brands)
        return co_purchased_first(candidates, co[0], q.rules.boost_brands) if co[0] else candidates

    async def _naming(
        self,
        catalog: str,
        anchors: Sequence[Product],
        slots: Sequence[str],
        q: BundleQuery,
        remaining: float | None,
    ) -> dict[str, list[ScoredProduct]]:
        """Per slot, the items whose text names the anchors' model numbers (fit.fit_terms): one
        lexical query over all open slots. A vector neighbour of a camera is a camera-ish thing;
        the battery that says "for PhotoSmart 735" is found by its words."""
        terms = fit_terms(anchors)
        excluded = (*q.anchor_ids, *q.rules.exclude, *q.rules.pin)
        filters = slot_filters(q.filters, slots[0], remaining, excluded) if slots and terms else None
        if filters is None or terms is None:
            return {}
        hits = await self._index.query(
            catalog,
            VectorQuery(
                positives=(),
                filters=replace(filters, category=tuple(slots)),
                limit=NAMING_POOL,
                sparse=query_vector(terms),
            ),
        )
        out: dict[str, list[ScoredProduct]] = {}
        for hit in hits:
            out.setdefault(filter_key(hit.product.category), []).append(hit)
        return out

    async def _co_purchased(
        self, catalog: str, anchor_ids: Sequence[str]
    ) -> tuple[list[CoPurchase], list[IndexRecord]]:
        """What shoppers bought with the anchors (signals.py), and those items' records."""
        co = (
            await self._purchases.co_purchased(catalog, anchor_ids, MAX_CO_PURCHASED)
            if self._purchases
            else []
        )
        return co, (await self._index.retrieve(catalog, [c.item_id for c in co]) if co else [])

    async def _compose(self, task: Task[Composition] | None, vector: Composition) -> Composed:
        """The LLM's composition when it gives a valid one; else the vector one, flagged."""
        if self._stage is None:
            return Composed(vector, fallback="llm_disabled")
        if task is None:
            return Composed(vector)  # no candidates in any open slot: nothing to choose
        answer = await self._stage.run(task)
        if answer.value is None:
            return Composed(vector, fallback=answer.fallback, usage=answer.usage)
        if answer.value.ungrounded:  # those reasons (or the rationale) are templated instead
            checks = (*answer.usage.ungrounded, *answer.value.ungrounded.values())
            usage = replace(answer.usage, fallback="ungrounded_reason", ungrounded=checks)
            return Composed(answer.value, "llm", fallback=usage.fallback, usage=usage)
        return Composed(answer.value, "llm", usage=answer.usage)
