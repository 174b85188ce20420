"""Behavioural signals over HTTP: event batches (validation, idempotency, unknown items, scopes),
recommendations (every type, cold start flagged), attribution of clicks and purchases to the
response that showed the items (store and metrics), A/B tests assigned by header, stable per user,
changing what the request does, and durability: models rebuilt from the SQLite store after a
restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.adapters.memory_store import MemoryControlStore
from app.adapters.sqlite_store import SQLiteControlStore
from app.auth.admin import KeyAdmin
from app.auth.principal import Principal
from app.domain.experiments import Experiment, Variant, assign
from app.experiments.service import Experiments
from app.main import Deps, create_app
from app.ports import ControlStore
from app.settings import Settings
from embeddings.ingest import ingest
from tests.bundle_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, ScriptedLLM

pytestmark = pytest.mark.e2e
EVENTS = "/v1/catalogs/shop/events"
RECS = "/v1/catalogs/shop/recommendations"
AB = (Variant("control", rerank="none"), Variant("llm", rerank="llm"))


def _index() -> InMemoryVectorIndex:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    return index


def _app(store: ControlStore, index: InMemoryVectorIndex | None = None, **settings: Any) -> TestClient:  # type: ignore[type-arg]
    deps = Deps(HashingEmbedder(), index or _index(), store=store, llm=settings.pop("llm", None))
    config = {"events_refresh_ms": 20, "impressions_flush_ms": 20, **settings}
    if deps.llm is not None:
        config |= {"llm_base_url": "http://llm.test/v1", "llm_model": "fake-model"}
    return TestClient(create_app(Settings(**config), deps))


@pytest.fixture
def store() -> MemoryControlStore:
    return MemoryControlStore()


@pytest.fixture
def client(store: MemoryControlStore) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with _app(store) as c:
        yield c


def ev(kind: str, item: str, session: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "item_id": item, "session_id": session, **fields}


def metric(client: TestClient, prefix: str) -> float:  # type: ignore[type-arg]
    text = client.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def settle(client: TestClient, body: dict[str, Any], until: Any, tries: int = 100) -> dict[str, Any]:  # type: ignore[type-arg]
    """Models follow the store in the background: ask until they have caught up."""
    for _ in range(tries):
        answer: dict[str, Any] = client.post(RECS, json=body).json()
        if until(answer):
            return answer
        asyncio.run(asyncio.sleep(0.02))
    raise AssertionError(f"never settled: {answer}")


def test_a_batch_is_stored_once_and_unknown_items_are_reported(
    client: TestClient, store: MemoryControlStore
) -> None:  # type: ignore[type-arg]
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    local = an_hour_ago.astimezone(timezone(timedelta(hours=1))).isoformat()  # any offset
    batch = {
        "events": [
            ev("view", "cam-eos", "s1", event_id="e1", timestamp=local),
            ev("add_to_cart", "cam-eos", "s1", event_id="e2", user_id="u1", position=0),
            ev("purchase", "not-in-catalog", "s1", event_id="e3", order_id="o1"),
        ]
    }
    first = client.post(EVENTS, json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "received": 3,
        "stored": 3,
        "duplicates": 0,
        "unknown_item_ids": ["not-in-catalog"],
    }
    retry = client.post(EVENTS, json=batch).json()
    assert (retry["stored"], retry["duplicates"]) == (0, 3)
    stored = asyncio.run(store.events_after(0, 10))
    assert len(stored) == 3
    assert stored[0].event.at == an_hour_ago
    assert metric(client, 'aisle_events_received_total{type="view"}') == 2
    assert metric(client, "aisle_events_stored_total") == 3


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (ev("like", "cam-eos", "s"), "events[0].type"),  # msgspec names the path with [...]
        ({"item_id": "cam-eos", "session_id": "s"}, "events[0].type"),
        (ev("view", "", "s"), "events[0].item_id"),
        (ev("view", "cam-eos", "s", timestamp="2026-01-01T10:00:00"), "events[0].timestamp"),  # no offset
        (ev("view", "cam-eos", "s", timestamp="2999-01-01T00:00:00Z"), "events[0].timestamp"),
        (ev("view", "cam-eos", "s", request_id="has spaces"), "events[0].request_id"),
        (ev("view", "cam-eos", "s", position=-1), "events[0].position"),
        (ev("view", "cam-eos", "s", colour="red"), "events[0]"),
    ],
)
def test_a_bad_event_is_a_422_naming_it_and_nothing_is_stored(
    client: TestClient,
    store: MemoryControlStore,
    event: dict[str, Any],
    field: str,  # type: ignore[type-arg]
) -> None:
    response = client.post(EVENTS, json={"events": [ev("view", "cam-eos", "ok"), event]})
    assert response.status_code == 422, response.text
    assert response.json()["field"].replace("[...]", "[0]").startswith(field.replace("[0]", "[1]"))
    assert asyncio.run(store.events_after(0, 10)) == []


def test_batches_are_bounded(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.post(EVENTS, json={"events": []}).status_code == 422
    many = {"events": [ev("view", "cam-eos", f"s{n}") for n in range(1001)]}
    assert client.post(EVENTS, json=many).status_code == 422
    assert (
        client.post("/v1/catalogs/nosuch/events", json={"events": [ev("view", "x", "s")]}).status_code == 404
    )


def test_every_recommendation_type_answers_and_cold_start_says_content(client: TestClient) -> None:  # type: ignore[type-arg]
    bodies = [
        {"type": "bought_together", "item_ids": ["cam-eos"]},
        {"type": "viewed_together", "item_ids": ["cam-eos"], "limit": 3},
        {"type": "for_session", "session_id": "new", "item_ids": ["cam-eos"]},
        {"type": "for_user", "user_id": "nobody", "item_ids": ["cam-eos"]},
    ]
    for body in bodies:
        response = client.post(RECS, json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["source"] == "content", body
        assert answer["items"]
        assert answer["request_id"] == response.headers["x-request-id"]
        assert set(answer["timings_ms"]) == {"context", "events", "search", "llm", "total"}
    assert client.post(RECS, json={"type": "trending"}).json()["items"] == []
    assert client.post(RECS, json={"type": "bought_together"}).json()["field"] == "item_ids"
    assert client.post(RECS, json={"type": "for_session"}).json()["field"] == "session_id"
    assert client.post(RECS, json={"type": "viewed_together", "item_ids": ["nope"]}).status_code == 404
    assert client.post(RECS, json={"type": "popular"}).status_code == 422


def test_behaviour_takes_over_as_events_arrive(client: TestClient) -> None:  # type: ignore[type-arg]
    orders = [
        ev("purchase", item, f"s{n}", order_id=f"o{n}")
        for n in range(3)
        for item in ("cam-eos", "sd-kingston")
    ]
    assert client.post(EVENTS, json={"events": orders}).status_code == 200
    body = {"type": "bought_together", "item_ids": ["cam-eos"], "limit": 1}
    answer = settle(client, body, lambda a: a["source"] == "events")
    assert answer["items"][0]["id"] == "sd-kingston"
    trending = client.post(RECS, json={"type": "trending", "limit": 2}).json()
    assert {i["id"] for i in trending["items"]} == {"cam-eos", "sd-kingston"}
    assert metric(client, 'aisle_recommendations_total{source="events",type="bought_together"}') >= 1


def test_a_catalog_deleted_and_recreated_under_its_name_inherits_no_behaviour(
    client: TestClient,  # type: ignore[type-arg]
    store: MemoryControlStore,
) -> None:
    orders = [
        ev("purchase", i, f"s{n}", order_id=f"o{n}") for n in range(3) for i in ("cam-eos", "sd-kingston")
    ]
    assert client.post(EVENTS, json={"events": orders}).status_code == 200
    body = {"type": "bought_together", "item_ids": ["cam-eos"], "limit": 1}
    settle(client, body, lambda a: a["source"] == "events")
    assert client.delete("/v1/catalogs/shop").status_code == 204
    assert asyncio.run(store.events_after(0, 100)) == []
    refused = client.post(EVENTS, json={"events": [ev("view", "cam-eos", "s9")]})
    assert refused.status_code == 404  # not accepted from the known-ids cache
    assert client.post("/v1/catalogs/shop").status_code == 201
    products = [
        {"id": "cam-eos", "title": "canon eos camera", "category": "Cameras"},
        {"id": "sd-kingston", "title": "kingston sd card", "category": "Memory"},
    ]
    assert client.post("/v1/catalogs/shop/products", json=products).status_code == 200
    asyncio.run(asyncio.sleep(0.1))  # a few follower intervals: nothing comes back
    assert client.post(RECS, json={"type": "trending"}).json()["items"] == []
    assert client.post(RECS, json=body).json()["source"] == "content"


def test_clicks_and_purchases_are_attributed_to_the_response_that_showed_them(
    store: MemoryControlStore,
) -> None:
    with _app(store) as client:
        shown = client.post("/v1/catalogs/shop/search", json={"query": "camera bag", "limit": 3})
        request_id = shown.headers["x-request-id"]
        items = [i["id"] for i in shown.json()["items"]]
        events = [
            ev("click", items[0], "s1", request_id=request_id, position=0),
            ev("add_to_cart", items[0], "s1", request_id=request_id),
            ev("purchase", items[0], "s1", request_id=request_id, order_id="o1"),
            ev("click", "paper-a4", "s1", request_id=request_id),  # not shown by it: not attributed
        ]
        assert client.post(EVENTS, json={"events": events}).status_code == 200
        assert (
            metric(client, 'aisle_impressions_total{experiment="none",ranking="vector",route="search"') == 1
        )
        attributed = 'aisle_attributed_events_total{experiment="none",ranking="vector",route="search",type='
        assert metric(client, attributed + '"click"') == 1
        assert metric(client, attributed + '"purchase"') == 1
    # the app flushed its impressions when it stopped: the report reads them from the store
    report = asyncio.run(Experiments(store, store).report("shop"))
    (row,) = report.by_route
    assert (row.label, row.impressions) == ("search / vector", 1)
    assert {o: r.successes for o, r in row.rates.items()} == {"click": 1, "add_to_cart": 1, "purchase": 1}


def test_an_experiment_assigns_by_header_stably_and_changes_the_ranking() -> None:
    store = MemoryControlStore()
    asyncio.run(
        store.add_experiment(
            Experiment("shop", "rr", "user", AB, ("search", "recommendations"), datetime.now(UTC))
        )
    )
    llm = ScriptedLLM('{"ranking": ["bag-lowe"]}')
    users = [f"user{n}" for n in range(12)]
    with _app(store, llm=llm) as client:
        for _ in range(2):  # the same users twice: the same variants
            for user in users:
                response = client.post(
                    "/v1/catalogs/shop/search",
                    json={"query": "camera bag"},
                    headers={"X-Aisle-User-Id": user},
                )
                expected = assign("rr", AB, user)
                assert response.json()["ranking"] == ("llm" if expected.name == "llm" else "vector"), user
        n_llm = sum(1 for u in users if assign("rr", AB, u).name == "llm")
        assert 0 < n_llm < len(users)
        assert llm.calls == 1  # one answer for this query and these candidates, cached for every user
        label = 'aisle_impressions_total{experiment="rr",ranking="llm",route="search",variant="llm"}'
        assert metric(client, label) == 2 * n_llm
        recs = client.post(
            RECS, json={"type": "viewed_together", "item_ids": ["cam-eos"], "user_id": "user0"}
        )
        assert recs.json()["experiment"] == {"name": "rr", "variant": assign("rr", AB, "user0").name}
        plain = client.post(
            "/v1/catalogs/shop/search", json={"query": "camera bag"}
        )  # no unit: no experiment
        assert plain.json()["ranking"] == "vector"
    report = asyncio.run(Experiments(store, store).report("shop", name="rr"))
    assert sum(r.impressions for r in report.experiments["rr"]) == 2 * len(users) + 1


def test_metric_labels_for_experiments_are_bounded() -> None:
    from app.observability.metrics import MAX_EXPERIMENT_LABELS, Metrics

    m = Metrics()
    for n in range(MAX_EXPERIMENT_LABELS + 50):
        m.observe_impression("search", "vector", f"exp{n}", "a")
    m.observe_impression("made-up-route", "sideways", None, None)
    text = m.render().decode()
    series = [line for line in text.splitlines() if line.startswith("aisle_impressions_total{")]
    assert len(series) == MAX_EXPERIMENT_LABELS + 2  # the cap, "other", and "none"
    assert (
        'aisle_impressions_total{experiment="other",ranking="vector",route="search",variant="other"} 50.0'
        in text
    )
    assert 'route="other"' in text


def test_write_scope_sends_events_an_events_key_cannot_search() -> None:
    store = MemoryControlStore()
    root = Principal.root("test")
    writer = asyncio.run(KeyAdmin(store).create(root, "w", ["write"], ["shop"])).token
    browser = asyncio.run(KeyAdmin(store).create(root, "b", ["events"], ["shop"])).token
    admin = "admin-key-for-the-events-tests-0123456789"
    with _app(store, auth=True, admin_key=admin) as client:
        batch = {"events": [ev("view", "cam-eos", "s")]}
        assert client.post(EVENTS, json=batch, headers={"X-API-Key": writer}).status_code == 200
        assert client.post(EVENTS, json=batch, headers={"X-API-Key": browser}).status_code == 200
        denied = client.post(RECS, json={"type": "trending"}, headers={"X-API-Key": browser})
        assert denied.status_code == 403
        created = client.post(
            "/v1/keys",
            json={"name": "tag", "scopes": ["events"], "catalogs": ["shop"]},
            headers={"X-API-Key": admin},
        )
        assert created.status_code == 201
        assert created.json()["scopes"] == ["events"]


def test_acknowledged_events_survive_a_restart_and_models_are_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "control.db"
    index = _index()
    orders = [
        ev("purchase", item, f"s{n}", order_id=f"o{n}", event_id=f"{n}{item}")
        for n in range(3)
        for item in ("prn-lj", "toner-hp")
    ]
    first = SQLiteControlStore(db)
    with _app(first, index) as client:
        assert client.post(EVENTS, json={"events": orders}).json()["stored"] == 6
    asyncio.run(first.close())
    second = SQLiteControlStore(db)
    with _app(second, index) as client:  # a new process: its models replay the store
        body = {"type": "bought_together", "item_ids": ["prn-lj"], "limit": 1}
        answer = settle(client, body, lambda a: a["source"] == "events")
        assert answer["items"][0]["id"] == "toner-hp"
        assert client.post(EVENTS, json={"events": orders}).json()["duplicates"] == 6  # still idempotent
    asyncio.run(second.close())


def test_retention_prunes_what_is_older_than_configured(store: MemoryControlStore) -> None:
    old = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    with _app(store, events_retention_days=10) as client:
        client.post(EVENTS, json={"events": [ev("view", "cam-eos", "s", timestamp=old)]})
        assert asyncio.run(client.app.state.behaviour.prune()) == (0, 0)
    with _app(store, events_retention_days=3) as client:
        assert asyncio.run(store.events_after(0, 10)) == []  # pruned when the app started
        refused = client.post(EVENTS, json={"events": [ev("view", "cam-eos", "s", timestamp=old)]})
        assert refused.status_code == 422
        assert "retention" in refused.json()["message"]


def test_the_openapi_document_describes_the_behaviour_routes(client: TestClient) -> None:  # type: ignore[type-arg]
    schema = client.get("/schema/openapi.json").json()
    events = schema["paths"]["/v1/catalogs/{catalog}/events"]["post"]
    assert {"200", "400", "401", "403", "404", "413", "422", "429", "500", "503"} <= set(events["responses"])
    recs = schema["paths"]["/v1/catalogs/{catalog}/recommendations"]["post"]
    headers = {p["name"] for p in recs["parameters"] if p["in"] == "header"}
    assert headers == {"x-aisle-user-id", "x-aisle-session-id"}
    component = schema["components"]["schemas"]["RecommendationResponse"]
    assert set(component["properties"]["source"]["enum"]) == {"events", "content", "blend"}
