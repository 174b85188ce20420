"""The typed client (aisle.client) against the real app (fakes behind its ports, auth on): one
test per route, the error body as exceptions (404, 422 with its field, 401, 403, 429 with
Retry-After, 503), retries where safe, and the assistant's stream; the sync client over
litestar's TestClient, the async one over httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from aisle.client import (
    Aisle,
    AssistantResponse,
    AsyncAisle,
    Budget,
    BundleResponse,
    CatalogOut,
    Done,
    Filters,
    Forbidden,
    Invalid,
    ItemsReady,
    NotFound,
    ProductOut,
    RankerOut,
    RateLimited,
    RateLimitIn,
    ReplyToken,
    RetrievalResponse,
    Unauthorized,
    Unavailable,
)
from app.adapters.memory_store import MemoryControlStore
from app.domain.errors import IndexUnavailable
from app.domain.models import VectorQuery
from embeddings.ingest import ingest
from tests.bundle_catalog import SHOP
from tests.client_stack import ADMIN, async_client, issue, make_app, shop_index
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e
USER = [{"role": "user", "content": "a camera bag under $40"}]


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISLE_API_KEY", raising=False)
    monkeypatch.delenv("AISLE_URL", raising=False)


@pytest.fixture
def store() -> MemoryControlStore:
    return MemoryControlStore()


@pytest.fixture
def http(store: MemoryControlStore) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(make_app(store=store)) as client:
        yield client


@pytest.fixture
def aisle(http: TestClient) -> Iterator[Aisle]:  # type: ignore[type-arg]
    with Aisle(api_key=ADMIN, http_client=http) as client:
        yield client


# --- one test per route ----------------------------------------------------------------------------


def test_catalogs(aisle: Aisle) -> None:
    assert aisle.catalogs() == [CatalogOut("shop", len(SHOP))]


def test_search_with_typed_filters(aisle: Aisle) -> None:
    result = aisle.search("shop", "camera bag", limit=3, filters=Filters(category=["Bags"], price_max=40))
    assert isinstance(result, RetrievalResponse)
    assert 0 < len(result.items) <= 3
    assert all(i.category == "Bags" and i.price is not None and i.price <= 40 for i in result.items)
    assert (result.ranking, result.fallback) == ("vector", None)


def test_search_result_names_its_ranker_typed() -> None:
    # No learned model here: the retrieval order is served and the typed result says why.
    with (
        TestClient(make_app(ranker_model=None)) as http,
        Aisle(api_key=ADMIN, http_client=http) as aisle,
    ):
        assert aisle.search("shop", "camera bag").ranker == RankerOut(None, "ranker_disabled")
        assert aisle.similar("shop", ["bag-canon"]).ranker is None  # not text-ranked


def test_similar_never_returns_the_inputs(aisle: Aisle) -> None:
    result = aisle.similar("shop", ["bag-canon"], negative=["bag-nikon"], limit=4)
    ids = [i.id for i in result.items]
    assert ids
    assert not {"bag-canon", "bag-nikon"} & set(ids)


def test_product(aisle: Aisle) -> None:
    product = aisle.product("shop", "bag-canon")
    assert isinstance(product, ProductOut)
    assert (product.id, product.brand, product.attributes["compatibility"]) == (
        "bag-canon",
        "Canon",
        "Canon EOS 250D, EOS 2000D",
    )


def test_bundle(aisle: Aisle) -> None:
    bundle = aisle.bundle(
        "shop", ["cam-eos"], slots=["bags", "batteries"], budget=Budget(120), compose="vector"
    )
    assert isinstance(bundle, BundleResponse)
    assert [a.id for a in bundle.anchor] == ["cam-eos"]
    assert [s.category.lower() for s in bundle.slots] == ["bags", "batteries"]
    assert bundle.total_price <= 120


def test_assistant_json(aisle: Aisle) -> None:
    result = aisle.assistant("shop", USER, limit=3)
    assert isinstance(result, AssistantResponse)
    assert result.reply
    assert result.intent.query
    assert len(result.items) <= 3


def test_assistant_stream_is_items_then_tokens_then_done(aisle: Aisle) -> None:
    events = list(aisle.assistant_stream("shop", USER))
    assert isinstance(events[0], ItemsReady)
    assert isinstance(events[-1], Done)
    tokens = events[1:-1]
    assert tokens
    assert all(isinstance(t, ReplyToken) for t in tokens)
    assert "".join(t.text for t in tokens if isinstance(t, ReplyToken)) == events[-1].result.reply
    assert [i.id for i in events[0].items] == [i.id for i in events[-1].result.items]


def test_complements_get_and_put(aisle: Aisle) -> None:
    assert aisle.complements("shop").merchandiser is None
    saved = aisle.set_complements("shop", {"cameras": ["bags", "batteries"]})
    assert saved.merchandiser == {"cameras": ["bags", "batteries"]}
    assert aisle.complements("shop").merchandiser == saved.merchandiser


def test_keys_create_list_use_and_revoke(aisle: Aisle, http: TestClient) -> None:  # type: ignore[type-arg]
    created = aisle.create_key("storefront", ["search"], ["shop"], rate_limit=RateLimitIn(5.0, 10))
    assert (created.scopes, created.catalogs, created.rate_limit) == (
        ["search"],
        ["shop"],
        RateLimitIn(5.0, 10),
    )
    assert created.id in [k.id for k in aisle.list_keys()]
    storefront = Aisle(api_key=created.key, http_client=http)
    assert storefront.search("shop", "camera").items
    aisle.revoke_key(created.id)
    with pytest.raises(Unauthorized):
        storefront.search("shop", "camera")


def test_health_and_ready(aisle: Aisle) -> None:
    assert aisle.health().status == "ok"
    assert aisle.ready().checks["index"] == "ok"


# --- errors ----------------------------------------------------------------------------------------


def test_an_unknown_product_or_catalog_is_not_found_with_the_request_id(aisle: Aisle) -> None:
    with pytest.raises(NotFound) as missing:
        aisle.product("shop", "no-such-product")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.request_id
    assert missing.value.request_id in str(missing.value)
    with pytest.raises(NotFound):
        aisle.search("nosuchcatalog", "camera")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: a.search("shop", "camera", limit=0), "limit"),
        (lambda a: a.search("shop", "camera", filters=Filters(price_min=-1)), "filters.price_min"),
        (lambda a: a.search("shop", ""), "query"),
        (lambda a: a.bundle("shop", []), "anchor_ids"),
        (lambda a: a.assistant("shop", [{"role": "robot", "content": "hi"}]), "messages[0].role"),
    ],
)
def test_schema_violations_are_invalid_naming_the_field(aisle: Aisle, call: object, field: str) -> None:
    with pytest.raises(Invalid) as invalid:
        call(aisle)  # type: ignore[operator]
    assert (invalid.value.status, invalid.value.field) == (422, field)


def test_no_key_or_a_wrong_key_is_unauthorized(http: TestClient) -> None:  # type: ignore[type-arg]
    for key in (None, "aisle_aaaaaaaaaa_" + "A" * 43):
        with pytest.raises(Unauthorized) as denied:
            Aisle(api_key=key, http_client=http).catalogs()
        assert denied.value.status == 401


def test_a_key_without_the_scope_is_forbidden(http: TestClient, store: MemoryControlStore) -> None:  # type: ignore[type-arg]
    reader = Aisle(api_key=issue(store, ["search"], ["shop"]), http_client=http)
    with pytest.raises(Forbidden):
        reader.list_keys()
    with pytest.raises(Forbidden):
        reader.set_complements("shop", {"cameras": ["bags"]})


def test_a_retry_after_past_the_total_timeout_raises_rate_limited_at_once(
    http: TestClient,  # type: ignore[type-arg]
    store: MemoryControlStore,
) -> None:
    limited = Aisle(api_key=issue(store, ["search"], ["shop"], rate_per_s=0.001, burst=1), http_client=http)
    limited.catalogs()
    start = time.monotonic()
    with pytest.raises(RateLimited) as refused:
        limited.catalogs()
    assert refused.value.retry_after == 1000.0  # one token per 1000 s
    assert time.monotonic() - start < 5.0  # not waited for: it would end past total_timeout


def test_a_short_retry_after_is_waited_for_then_the_call_succeeds(
    http: TestClient,  # type: ignore[type-arg]
    store: MemoryControlStore,
) -> None:
    limited = Aisle(api_key=issue(store, ["search"], ["shop"], rate_per_s=2.0, burst=1), http_client=http)
    limited.search("shop", "camera")
    start = time.monotonic()
    assert limited.search("shop", "camera").items  # 429, Retry-After: 1, then served
    assert time.monotonic() - start >= 0.9


class FlakyIndex(InMemoryVectorIndex):
    """Refuses the first `failures` queries as if the index server were down."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.queries = 0

    async def query(self, catalog: str, query: VectorQuery):  # type: ignore[no-untyped-def]
        self.queries += 1
        if self.queries <= self.failures:
            raise IndexUnavailable("connection refused")
        return await super().query(catalog, query)


def _flaky(failures: int) -> FlakyIndex:
    index = FlakyIndex(failures)
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    return index


def test_a_503_is_retried_for_a_read_and_raised_as_unavailable_without_retries() -> None:
    index = _flaky(failures=1)
    with TestClient(make_app(index=index)) as http:
        assert Aisle(api_key=ADMIN, http_client=http).search("shop", "camera").items
        assert index.queries == 2
        index.failures = 10
        with pytest.raises(Unavailable) as down:
            Aisle(api_key=ADMIN, http_client=http, max_retries=0).search("shop", "camera")
    assert (down.value.status, down.value.retry_after) == (503, None)


class GatedEmbedder(HashingEmbedder):
    """Holds every embed call until the gate opens: requests stay in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.entered.set()
        self.gate.wait(10)
        return super().embed(texts)


def test_an_overloaded_server_is_unavailable_with_its_retry_after() -> None:
    from app.main import Deps, create_app
    from app.settings import Settings

    embedder = GatedEmbedder()
    app = create_app(Settings(max_in_flight=1, max_queue=0), Deps(embedder, shop_index()))
    with TestClient(app) as http, ThreadPoolExecutor(1) as pool:
        busy = pool.submit(Aisle(http_client=http).search, "shop", "camera")
        assert embedder.entered.wait(10)
        with pytest.raises(Unavailable) as refused:
            Aisle(http_client=http, max_retries=0).search("shop", "camera")
        embedder.gate.set()
        assert busy.result().items
    assert (refused.value.status, refused.value.code, refused.value.retry_after) == (503, "overloaded", 1.0)


# --- the async client ------------------------------------------------------------------------------


@pytest.fixture
def app() -> Litestar:
    return make_app()


async def test_the_async_client_serves_every_route(app: Litestar) -> None:
    async with async_client(app) as aisle:
        assert [c.name for c in await aisle.catalogs()] == ["shop"]
        found = await aisle.search("shop", "camera bag", limit=2)
        assert len(found.items) == 2
        assert (await aisle.similar("shop", [found.items[0].id])).items
        assert (await aisle.product("shop", "cam-eos")).id == "cam-eos"
        bundle = await aisle.bundle("shop", ["cam-eos"], slots=["bags"], compose="vector")
        assert bundle.slots[0].item is not None
        assert (await aisle.set_complements("shop", {"cameras": ["bags"]})).merchandiser == {
            "cameras": ["bags"]
        }
        assert (await aisle.complements("shop")).merchandiser == {"cameras": ["bags"]}
        assert (await aisle.assistant("shop", USER)).reply
        key = await aisle.create_key("agent", ["search"])
        assert key.catalogs == "*"
        assert key.id in [k.id for k in await aisle.list_keys()]
        await aisle.revoke_key(key.id)
        assert (await aisle.health()).status == "ok"


async def test_the_async_stream_is_an_async_iterator_of_typed_events(app: Litestar) -> None:
    async with async_client(app) as aisle:
        events = [event async for event in aisle.assistant_stream("shop", USER)]
    assert isinstance(events[0], ItemsReady)
    assert all(isinstance(e, ReplyToken) for e in events[1:-1])
    assert isinstance(events[-1], Done)
    assert events[-1].result.reply


async def test_the_async_client_raises_the_same_errors(app: Litestar) -> None:
    async with async_client(app) as aisle:
        with pytest.raises(NotFound):
            await aisle.product("shop", "nope")
        with pytest.raises(Invalid) as invalid:
            await aisle.similar("shop", ["cam-eos"], limit=101)
        assert invalid.value.field == "limit"


async def test_the_async_client_without_a_key_is_unauthorized(app: Litestar) -> None:
    async with async_client(app, api_key=None) as anonymous:
        with pytest.raises(Unauthorized):
            await anonymous.catalogs()


def test_the_sync_and_async_clients_have_the_same_methods() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_") and name not in ("close", "aclose")
        }

    sync, asynchronous = public(Aisle), public(AsyncAisle)
    assert sync.keys() == asynchronous.keys()
    for name, signature in sync.items():
        assert list(signature.parameters) == list(asynchronous[name].parameters), name
