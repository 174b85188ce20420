"""The bundle use case: anchors in, one complementary item per slot out, explained, with a fallback.

    anchors (+ pins) from the index -> slot plan (planner.py) -> per slot, concurrently: candidates
    from the index (slot category, in stock, budget, request filters, merchandiser excludes;
    conditioned on the anchor: its vector, plus its title's words when there is one anchor) ->
    hard constraints (same gender where the catalog has it; an accessory whose compatibility
    statement names only other devices is dropped) -> merchandiser boosts, then confirmed fits
    -> LLM composition (LLMStage.ask "bundle", validated) or the vector composition -> reasons.

Merchandiser rules are applied before the LLM sees a candidate and it cannot undo them: excluded
ids never reach it, pinned items are fixed slots it is shown but cannot change, boosted brands lead
each candidate list. Every LLM failure returns the vector composition flagged with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from app.bundles.compatibility import fits
from app.bundles.complements import validate_map
from app.bundles.compose import Composition, model_line, vector_compose
from app.bundles.planner import ProposeSlots, SlotPlan, plan_slots
from app.bundles.tasks import bundle_task, slots_task
from app.domain.complements import ComplementMap
from app.domain.errors import InvalidRequest, ProductNotFound
from app.domain.grounding import ground_reply
from app.domain.lexical import query_vector
from app.domain.llm import LLMUsage
from app.domain.models import Filters, Fusion, IndexRecord, Product, ScoredProduct, VectorQuery, filter_key
from app.domain.money import money
from app.domain.search import Ranking
from app.llm.stage import LLMStage
from app.observability.timing import elapsed_ms
from app.ports import ComplementStore, VectorIndex
from app.vocabularies import Vocabularies

Compose = Literal["llm", "vector"]
POOL = 60  # candidates fetched per slot before the hard constraints
SHOWN = 8  # candidates per slot the LLM chooses from
ALTERNATIVES = 3
_KIDS = {"boys", "girls", "unisex kids", "kids"}


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
class BundleSlot:
    category: str
    item: ScoredProduct | None
    alternatives: list[ScoredProduct]
    reason: str | None = None
    pinned: bool = False
    fits_anchor: bool | None = None  # the item's compatibility statement names the anchor
    empty_because: str | None = None


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
    ) -> None:
        self._index = index
        self._stage = stage if stage is not None and stage.enabled else None
        self._store = store
        self._vocabularies = vocabularies
        self._fusion = fusion

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
        llm_tasks: list[LLMUsage] = []
        pinned = {filter_key(records[p].product.category): records[p] for p in dict.fromkeys(q.rules.pin)}
        plan = await plan_slots(
            anchor_products,
            q.slots,
            known,
            maps=lambda source: self._store.get(catalog, source),
            propose=self._proposer(catalog, llm_tasks) if self._stage else None,
            max_items=q.max_items,
        )
        room = max(q.max_items - len(pinned), 0)
        slots = list(dict.fromkeys((*pinned, *[s for s in plan.slots if s not in pinned][:room])))
        timings["plan"] = _ms(step)

        step = time.perf_counter()
        open_slots = [s for s in slots if s not in pinned]
        pools = await asyncio.gather(
            *(self._candidates(catalog, anchors, s, q, list(pinned.values())) for s in open_slots)
        )
        candidates = dict(zip(open_slots, pools, strict=True))
        timings["candidates"] = _ms(step)

        fixed = {s: ScoredProduct(r.product, 1.0, r.content_hash) for s, r in pinned.items()}
        vector = vector_compose(candidates, fixed, q.max_total)
        result = BundleResult(anchor_products, [], plan, llm=llm_tasks)
        composition = vector
        step = time.perf_counter()
        if q.compose == "llm":
            composition = await self._llm_compose(
                catalog, anchor_products, candidates, fixed, vector, q, result
            )
        timings["compose"] = _ms(step)

        result.slots = self._slots(slots, composition, candidates, fixed, anchor_products, q, known.brands)
        result.total_price = composition.total()
        if q.explain:
            result.rationale = self._rationale(composition, anchor_products, known.brands)
        result.timings = {**timings, "total": _ms(start)}
        return result

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

    def _proposer(self, catalog: str, tasks: list[LLMUsage]) -> ProposeSlots:
        stage = self._stage
        assert stage is not None

        async def propose(
            anchors: Sequence[Product], allowed: Sequence[str], limit: int
        ) -> tuple[tuple[str, ...], str | None]:
            answer = await stage.run(slots_task(catalog, anchors, allowed, limit))
            tasks.append(answer.usage)
            return answer.value or (), answer.fallback

        return propose

    async def _candidates(
        self,
        catalog: str,
        anchors: Sequence[IndexRecord],
        slot: str,
        q: BundleQuery,
        pinned: Sequence[IndexRecord],
    ) -> list[ScoredProduct]:
        f = q.filters
        ceiling = (
            q.max_total - sum(p.product.price or 0.0 for p in pinned) if q.max_total is not None else None
        )
        price_max = (
            min(x for x in (f.price_max, ceiling) if x is not None)
            if (f.price_max, ceiling) != (None, None)
            else None
        )
        filters = replace(
            f,
            category=(slot,),
            in_stock=True,
            price_max=price_max,
            exclude_ids=tuple(dict.fromkeys((*f.exclude_ids, *q.anchor_ids, *q.rules.exclude, *q.rules.pin))),
        )
        if price_max is not None and f.price_min is not None and price_max < f.price_min:
            return []
        single = len(anchors) == 1
        hits = await self._index.query(
            catalog,
            VectorQuery(
                positives=tuple(a.vector for a in anchors),
                filters=filters,
                limit=POOL,
                sparse=query_vector(f"{anchors[0].product.brand} {anchors[0].product.title}")
                if single
                else None,
                fusion=self._fusion,
            ),
        )
        products = [a.product for a in anchors]
        boost = {filter_key(b) for b in q.rules.boost_brands}
        kept = []
        for rank, hit in enumerate(hits):
            if not gender_compatible(hit.product, products):
                continue
            verdicts = [fits(hit.product, a) for a in products]
            if verdicts and all(v is False for v in verdicts):
                continue  # its own compatibility list names other devices only
            boosted = filter_key(hit.product.brand) in boost
            kept.append((not boosted, not any(v is True for v in verdicts), rank, hit))
        kept.sort(key=lambda k: k[:3])
        return [k[3] for k in kept]

    async def _llm_compose(
        self,
        catalog: str,
        anchors: Sequence[Product],
        candidates: Mapping[str, Sequence[ScoredProduct]],
        pinned: Mapping[str, ScoredProduct],
        vector: Composition,
        q: BundleQuery,
        result: BundleResult,
    ) -> Composition:
        if self._stage is None:
            result.fallback = "llm_disabled"
            return vector
        shown = {s: list(items[:SHOWN]) for s, items in candidates.items() if items}
        if not shown:
            return vector
        answer = await self._stage.run(bundle_task(catalog, anchors, shown, pinned, vector, q.max_total))
        result.llm.append(answer.usage)
        if answer.value is None:
            result.fallback = answer.fallback
            return vector
        result.ranking = "llm"
        return answer.value

    def _slots(
        self,
        order: Sequence[str],
        c: Composition,
        candidates: Mapping[str, Sequence[ScoredProduct]],
        pinned: Mapping[str, ScoredProduct],
        anchors: Sequence[Product],
        q: BundleQuery,
        brands: Sequence[str],
    ) -> list[BundleSlot]:
        out = []
        for slot in order:
            item = c.picks.get(slot)
            lines = {model_line(item.product)} if item else set()
            alternatives = []
            for other in candidates.get(slot, ()):
                if item is not None and other.product.id == item.product.id:
                    continue
                if model_line(other.product) in lines:
                    continue
                alternatives.append(other)
                lines.add(model_line(other.product))
                if len(alternatives) == ALTERNATIVES:
                    break
            verdicts = [fits(item.product, a) for a in anchors] if item else []
            fit = (
                True
                if any(v is True for v in verdicts)
                else (None if not verdicts or None in verdicts else False)
            )
            reason = None
            if q.explain and item is not None:
                reason = c.reasons.get(item.product.id) or self._template_reason(
                    slot, item.product, anchors, fit
                )
            out.append(
                BundleSlot(
                    category=item.product.category if item else slot,
                    item=item,
                    alternatives=alternatives,
                    reason=reason,
                    pinned=slot in pinned,
                    fits_anchor=fit,
                    empty_because=c.dropped.get(slot) if item is None else None,
                )
            )
        return out

    @staticmethod
    def _template_reason(slot: str, p: Product, anchors: Sequence[Product], fit: bool | None) -> str:
        anchor = anchors[0].title if len(anchors) == 1 else "your selection"
        parts = [f"{p.category or slot} to go with {anchor}"]
        if fit:
            parts.append("its maker lists it as compatible")
        if p.price is not None:
            parts.append(money(p.price, p.currency))
        return "; ".join(parts)

    @staticmethod
    def _rationale(c: Composition, anchors: Sequence[Product], brands: Sequence[str]) -> str:
        items = list(c.picks.values())
        if c.rationale:
            grounded = ground_reply(
                c.rationale,
                [*items, *(ScoredProduct(a, 1.0) for a in anchors)],
                brands=brands,
                conversation="",
            )
            if grounded is not None:
                return grounded.text
        if not items:
            return "No complementary items were found within the constraints."
        currency = anchors[0].currency
        kinds = ", ".join(dict.fromkeys((i.product.category or "item").lower() for i in items))
        names = " and ".join(a.title for a in anchors[:2])
        return f"Completes {names} with {len(items)} item(s) ({kinds}) for {money(c.total(), currency)}."
