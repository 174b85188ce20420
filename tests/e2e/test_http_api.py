"""The HTTP contract over litestar's test client, on the in-memory fakes (fast, every error path)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e

PRODUCTS = [
    Product(
        id="spk1",
        title="portable bluetooth speaker",
        brand="JBL",
        category="Speakers",
        price=49.0,
        attributes={"colour": "Blue"},
    ),
    Product(id="spk2", title="waterproof bluetooth speaker", brand="Sony", category="Speakers", price=89.0),
    Product(
        id="hp1",
        title="bluetooth headphones",
        brand="Sony",
        category="Headphones",
        price=120.0,
        in_stock=False,
    ),
    Product(id="cbl1", title="usb c cable", brand="Anker", category="Cables", price=9.0),
]


@pytest.fixture
def index() -> InMemoryVectorIndex:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "shop", HashingEmbedder(), index, model_id="m"))
    return index


@pytest.fixture
def client(index: InMemoryVectorIndex) -> Iterator[TestClient]:  # type: ignore[type-arg]
    app = create_app(Settings(), Deps(embedder=HashingEmbedder(), index=index))
    with TestClient(app) as client:
        yield client


def test_search_returns_items_ranking_and_timings(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/catalogs/shop/search", json={"query": "bluetooth speaker", "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert {i["id"] for i in body["items"]} == {"spk1", "spk2"}
    assert body["ranking"] == "vector"
    assert set(body["timings_ms"]) == {"embed", "search", "rank", "llm", "total"}
    assert set(body["items"][0]) == {
        "id",
        "title",
        "brand",
        "category",
        "price",
        "currency",
        "in_stock",
        "score",
    }


def test_search_filters_travel_through_http(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post(
        "/v1/catalogs/shop/search",
        json={
            "query": "bluetooth",
            "filters": {"brand": ["SONY"], "in_stock": True, "exclude_ids": ["spk1"]},
        },
    ).json()
    assert [i["id"] for i in body["items"]] == ["spk2"]


def test_similar_excludes_the_inputs(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post("/v1/catalogs/shop/similar", json={"positive": ["spk1"], "negative": ["cbl1"]}).json()
    ids = [i["id"] for i in body["items"]]
    assert ids[0] == "spk2"
    assert not {"spk1", "cbl1"} & set(ids)


def test_catalogs_product_and_health_routes(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/v1/catalogs").json() == {"catalogs": [{"name": "shop", "product_count": 4}]}
    product = client.get("/v1/catalogs/shop/products/spk1").json()
    assert product["attributes"] == {"colour": "Blue"}
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model": "ok", "index": "ok"}


def test_openapi_schema_is_served(client: TestClient) -> None:  # type: ignore[type-arg]
    schema = client.get("/schema/openapi.json").json()
    assert "/v1/catalogs/{catalog}/search" in schema["paths"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("post", "/v1/catalogs/nope/search", {"query": "x"}, 404, None),
        ("get", "/v1/catalogs/shop/products/ghost", None, 404, None),
        ("post", "/v1/catalogs/shop/similar", {"positive": ["ghost"]}, 404, None),
        ("post", "/v1/catalogs/shop/search", {"query": ""}, 422, "query"),
        ("post", "/v1/catalogs/shop/search", {"query": "   "}, 422, "query"),
        ("post", "/v1/catalogs/shop/search", {"query": "x", "limit": 0}, 422, "limit"),
        ("post", "/v1/catalogs/shop/search", {"query": "x", "limit": 101}, 422, "limit"),
        ("post", "/v1/catalogs/shop/search", {"query": "x", "limit": "ten"}, 422, "limit"),
        ("post", "/v1/catalogs/shop/search", {"limit": 5}, 422, "query"),
        (
            "post",
            "/v1/catalogs/shop/search",
            {"query": "x", "filters": {"price_min": 9, "price_max": 1}},
            422,
            "filters.price_min",
        ),
        ("post", "/v1/catalogs/shop/search", {"query": "x", "filters": {"colour": "red"}}, 422, "filters"),
        ("post", "/v1/catalogs/shop/similar", {"positive": []}, 422, "positive"),
        ("post", "/v1/catalogs/BAD..name/search", {"query": "x"}, 422, "catalog"),
    ],
)
def test_bad_input_gets_a_clear_4xx_naming_the_field(
    client: TestClient,
    method: str,
    path: str,
    payload: object,
    status: int,
    field: str | None,  # type: ignore[type-arg]
) -> None:
    response = client.request(method.upper(), path, json=payload) if payload is not None else client.get(path)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    if field is not None:
        assert body["field"] is not None
        assert body["field"].startswith(field)


def test_malformed_json_is_a_400(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post(
        "/v1/catalogs/shop/search", content=b'{"query": "x",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


def test_a_rejected_request_writes_nothing(client: TestClient, index: InMemoryVectorIndex) -> None:  # type: ignore[type-arg]
    before = asyncio.run(index.fingerprints("shop"))
    client.post("/v1/catalogs/shop/search", json={"query": "", "limit": 500})
    assert asyncio.run(index.fingerprints("shop")) == before


def test_the_request_id_is_echoed_and_one_canonical_line_is_logged(
    client: TestClient,
    capsys: pytest.CaptureFixture[str],  # type: ignore[type-arg]
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    response = client.post(
        "/v1/catalogs/shop/search", json={"query": "speaker"}, headers={"X-Request-ID": "abc-123"}
    )
    assert response.headers["x-request-id"] == "abc-123"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"request"' in line]
    assert len(lines) == 1
    line = lines[0]
    assert (line["request_id"], line["status"], line["catalog"], line["route"]) == (
        "abc-123",
        200,
        "shop",
        "/v1/catalogs/{catalog}/search",
    )
    assert line["result_count"] == 4
    assert set(line["timings_ms"]) == {"embed", "search", "rank", "llm", "total"}
    assert "ranker" in line  # the model that ordered the results (or None), with its fallback
    assert "ranker_fallback" in line


def test_an_index_failure_is_a_503_not_a_500() -> None:
    class BrokenIndex(InMemoryVectorIndex):
        async def catalogs(self):  # type: ignore[no-untyped-def]
            from app.domain.errors import IndexUnavailable

            raise IndexUnavailable("connection refused")

    app = create_app(Settings(), Deps(embedder=HashingEmbedder(), index=BrokenIndex()))
    with TestClient(app) as client:
        assert client.get("/v1/catalogs").status_code == 503
        assert client.get("/readyz").status_code == 503


def test_an_unknown_route_is_a_json_404_with_a_request_id_and_one_log_line(
    client: TestClient,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.log import configure_logging

    configure_logging("info", json=True)
    response = client.get("/v2/nothing-here")
    assert response.status_code == 404
    assert response.json()["request_id"] == response.headers["x-request-id"]
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"request"' in x]
    assert [(x["status"], x["route"]) for x in lines] == [(404, "unrouted")]
    assert client.delete("/v1/catalogs").status_code == 405
