"""The typed client's write and behaviour calls against the real app (fakes behind its ports, auth
on): a catalog's life (create, upsert with per-row results, patch, deletes, the full sync's
guards, delete), shopper events (a retried batch stored once), recommendations, metrics, the
errors they map to (409, 422 naming the field, 403 by scope), and the async client on the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from aisle.client import (
    Aisle,
    CatalogCreatedOut,
    Conflict,
    Event,
    EventsAccepted,
    Forbidden,
    Invalid,
    NotFound,
    PatchOut,
    Product,
    RecommendationResponse,
    RowOut,
    UpsertOut,
    routes,
)
from app.adapters.memory_store import MemoryControlStore
from tests.client_stack import ADMIN, async_client, issue, make_app

pytestmark = pytest.mark.e2e

SPEAKER = Product(id="spk", title="portable bluetooth speaker", brand="JBL", category="Speakers", price=49)
CABLE = {"id": "cbl", "title": "usb c cable", "brand": "Anker", "category": "Cables", "price": 9}
ICECAT_ROW = {"id": 7, "title": "Laptop sleeve", "supplier": "Targus", "price": 1999}


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISLE_API_KEY", raising=False)
    monkeypatch.delenv("AISLE_URL", raising=False)


@pytest.fixture
def store() -> MemoryControlStore:
    return MemoryControlStore()


@pytest.fixture
def http(store: MemoryControlStore) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(store=store, events_refresh_ms=20)) as client:
        yield client


@pytest.fixture
def app() -> Litestar:
    return make_app()


@pytest.fixture
def aisle(http: TestClient) -> Iterator[Aisle]:  # type: ignore[type-arg]
    with Aisle(api_key=ADMIN, http_client=http) as client:
        yield client


# --- catalog writes --------------------------------------------------------------------------------


def test_create_upsert_with_per_row_results_and_delete_a_catalog(aisle: Aisle) -> None:
    created = aisle.create_catalog("new")
    assert isinstance(created, CatalogCreatedOut)
    assert (created.name, created.product_count) == ("new", 0)
    with pytest.raises(Conflict) as again:
        aisle.create_catalog("new")
    assert (again.value.status, again.value.code) == (409, "already_exists")

    out = aisle.upsert_products("new", [SPEAKER, {"id": "x", "title": "t", "price": -1}, ICECAT_ROW])
    assert isinstance(out, UpsertOut)
    assert [(r.line, r.id, r.result) for r in out.results] == [
        (1, "spk", "created"),
        (2, "x", "error"),
        (3, "7", "created"),
    ]
    assert isinstance(out.results[1], RowOut)
    assert "price" in (out.results[1].message or "")
    assert (out.created, out.errors, out.dry_run) == (2, 1, False)
    # An upsert is idempotent by content: the same rows again change nothing (why it is retried).
    assert [r.result for r in aisle.upsert_products("new", [SPEAKER]).results] == ["unchanged"]
    dry = aisle.upsert_products("new", [CABLE], dry_run=True)
    assert (dry.created, dry.dry_run) == (1, True)
    with pytest.raises(NotFound):
        aisle.product("new", "cbl")
    assert aisle.product("new", "spk").brand == "JBL"

    aisle.delete_catalog("new")
    aisle.delete_catalog("new")  # idempotent
    assert "new" not in [c.name for c in aisle.catalogs()]


def test_patch_changes_only_the_fields_given(aisle: Aisle) -> None:
    patched = aisle.patch_product("shop", "bag-canon", price=19.5, in_stock=False)
    assert isinstance(patched, PatchOut)
    assert (patched.result, patched.product.price, patched.product.in_stock) == ("updated", 19.5, False)
    assert patched.product.brand == "Canon"  # kept as stored
    assert aisle.patch_product("shop", "bag-canon", price=19.5).result == "unchanged"
    assert aisle.patch_product("shop", "bag-canon", price=None).product.price is None  # cleared
    assert aisle.product("shop", "bag-canon").in_stock is False


def test_a_bad_patch_is_invalid_naming_the_field(aisle: Aisle) -> None:
    with pytest.raises(Invalid) as invalid:
        aisle.patch_product("shop", "bag-canon", price=-1)
    assert (invalid.value.status, invalid.value.field) == (422, "price")
    with pytest.raises(NotFound):
        aisle.patch_product("shop", "no-such-product", price=1)


def test_delete_one_product_or_many(aisle: Aisle) -> None:
    aisle.delete_product("shop", "bag-canon")
    aisle.delete_product("shop", "bag-canon")  # idempotent
    with pytest.raises(NotFound):
        aisle.product("shop", "bag-canon")
    out = aisle.delete_products("shop", ["cam-eos", "zzz"])
    assert (out.deleted, out.not_found) == (["cam-eos"], ["zzz"])
    with pytest.raises(Invalid) as invalid:
        aisle.delete_products("shop", [])
    assert invalid.value.field == "ids"


def test_the_full_sync_applies_its_guards(aisle: Aisle) -> None:
    aisle.create_catalog("ten")
    aisle.upsert_products("ten", [{"id": str(i), "title": f"product {i}"} for i in range(10)])
    dry = aisle.sync("ten", ["0"], dry_run=True)
    assert (dry.refused, len(dry.deleted), dry.dry_run) == (True, 9, True)
    with pytest.raises(Conflict) as refused:
        aisle.sync("ten", ["0"])
    assert refused.value.code == "sync_refused"
    done = aisle.sync("ten", [str(i) for i in range(8)])
    assert sorted(done.deleted) == ["8", "9"]
    assert len(aisle.sync("ten", [], force=True).deleted) == 8
    with pytest.raises(Invalid) as invalid:
        aisle.sync("ten", [], max_delete_fraction=2)
    assert invalid.value.field == "max_delete_fraction"


def test_write_routes_check_the_keys_scope(http: TestClient, store: MemoryControlStore) -> None:  # type: ignore[type-arg]
    reader = Aisle(api_key=issue(store, ["search"], ["shop"]), http_client=http)
    with pytest.raises(Forbidden):
        reader.upsert_products("shop", [SPEAKER])
    writer = Aisle(api_key=issue(store, ["write"], None), http_client=http)
    assert writer.upsert_products("shop", [SPEAKER]).created == 1
    with pytest.raises(Forbidden):
        writer.create_catalog("other")  # admin scope


# --- behaviour -------------------------------------------------------------------------------------


def test_events_get_ids_so_a_retried_batch_is_stored_once(aisle: Aisle) -> None:
    batch = [
        Event(type="view", item_id="cam-eos", session_id="s1"),
        {"type": "click", "item_id": "bag-canon", "session_id": "s1"},
        Event(type="view", item_id="not-in-catalog", session_id="s1", event_id="mine-1"),
    ]
    accepted = aisle.send_events("shop", batch)
    assert isinstance(accepted, EventsAccepted)
    assert (accepted.received, accepted.stored, accepted.duplicates) == (3, 3, 0)
    assert accepted.unknown_item_ids == ["not-in-catalog"]
    # A retry re-sends the same call, ids given once when the call was built: stored once.
    call = routes.events("shop", batch[:2])
    assert aisle.send(call).stored == 2
    repeated = aisle.send(call)
    assert (repeated.stored, repeated.duplicates) == (0, 2)


def test_a_bad_event_is_invalid_naming_the_field(aisle: Aisle) -> None:
    with pytest.raises(Invalid) as invalid:
        aisle.send_events("shop", [{"type": "stare", "item_id": "cam-eos", "session_id": "s1"}])
    assert invalid.value.field == "events[0].type"


def test_recommendations_typed(aisle: Aisle) -> None:
    cold = aisle.recommendations("shop", "bought_together", item_ids=["cam-eos"], limit=3)
    assert isinstance(cold, RecommendationResponse)
    assert cold.items
    assert len(cold.items) <= 3
    assert cold.source in ("events", "content", "blend")
    assert "cam-eos" not in [i.id for i in cold.items]
    assert cold.request_id
    aisle.send_events("shop", [Event(type="view", item_id="bag-canon", session_id="s9")])
    session = aisle.recommendations("shop", "for_session", session_id="s9")
    assert isinstance(session, RecommendationResponse)
    with pytest.raises(Invalid) as invalid:
        aisle.recommendations("shop", "bought_together", limit=0)
    assert invalid.value.field == "limit"


def test_metrics_is_the_prometheus_text(aisle: Aisle) -> None:
    aisle.search("shop", "camera")
    text = aisle.metrics()
    assert "# TYPE" in text
    assert "aisle_" in text


# --- the async client ------------------------------------------------------------------------------


async def test_the_async_client_serves_the_write_and_behaviour_routes(app: Litestar) -> None:
    async with async_client(app) as aisle:
        assert (await aisle.create_catalog("new")).name == "new"
        assert (await aisle.upsert_products("new", [SPEAKER, CABLE])).created == 2
        assert (await aisle.patch_product("new", "spk", title="speaker")).product.title == "speaker"
        await aisle.delete_product("new", "spk")
        assert (await aisle.delete_products("new", ["cbl"])).deleted == ["cbl"]
        assert (await aisle.sync("new", [], dry_run=True)).deleted == []
        await aisle.delete_catalog("new")
        events = [Event(type="view", item_id="cam-eos", session_id="a1")]
        assert (await aisle.send_events("shop", events)).stored == 1
        assert (await aisle.recommendations("shop", "trending")).request_id
        assert "# TYPE" in await aisle.metrics()
        with pytest.raises(Conflict):
            await aisle.create_catalog("shop")
