"""What catalog writes tell the state kept per catalog outside the index, wired as the composition
root wires it (app/main.py, app/behaviour.py): a deleted catalog leaves no events, models, known
ids or ranking statistics behind, so one recreated under its name starts empty; changed products
make the known ids and the ranking statistics fresh again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import pytest

from app.adapters.memory_store import MemoryControlStore
from app.catalogs.patch import ProductChanges
from app.catalogs.plan import RawRow
from app.catalogs.service import CatalogWrites
from app.domain.catalog_changes import CatalogChange
from app.domain.errors import CatalogNotFound
from app.domain.events import StoredEvent
from app.domain.models import Product
from app.events.known import KnownItems
from app.events.service import EventCollector, EventDraft
from app.ranking.catalog import CatalogContexts
from app.recommendations.follower import ModelFollower
from app.recommendations.service import RecommendationQuery, RecommendationsService
from app.vocabularies import Vocabularies
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
PRODUCTS = [
    b'{"id": "cam", "title": "mirrorless camera", "category": "Cameras", "price": 900}',
    b'{"id": "bag", "title": "camera bag", "category": "Bags", "price": 40}',
    b'{"id": "sd", "title": "sd card 128 gb", "category": "Memory", "price": 20}',
]


class Process:
    """One API process: the write use case and the per-catalog state it must keep honest."""

    def __init__(self, store: MemoryControlStore | None = None) -> None:
        self.index = InMemoryVectorIndex()
        self.store = store or MemoryControlStore()
        self.follower = ModelFollower(self.store)
        self.known = KnownItems(self.index, ttl_s=3600.0)
        self.contexts = CatalogContexts(self.index, rebuild_gap_s=0.0)
        self.collector = EventCollector(self.store, self.known, clock=lambda: NOW)
        self.recommendations = RecommendationsService(
            self.index, self.store, self.follower, clock=lambda: NOW
        )
        self.writes = CatalogWrites(
            HashingEmbedder(),
            self.index,
            self.store,
            model_id="m",
            listeners=(Vocabularies(self.index), self.contexts, self.known, self.follower),
        )

    async def shop_with_behaviour(self) -> None:
        await self.writes.create("shop")
        await self.writes.upsert("shop", [RawRow(n, p) for n, p in enumerate(PRODUCTS, start=1)])
        for n in range(3):
            order = f"o{n}"
            await self.collector.collect(
                "shop",
                [
                    EventDraft("purchase", "cam", f"s{n}", order_id=order),
                    EventDraft("purchase", "sd", f"s{n}", order_id=order),
                ],
            )
        await self.follower.catch_up()

    async def bought_with_camera(self) -> list[str]:
        q = RecommendationQuery("bought_together", item_ids=("cam",), limit=3, blend=1.0)
        return [i.product.id for i in (await self.recommendations.recommend("shop", q)).items]

    async def trending(self) -> list[str]:
        result = await self.recommendations.recommend("shop", RecommendationQuery("trending", limit=3))
        return [i.product.id for i in result.items]


async def test_a_recreated_catalog_inherits_nothing_from_the_deleted_one() -> None:
    p = Process()
    await p.shop_with_behaviour()
    assert await p.bought_with_camera() == ["sd"]
    assert await p.trending()
    assert await p.contexts.get("shop", wait=True) is not None
    await p.writes.delete("shop")
    assert p.follower.stats() == {}
    assert await p.contexts.get("shop", wait=False) is None
    with pytest.raises(CatalogNotFound):  # the known ids went with it: not accepted from a cache
        await p.collector.collect("shop", [EventDraft("view", "cam", "s9")])
    await p.writes.create("shop")
    await p.writes.upsert("shop", [RawRow(n, p_) for n, p_ in enumerate(PRODUCTS, start=1)])
    await p.follower.catch_up()
    assert await p.bought_with_camera() == []
    assert await p.trending() == []
    restarted = Process(p.store)  # a replay from the store does not bring it back either
    await restarted.follower.catch_up()
    assert restarted.follower.stats() == {}


class _HeldStore(MemoryControlStore):
    """`events_after` waits at a gate once armed: a catch-up caught mid-flight."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.reading = anyio.Event()
        self.gate = anyio.Event()

    async def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        found = await super().events_after(seq, limit)
        if self.armed:
            self.armed = False
            self.reading.set()
            await self.gate.wait()
        return found


async def test_a_catch_up_under_way_when_the_catalog_is_dropped_does_not_bring_its_model_back() -> None:
    store = _HeldStore()
    p = Process(store)
    await p.shop_with_behaviour()
    await p.collector.collect("shop", [EventDraft("view", "bag", "late")])
    store.armed = True
    async with anyio.create_task_group() as tg:
        tg.start_soon(p.follower.catch_up)  # has read the late event before the delete
        await store.reading.wait()
        tg.start_soon(p.writes.delete, "shop")
        await anyio.sleep(0.05)
        store.gate.set()
    assert p.follower.stats() == {}
    await p.follower.catch_up()
    assert p.follower.stats() == {}


async def test_known_ids_forget_deleted_and_patched_items() -> None:
    p = Process()
    await p.shop_with_behaviour()
    assert await p.known.categories("shop", ["bag"]) == {"bag": "bags"}
    await p.writes.patch("shop", "bag", ProductChanges(category="Luggage"))
    assert await p.known.categories("shop", ["bag"]) == {"bag": "luggage"}
    await p.writes.delete_products("shop", ["bag"])
    assert await p.known.categories("shop", ["bag", "cam"]) == {"cam": "cameras"}
    collected = await p.collector.collect("shop", [EventDraft("view", "bag", "s")])
    assert collected.unknown_item_ids == ["bag"]


async def _settle(contexts: CatalogContexts) -> None:
    for _ in range(200):
        if not contexts._building:
            return
        await asyncio.sleep(0.01)


async def test_changed_products_make_the_ranking_statistics_stale_and_rebuilt_in_the_background() -> None:
    p = Process()
    await p.shop_with_behaviour()
    first = await p.contexts.get("shop", wait=True)
    assert first is not None
    await p.writes.upsert("shop", [RawRow(1, b'{"id": "lens", "title": "50mm lens", "category": "Lenses"}')])
    assert await p.contexts.get("shop", wait=False) is first  # served while the rebuild runs
    await _settle(p.contexts)
    rebuilt = await p.contexts.get("shop", wait=False)
    assert rebuilt is not None
    assert "lens" in rebuilt.stats.rows


async def test_changes_rebuild_no_sooner_than_the_gap_after_the_last_build() -> None:
    index = InMemoryVectorIndex()
    await ingest(
        [Product(id="a", title="lamp", category="Lamps")], "shop", HashingEmbedder(), index, model_id="m"
    )
    contexts = CatalogContexts(index, rebuild_gap_s=60.0)
    first = await contexts.get("shop", wait=True)
    await ingest(
        [Product(id="b", title="desk lamp", category="Lamps")], "shop", HashingEmbedder(), index, model_id="m"
    )
    await contexts.catalog_changed(CatalogChange("shop", "products", ("b",)))
    assert await contexts.get("shop", wait=False) is first
    assert contexts._building == {}  # built moments ago: not again before the gap
    checked, _ = contexts._ready["shop"]
    assert time.monotonic() - checked > 300.0 - 60.0 - 1.0  # stale once 60 s have passed since the build


class _SlowIndex(InMemoryVectorIndex):
    """`fingerprints` waits at a gate once armed: a statistics build caught mid-flight."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.gate = asyncio.Event()

    async def fingerprints(self, catalog: str, ids: Sequence[str] | None = None) -> dict[str, str]:
        found = await super().fingerprints(catalog, ids)
        if self.armed:
            await self.gate.wait()
        return found


async def _slow_shop() -> tuple[_SlowIndex, CatalogContexts]:
    index = _SlowIndex()
    await ingest(
        [Product(id="a", title="lamp", category="Lamps")], "shop", HashingEmbedder(), index, model_id="m"
    )
    index.armed = True
    return index, CatalogContexts(index, rebuild_gap_s=0.0)


async def test_a_build_under_way_when_the_catalog_is_dropped_is_not_kept() -> None:
    index, contexts = await _slow_shop()
    assert await contexts.get("shop", wait=False) is None  # the build starts, and waits
    await asyncio.sleep(0.01)
    await contexts.catalog_changed(CatalogChange("shop", "dropped"))
    index.gate.set()
    await asyncio.sleep(0.05)
    assert contexts._ready == {}
    assert contexts._building == {}


async def test_a_build_under_way_when_products_change_is_kept_but_stale() -> None:
    index, contexts = await _slow_shop()
    assert await contexts.get("shop", wait=False) is None
    await asyncio.sleep(0.01)
    await contexts.catalog_changed(CatalogChange("shop", "products", ("a",)))
    index.gate.set()
    await _settle(contexts)
    built = contexts._ready["shop"]
    assert built[0] < time.monotonic() - 299.0  # stale at once (no gap here): the next search rebuilds it
    index.armed = False
    assert await contexts.get("shop", wait=False) is built[1]
    await _settle(contexts)
    assert contexts._ready["shop"][0] > 0
