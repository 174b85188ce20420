"""The event collection and recommendations use cases on fakes: validation, idempotency, unknown
items, attribution; each recommendation type from behaviour, the cold-start fallback to content
(flagged), filters on every source, experiment pins, the LLM step as /similar runs it, and bundles'
co-purchase source below the merchandiser's map."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from app.adapters.memory_store import MemoryControlStore
from app.behaviour import _CoPurchases, _LLMStep
from app.bundles.service import BundleQuery, BundleService
from app.domain.complements import ComplementMap
from app.domain.errors import CatalogNotFound, InvalidRequest, ProductNotFound
from app.domain.events import Impression
from app.domain.models import Filters
from app.events.known import KnownItems
from app.events.service import EventCollector, EventDraft
from app.impressions import ImpressionLog
from app.recommendations.follower import ModelFollower
from app.recommendations.service import RecommendationQuery, RecommendationsService
from app.vocabularies import Vocabularies
from embeddings.ingest import ingest
from tests.bundle_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, ScriptedLLM, make_stage

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


class Shop:
    def __init__(self) -> None:
        self.index = InMemoryVectorIndex()
        asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), self.index, model_id="m"))
        self.store = MemoryControlStore()
        self.follower = ModelFollower(self.store)
        self.impressions = ImpressionLog(self.store)
        self.collector = EventCollector(
            self.store,
            KnownItems(self.index),
            impressions=self.impressions,
            on_stored=self.follower.nudge,
            clock=lambda: NOW,
        )
        self.service = RecommendationsService(self.index, self.store, self.follower, clock=lambda: NOW)

    async def send(self, *drafts: EventDraft) -> None:
        await self.collector.collect("shop", drafts)
        await self.follower.catch_up()


@pytest.fixture
def shop() -> Shop:
    return Shop()


def view(item: str, session: str, **kw: object) -> EventDraft:
    return EventDraft("view", item, session, **kw)  # type: ignore[arg-type]


def buy(item: str, order: str, **kw: object) -> EventDraft:
    return EventDraft("purchase", item, f"s-{order}", order_id=order, **kw)  # type: ignore[arg-type]


async def test_a_batch_is_stored_once_whatever_the_retries(shop: Shop) -> None:
    batch = [view("cam-eos", "s1", event_id="a"), view("bag-canon", "s1", event_id="b")]
    first = await shop.collector.collect("shop", batch)
    assert (first.received, first.stored, first.duplicates) == (2, 2, 0)
    again = await shop.collector.collect("shop", batch)
    assert (again.stored, again.duplicates) == (0, 2)
    stamped = view("cam-eos", "s2", timestamp=NOW - timedelta(minutes=1))  # no id: derived from it
    assert (await shop.collector.collect("shop", [stamped])).stored == 1
    assert (await shop.collector.collect("shop", [stamped])).stored == 0
    bare = view("cam-eos", "s3")  # no id, no timestamp: nothing to recognise a retry by
    assert (await shop.collector.collect("shop", [bare])).stored == 1
    assert (await shop.collector.collect("shop", [bare])).stored == 1
    assert len(await shop.store.events_after(0, 100)) == 5


async def test_unknown_items_are_reported_stored_and_keep_their_category_empty(shop: Shop) -> None:
    result = await shop.collector.collect(
        "shop", [view("cam-eos", "s"), view("not-yet", "s"), view("not-yet", "s2"), view("gone", "s")]
    )
    assert result.stored == 4
    assert result.unknown_item_ids == ["not-yet", "gone"]
    stored = {s.event.item_id: s.event for s in await shop.store.events_after(0, 10)}
    assert stored["cam-eos"].category == "cameras"
    assert stored["not-yet"].category is None


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (view("cam-eos", "s", timestamp=NOW + timedelta(minutes=10)), "events[0].timestamp"),
        (view("cam-eos", "s", timestamp=NOW - timedelta(days=91)), "events[0].timestamp"),
    ],
)
async def test_impossible_timestamps_are_refused_naming_the_event(
    shop: Shop, draft: EventDraft, field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await shop.collector.collect("shop", [draft])
    assert raised.value.field == field
    assert await shop.store.events_after(0, 10) == []  # nothing of a refused batch is stored


async def test_batch_size_and_unknown_catalog(shop: Shop) -> None:
    with pytest.raises(InvalidRequest, match=r"1\.\.1000"):
        await shop.collector.collect("shop", [])
    with pytest.raises(CatalogNotFound):
        await shop.collector.collect("nosuch", [view("x", "s")])


async def test_events_are_attributed_to_the_response_that_showed_the_item(shop: Shop) -> None:
    shown = Impression("shop", "req-1", "search", "llm", ("bag-canon", "bag-lowe"), NOW, "rr", "llm")
    shop.impressions.record(shown)
    result = await shop.collector.collect(
        "shop",
        [
            EventDraft("click", "bag-canon", "s", request_id="req-1", event_id="1"),
            EventDraft("purchase", "cam-eos", "s", request_id="req-1", event_id="2"),  # not shown
            EventDraft("click", "bag-lowe", "s", request_id="unknown", event_id="3"),
            EventDraft("view", "bag-lowe", "s", event_id="4"),
        ],
    )
    assert [(a.type, a.impression.request_id) for a in result.attributed] == [("click", "req-1")]
    retried = await shop.collector.collect(
        "shop", [EventDraft("click", "bag-canon", "s", request_id="req-1", event_id="1")]
    )
    assert retried.attributed == []  # counted the first time
    await shop.impressions.flush()  # now from the store, as another replica would find it
    other = ImpressionLog(shop.store)
    assert (await other.lookup("shop", ["req-1"]))["req-1"] == shown


async def test_cold_start_is_content_flagged_then_behaviour_takes_over(shop: Shop) -> None:
    q = RecommendationQuery("bought_together", item_ids=("cam-eos",), limit=3)
    cold = await shop.service.recommend("shop", q)
    assert cold.source == "content"
    assert len(cold.items) == 3
    assert "cam-eos" not in [i.product.id for i in cold.items]
    for n in range(3):
        await shop.send(buy("cam-eos", f"o{n}"), buy("sd-sandisk", f"o{n}"))
    warm = await shop.service.recommend("shop", q)
    assert warm.items[0].product.id == "sd-sandisk"
    assert warm.source == "blend"  # one behavioural item, content fills the rest
    only = await shop.service.recommend("shop", RecommendationQuery("bought_together", ("cam-eos",), limit=1))
    assert only.source == "events"
    pinned = RecommendationQuery("bought_together", ("cam-eos",), limit=3, blend=1.0)
    assert [i.product.id for i in (await shop.service.recommend("shop", pinned)).items] == ["sd-sandisk"]
    content_only = RecommendationQuery("bought_together", ("cam-eos",), limit=3, blend=0.0)
    assert (await shop.service.recommend("shop", content_only)).source == "content"


async def test_filters_apply_to_behavioural_candidates_too(shop: Shop) -> None:
    for n in range(3):
        await shop.send(buy("cam-eos", f"o{n}"), buy("bag-old", f"o{n}"), buy("sd-sandisk", f"o{n}"))
    in_stock = Filters(in_stock=True, exclude_ids=("sd-sandisk",))
    result = await shop.service.recommend(
        "shop", RecommendationQuery("bought_together", ("cam-eos",), limit=5, filters=in_stock, blend=1.0)
    )
    assert result.items == []  # bag-old is sold out, the card excluded
    memory = Filters(category=("memory",))
    result = await shop.service.recommend(
        "shop", RecommendationQuery("bought_together", ("cam-eos",), limit=2, filters=memory)
    )
    assert result.items[0].product.id == "sd-sandisk"
    assert all(i.product.category == "Memory" for i in result.items)


async def test_viewed_together_and_trending_per_category(shop: Shop) -> None:
    for s in range(3):
        await shop.send(view("shoe-m", f"v{s}"), view("shirt-m", f"v{s}"))
    await shop.send(
        view("bag-lowe", "x"), view("bag-lowe", "y"), view("bag-nikon", "z"), view("shirt-m", "z")
    )
    viewed = await shop.service.recommend(
        "shop", RecommendationQuery("viewed_together", ("shoe-m",), limit=1)
    )
    assert (viewed.items[0].product.id, viewed.source) == ("shirt-m", "events")
    trending = await shop.service.recommend("shop", RecommendationQuery("trending", limit=3))
    assert [i.product.id for i in trending.items] == ["shirt-m", "shoe-m", "bag-lowe"]
    assert trending.source == "events"
    bags = await shop.service.recommend(
        "shop", RecommendationQuery("trending", limit=5, filters=Filters(category=("Bags",)))
    )
    assert [i.product.id for i in bags.items] == ["bag-lowe", "bag-nikon"]
    empty = RecommendationsService(shop.index, MemoryControlStore(), ModelFollower(MemoryControlStore()))
    nothing = await empty.recommend("shop", RecommendationQuery("trending"))
    assert (nothing.items, nothing.source) == ([], "events")


async def test_for_session_blends_neighbours_with_content_and_reads_the_fresh_session(shop: Shop) -> None:
    for s in range(4):  # camera shoppers go on to look at batteries
        await shop.send(
            view("cam-eos", f"past{s}"), view("bag-canon", f"past{s}"), view("bat-canon", f"past{s}")
        )
    await shop.send(view("cam-eos", "now"), view("bag-canon", "now"))
    result = await shop.service.recommend(
        "shop", RecommendationQuery("for_session", session_id="now", limit=5)
    )
    ids = [i.product.id for i in result.items]
    assert ids[0] == "bat-canon"
    assert result.source == "blend"
    assert not {"cam-eos", "bag-canon"} & set(ids)  # what the session saw is not recommended
    new = await shop.service.recommend(
        "shop", RecommendationQuery("for_session", session_id="brand-new", limit=3)
    )
    assert new.source == "events"  # a shopper with no history: what is trending
    cold = await shop.service.recommend(
        "shop", RecommendationQuery("for_session", session_id="brand-new", item_ids=("toner-hp",), limit=3)
    )
    assert cold.source == "content"  # an item no session has touched: its look-alikes


async def test_for_user_reads_the_users_history_across_sessions(shop: Shop) -> None:
    for s in range(12):  # enough sessions for behaviour to outweigh look-alikes (blend.py)
        await shop.send(view("prn-lj", f"p{s}"), view("toner-hp", f"p{s}"), view("paper-a4", f"p{s}"))
    await shop.send(view("prn-lj", "monday", user_id="ann"))
    await shop.send(view("toner-hp", "tuesday", user_id="ann"))
    result = await shop.service.recommend("shop", RecommendationQuery("for_user", user_id="ann", limit=3))
    assert result.items[0].product.id == "paper-a4"


async def test_requests_are_checked(shop: Shop) -> None:
    with pytest.raises(InvalidRequest, match="item"):
        await shop.service.recommend("shop", RecommendationQuery("bought_together"))
    with pytest.raises(InvalidRequest, match="session_id"):
        await shop.service.recommend("shop", RecommendationQuery("for_session"))
    with pytest.raises(InvalidRequest, match="user_id"):
        await shop.service.recommend("shop", RecommendationQuery("for_user"))
    with pytest.raises(ProductNotFound):
        await shop.service.recommend("shop", RecommendationQuery("viewed_together", ("nope",)))
    with pytest.raises(CatalogNotFound):
        await shop.service.recommend("nosuch", RecommendationQuery("trending"))


async def test_the_llm_step_is_the_search_use_cases_and_falls_back_the_same_way(shop: Shop) -> None:
    ids = [p.id for p in SHOP if p.id != "cam-eos"]
    llm = ScriptedLLM(json.dumps({"ranking": [ids[5], ids[3]]}))
    service = RecommendationsService(
        shop.index, shop.store, shop.follower, _LLMStep(make_stage(llm)), depth=30, clock=lambda: NOW
    )
    q = RecommendationQuery("bought_together", ("cam-eos",), limit=3, rerank="llm")
    ranked = await service.recommend("shop", q)
    assert ranked.ranking == "llm"
    assert [i.product.id for i in ranked.items][:2] == [ids[5], ids[3]]
    broken = RecommendationsService(
        shop.index,
        shop.store,
        shop.follower,
        _LLMStep(make_stage(ScriptedLLM("not json"))),
        clock=lambda: NOW,
    )
    fallback = await broken.recommend("shop", q)
    assert (fallback.ranking, fallback.fallback) == ("vector", "invalid_output")
    assert len(fallback.items) == 3
    disabled = await shop.service.recommend("shop", q)  # no LLM step at all
    assert disabled.fallback == "llm_disabled"


async def test_bundles_take_co_purchases_below_the_merchandisers_map(shop: Shop) -> None:
    for n in range(3):
        await shop.send(buy("cam-eos", f"o{n}"), buy("sd-kingston", f"o{n}"))
    store = MemoryControlStore()
    bundles = BundleService(
        shop.index, None, store, Vocabularies(shop.index), purchases=_CoPurchases(shop.service)
    )
    result = await bundles.bundle("shop", BundleQuery(("cam-eos",), max_items=2, compose="vector"))
    assert result.plan.source == "purchases"
    assert result.plan.slots == ("memory",)
    assert result.slots[0].item is not None
    assert result.slots[0].item.product.id == "sd-kingston"  # the co-purchased one, not the nearest
    await store.put("shop", ComplementMap("merchandiser", {"cameras": ("bags",)}, "api"))
    ruled = await bundles.bundle("shop", BundleQuery(("cam-eos",), max_items=2, compose="vector"))
    assert ruled.plan.source == "merchandiser"
    await store.put("shop", ComplementMap("learned", {"cameras": ("batteries",)}, "file"))
    no_merch = MemoryControlStore()
    await no_merch.put("shop", ComplementMap("learned", {"cameras": ("batteries",)}, "file"))
    above_learned = BundleService(
        shop.index, None, no_merch, Vocabularies(shop.index), purchases=_CoPurchases(shop.service)
    )
    assert (
        await above_learned.bundle("shop", BundleQuery(("cam-eos",), compose="vector"))
    ).plan.source == "purchases"
