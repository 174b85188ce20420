"""Regression tests for the hostile review (issue #13), each over every route it concerns: body
limits, nesting depth, strict types, closed metric labels, secrets and locals in log lines.
Routes are discovered from the app, so a route added later is covered without editing this file."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e

PRODUCTS = [
    Product(id="spk1", title="portable bluetooth speaker", brand="JBL", category="Speakers", price=49.0),
    Product(id="cbl1", title="usb c cable", brand="Anker", category="Cables", price=9.0),
]
PATH_VALUES = {"catalog": "shop", "product_id": "spk1"}


def body_routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, concrete path) of every route that takes a JSON body."""
    out = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.parsed_data_field is None:
                continue
            path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], route.path_format)
            out.extend((method, path) for method in sorted(handler.http_methods))
    return out


def make_index() -> InMemoryVectorIndex:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(PRODUCTS, "shop", HashingEmbedder(), index, model_id="m"))
    return index


@pytest.fixture
def client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(create_app(Settings(), Deps(HashingEmbedder(), make_index()))) as client:
        yield client


@pytest.fixture
def small_client() -> Iterator[TestClient]:  # type: ignore[type-arg]
    settings = Settings(max_body_bytes=4096, max_write_body_bytes=8192)
    with TestClient(create_app(settings, Deps(HashingEmbedder(), make_index()))) as client:
        yield client


ROUTES = body_routes(create_app(Settings()))


def test_every_body_route_is_discovered() -> None:
    paths = {p.rsplit("/", 1)[-1] for _, p in ROUTES}
    assert {"search", "similar", "assistant", "bundles", "complements"} <= paths


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "x", "filters": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # inside a known field
        b'{"unknown": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",  # inside an unknown one
        b"[" * 200_000,  # unterminated, top level (under the 256 KiB default limit)
    ],
    ids=["in-field", "in-unknown-field", "top-level-unterminated"],
)
def test_deep_nesting_is_a_400_naming_the_problem_on_every_body_route(
    client: TestClient,
    method: str,
    path: str,
    body: bytes,  # type: ignore[type-arg]
) -> None:
    response = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "too_deeply_nested"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_brackets_inside_strings_do_not_count_as_nesting(client: TestClient) -> None:  # type: ignore[type-arg]
    query = "[{" * 200 + '\\"' + "[" * 100
    body = ('{"query": "' + query + '"}').encode()
    response = client.post(
        "/v1/catalogs/shop/search", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_an_oversized_body_is_a_413_on_every_body_route(
    small_client: TestClient,  # type: ignore[type-arg]
    method: str,
    path: str,
) -> None:
    client = small_client
    body = json.dumps({"query": "x" * 20_000}).encode()  # over both limits of the fixture
    response = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds on the streamed bytes
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = client.request(method, path, content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413, streamed.text


def test_the_write_route_class_has_its_own_body_limit(small_client: TestClient) -> None:  # type: ignore[type-arg]
    client = small_client
    mapping = {"complements": {"Speakers": ["Cables"], "Cables": ["Speakers"]}, "pad": None}
    body = json.dumps(mapping).replace('"pad": null', '"pad": "' + "x" * 5000 + '"').encode()
    assert 4096 < len(body) < 8192  # over the query routes' limit, under the write routes'
    response = client.put(
        "/v1/catalogs/shop/complements", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422  # read and decoded (then `pad` is an unknown field), not a 413
    assert response.json()["field"] == "pad"


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("search", {"query": "x", "limit": "5"}, "limit"),
        ("search", {"query": "x", "explain": "true"}, "explain"),
        ("search", {"query": "x", "filters": {"price_min": "3"}}, "filters.price_min"),
        ("search", {"query": 5}, "query"),
        ("similar", {"positive": ["spk1"], "limit": "5"}, "limit"),
        ("similar", {"positive": [1993197]}, "positive[0]"),
        ("assistant", {"messages": [{"role": "user", "content": "hi"}], "limit": "3"}, "limit"),
        ("assistant", {"messages": [{"role": "user", "content": "hi"}], "stream": 1}, "stream"),
        ("bundles", {"anchor_ids": ["spk1"], "max_items": "2"}, "max_items"),
        ("bundles", {"anchor_ids": ["spk1"], "budget": {"max_total": "60"}}, "budget.max_total"),
    ],
)
def test_types_are_strict(client: TestClient, path: str, payload: object, field: str) -> None:  # type: ignore[type-arg]
    response = client.post(f"/v1/catalogs/shop/{path}", json=payload)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"query": "x", "filters": {"price_min": 1e400}}', "filters.price_min"),
        (b'{"query": "x", "limit": 1e400}', "limit"),
        (b'{"query": "x", "bogus": 1}', "bogus"),
        (b'{"query": "x", "filters": {"colour": "red"}}', "filters.colour"),
        (b'{"limit": 5}', "query"),
    ],
)
def test_errors_name_the_field_by_its_path(client: TestClient, body: bytes, field: str) -> None:  # type: ignore[type-arg]
    response = client.post(
        "/v1/catalogs/shop/search", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert "[...]" not in response.json()["message"]


@pytest.mark.parametrize("header", ["X-Aisle-User-Id", "X-Aisle-Session-Id"])
def test_a_bad_header_is_named_as_sent_not_as_the_handler_argument(client: TestClient, header: str) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/catalogs/shop/search", json={"query": "x"}, headers={header: "u" * 201})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == header
    assert header in response.json()["message"]


def test_metric_labels_stay_a_closed_set_whatever_clients_send(client: TestClient) -> None:  # type: ignore[type-arg]
    for n in range(200):
        client.request(f"X{n}METHOD", "/v1/catalogs/shop/search")
        client.get(f"/random/path/{n}")
        client.get(f"/v1/catalogs/shop/products/ghost{n}")
    text = client.get("/metrics").text
    methods = set(re.findall(r'method="([^"]*)"', text))
    routes = set(re.findall(r'route="([^"]*)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert routes <= {r.path_format for r in client.app.routes} | {"unrouted"}
    assert len(text) < 60_000


def test_the_catalog_gauge_is_capped() -> None:
    index = make_index()
    for n in range(5):
        asyncio.run(ingest(PRODUCTS[:1], f"extra{n}", HashingEmbedder(), index, model_id="m"))
    app = create_app(Settings(metrics_max_catalogs=3), Deps(HashingEmbedder(), index))
    with TestClient(app) as client:
        text = client.get("/metrics").text
        labelled = re.findall(r'aisle_index_products\{catalog="([^"]*)"\} (\S+)', text)
        assert len(labelled) == 4  # 3 catalogs + the rest summed
        assert dict(labelled)["shop"] == "2.0"  # the largest is kept
        assert dict(labelled)["_other"] == "3.0"


def test_a_huge_complement_map_is_refused_before_it_is_read_or_validated(client: TestClient) -> None:  # type: ignore[type-arg]
    mapping = {f"category {i}": [f"other {j}" for j in range(20)] for i in range(40_000)}
    body = json.dumps({"complements": mapping}).encode()
    assert len(body) > 9_000_000
    response = client.put(
        "/v1/catalogs/shop/complements", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_a_complement_map_within_the_limit_still_has_bounded_entries(client: TestClient) -> None:  # type: ignore[type-arg]
    too_many = {"Speakers": [f"c{j}" for j in range(21)]}
    response = client.put("/v1/catalogs/shop/complements", json={"complements": too_many})
    assert response.status_code == 422
    assert response.json()["field"] == "complements"
    assert "[...]" not in response.json()["message"]


def test_every_response_says_how_long_the_server_took(client: TestClient) -> None:  # type: ignore[type-arg]
    for response in (
        client.post("/v1/catalogs/shop/search", json={"query": "speaker"}),
        client.get("/healthz"),
        client.get("/nowhere"),
    ):
        assert re.fullmatch(r"app;dur=\d+\.\d", response.headers.get("server-timing", "")), response.headers
