"""The catalog write routes over HTTP, on the fakes: create/delete, bulk upsert (JSON array,
{"products": [...]}, NDJSON), per-row results, limits (413, 422 naming the field, 400), patch
visible to the next search, deletes, the full sync's guards, a failed batch that loses nothing
acknowledged, and the OpenAPI declarations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from litestar.testing import TestClient

from app.adapters.memory_store import MemoryControlStore
from app.domain.complements import ComplementMap
from app.domain.errors import IndexUnavailable
from app.domain.models import IndexRecord
from app.main import Deps, create_app
from app.settings import Settings
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e

SPEAKER = {
    "id": "spk",
    "title": "portable bluetooth speaker",
    "brand": "JBL",
    "category": "Speakers",
    "price": 49,
}
CABLE = {"id": "cbl", "title": "usb c cable", "brand": "Anker", "category": "Cables", "price": 9}
ICECAT_ROW = {
    "id": 7,
    "title": "Laptop sleeve",
    "supplier": "Targus",
    "price": 1999,
    "attr_t_product_type": "Sleeve",
}


class FlakyIndex(InMemoryVectorIndex):
    """Fails every upsert while `down` is set, like an index that went away mid-request."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def upsert(self, catalog: str, records: Sequence[IndexRecord]) -> None:
        if self.down:
            raise IndexUnavailable("qdrant edge: disk full")
        await super().upsert(catalog, records)


class Stack:
    def __init__(self, client: TestClient, index: FlakyIndex, store: MemoryControlStore) -> None:  # type: ignore[type-arg]
        self.client = client
        self.index = index
        self.store = store

    def upsert(self, rows: Any, **kwargs: Any) -> Any:
        return self.client.post("/v1/catalogs/shop/products", json=rows, **kwargs)

    def ids(self) -> set[str]:
        return set(asyncio.run(self.index.fingerprints("shop")))


def _stack(**settings: Any) -> Iterator[Stack]:
    index, store = FlakyIndex(), MemoryControlStore()
    app = create_app(Settings(**settings), Deps(HashingEmbedder(), index, store=store))
    with TestClient(app) as client:
        assert client.post("/v1/catalogs/shop").status_code == 201
        yield Stack(client, index, store)


@pytest.fixture
def stack() -> Iterator[Stack]:
    yield from _stack()


def test_a_created_catalog_is_listed_and_recorded_and_a_second_create_is_409(stack: Stack) -> None:
    assert stack.client.get("/v1/catalogs").json() == {"catalogs": [{"name": "shop", "product_count": 0}]}
    assert asyncio.run(stack.store.get_catalog("shop")) is not None
    again = stack.client.post("/v1/catalogs/shop")
    assert (again.status_code, again.json()["error"]) == (409, "already_exists")
    bad = stack.client.post("/v1/catalogs/Not_OK")
    assert bad.status_code == 422


def test_bulk_upsert_answers_a_result_per_row(stack: Stack) -> None:
    response = stack.upsert([SPEAKER, {"id": "x", "price": -1, "title": "t"}, ICECAT_ROW, {"title": "no id"}])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["line"], r["id"], r["result"]) for r in body["results"]] == [
        (1, "spk", "created"),
        (2, "x", "error"),
        (3, "7", "created"),
        (4, None, "error"),
    ]
    assert "price" in body["results"][1]["message"]
    assert (body["created"], body["errors"], body["embedded"], body["dry_run"]) == (2, 2, 2, False)
    assert set(body["timings_ms"]) == {"plan", "embed", "write", "total"}
    again = stack.upsert({"products": [SPEAKER, {**CABLE}]}).json()  # the envelope form
    assert [r["result"] for r in again["results"]] == ["unchanged", "created"]
    assert stack.ids() == {"spk", "7", "cbl"}


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/jsonl"])
def test_ndjson_rows_are_numbered_by_line(stack: Stack, content_type: str) -> None:
    body = (json.dumps(SPEAKER) + "\r\n\r\n" + "{oops\n" + json.dumps(CABLE) + "\n").encode()
    response = stack.client.post(
        "/v1/catalogs/shop/products", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["line"], r["result"]) for r in results] == [(1, "created"), (3, "error"), (4, "created")]
    assert "not valid JSON" in results[1]["message"]


def test_a_dry_run_writes_nothing(stack: Stack) -> None:
    body = stack.client.post("/v1/catalogs/shop/products?dry_run=true", json=[SPEAKER]).json()
    assert (body["created"], body["dry_run"]) == (1, True)
    assert stack.ids() == set()


@pytest.mark.parametrize(
    ("body", "status", "error", "field"),
    [
        (b"[{", 400, "malformed_json", None),
        (b'"products"', 422, "invalid_request", "products"),
        (b'{"items": []}', 422, "invalid_request", "products"),
        (
            json.dumps([{"id": str(i), "title": "t"} for i in range(1001)]).encode(),
            422,
            "invalid_request",
            "products",
        ),
        (b"[" * 40 + b"]" * 40, 400, "too_deeply_nested", None),
    ],
)
def test_a_body_that_is_not_rows_is_refused_naming_the_field(
    stack: Stack, body: bytes, status: int, error: str, field: str | None
) -> None:
    response = stack.client.post(
        "/v1/catalogs/shop/products", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert (response.json()["error"], response.json().get("field")) == (error, field)
    assert stack.ids() == set()


def test_too_many_ndjson_rows_and_a_body_over_the_write_limit_are_refused() -> None:
    for stack in _stack(max_write_body_bytes=4096):
        lines = "\n".join(json.dumps({"id": str(i), "title": "t"}) for i in range(1001)).encode()
        big = stack.client.post(
            "/v1/catalogs/shop/products", content=lines, headers={"content-type": "application/x-ndjson"}
        )
        assert (big.status_code, big.json()["error"]) == (413, "body_too_large")
        many = "\n".join("{}" for _ in range(1001)).encode()
        counted = stack.client.post(
            "/v1/catalogs/shop/products", content=many, headers={"content-type": "application/x-ndjson"}
        )
        assert (counted.status_code, counted.json()["field"]) == (422, "products")


def test_writes_to_an_unknown_catalog_are_404(stack: Stack) -> None:
    assert stack.client.post("/v1/catalogs/nope/products", json=[SPEAKER]).status_code == 404
    assert stack.client.patch("/v1/catalogs/nope/products/spk", json={"price": 1}).status_code == 404
    assert stack.client.post("/v1/catalogs/nope/sync", json={"ids": []}).status_code == 404


def test_a_patch_is_visible_to_the_next_search_and_a_full_upsert_agrees(stack: Stack) -> None:
    stack.upsert([SPEAKER, CABLE])
    patched = stack.client.patch("/v1/catalogs/shop/products/spk", json={"price": 19.5, "in_stock": False})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["result"], patched.json()["embedded"]) == ("updated", False)
    cheap = stack.client.post(
        "/v1/catalogs/shop/search", json={"query": "speaker", "filters": {"price_max": 20, "in_stock": False}}
    )
    assert [i["id"] for i in cheap.json()["items"]] == ["spk"]
    product = stack.client.get("/v1/catalogs/shop/products/spk").json()
    assert (product["price"], product["in_stock"]) == (19.5, False)
    same = stack.upsert([{**SPEAKER, "price": 19.5, "in_stock": False}]).json()
    assert same["results"][0]["result"] == "unchanged"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"price": -1}, "price"),
        ({"currency": "euro"}, "currency"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"in_stock": "yes"}, "in_stock"),
        ({"colour": "red"}, "colour"),
        ({"attributes": {"weight": [1]}}, "attributes"),
        ('{"price": 1e400}', "price"),
    ],
)
def test_a_bad_patch_is_a_422_naming_the_field_and_changes_nothing(
    stack: Stack, patch: dict[str, Any] | str, field: str
) -> None:
    stack.upsert([SPEAKER])
    body = patch.encode() if isinstance(patch, str) else json.dumps(patch).encode()
    response = stack.client.patch(
        "/v1/catalogs/shop/products/spk", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"].startswith(field)
    assert stack.client.get("/v1/catalogs/shop/products/spk").json()["price"] == 49.0


def test_deletes_one_product_or_a_list_idempotently(stack: Stack) -> None:
    stack.upsert([SPEAKER, CABLE, ICECAT_ROW])
    assert stack.client.delete("/v1/catalogs/shop/products/spk").status_code == 204
    assert stack.client.delete("/v1/catalogs/shop/products/spk").status_code == 204
    listed = stack.client.post("/v1/catalogs/shop/products/delete", json={"ids": ["cbl", "zzz"]})
    assert listed.json() == {"deleted": ["cbl"], "not_found": ["zzz"]}
    assert stack.ids() == {"7"}
    assert stack.client.post("/v1/catalogs/shop/products/delete", json={"ids": []}).status_code == 422
    assert stack.client.get("/v1/catalogs/shop/products/spk").status_code == 404


def test_the_full_sync_route_applies_the_local_guards(stack: Stack) -> None:
    stack.upsert([{"id": str(i), "title": f"product {i}"} for i in range(10)])
    dry = stack.client.post("/v1/catalogs/shop/sync", json={"ids": ["0"], "dry_run": True}).json()
    assert (dry["refused"], len(dry["deleted"]), dry["dry_run"]) == (True, 9, True)
    refused = stack.client.post("/v1/catalogs/shop/sync", json={"ids": ["0"]})
    assert (refused.status_code, refused.json()["error"]) == (409, "sync_refused")
    skipped = stack.client.post("/v1/catalogs/shop/sync", json={"ids": ["0"], "failed_rows": 2}).json()
    assert skipped["deleted"] == []
    assert "2 row(s) failed" in skipped["deletion_skipped"]
    assert len(stack.ids()) == 10
    done = stack.client.post("/v1/catalogs/shop/sync", json={"ids": [str(i) for i in range(8)]}).json()
    assert sorted(done["deleted"]) == ["8", "9"]
    forced = stack.client.post("/v1/catalogs/shop/sync", json={"ids": [], "force": True}).json()
    assert len(forced["deleted"]) == 8
    bad = stack.client.post("/v1/catalogs/shop/sync", json={"ids": [], "max_delete_fraction": 2})
    assert (bad.status_code, bad.json()["field"]) == (422, "max_delete_fraction")


def test_a_failed_batch_is_a_503_and_loses_nothing_acknowledged(stack: Stack) -> None:
    assert stack.upsert([SPEAKER]).status_code == 200
    stack.index.down = True
    failed = stack.upsert([CABLE, {**SPEAKER, "title": "renamed speaker"}])
    assert (failed.status_code, failed.json()["error"]) == (503, "unavailable")
    assert stack.ids() == {"spk"}
    assert stack.client.get("/v1/catalogs/shop/products/spk").json()["title"] == SPEAKER["title"]
    stack.index.down = False
    retried = stack.upsert([CABLE, {**SPEAKER, "title": "renamed speaker"}]).json()  # the client's retry
    assert [r["result"] for r in retried["results"]] == ["created", "updated"]


def test_deleting_a_catalog_removes_its_settings_and_maps_and_is_idempotent(stack: Stack) -> None:
    stack.upsert([SPEAKER])
    asyncio.run(stack.store.put("shop", ComplementMap("merchandiser", {"speakers": ("cables",)}, "api")))
    assert stack.client.delete("/v1/catalogs/shop").status_code == 204
    assert stack.client.delete("/v1/catalogs/shop").status_code == 204
    assert stack.client.get("/v1/catalogs").json() == {"catalogs": []}
    assert stack.client.post("/v1/catalogs/shop/search", json={"query": "speaker"}).status_code == 404
    assert asyncio.run(stack.store.get_catalog("shop")) is None
    assert asyncio.run(stack.store.get("shop", "merchandiser")) is None


def test_row_counts_reach_the_metrics(stack: Stack) -> None:
    stack.upsert([SPEAKER, {"id": "bad", "title": ""}])
    stack.client.patch("/v1/catalogs/shop/products/spk", json={"price": 1})
    text = stack.client.get("/metrics").text
    assert 'aisle_catalog_rows_total{result="created"} 1.0' in text
    assert 'aisle_catalog_rows_total{result="error"} 1.0' in text
    assert 'aisle_catalog_rows_total{result="updated"} 1.0' in text
    assert "aisle_catalog_embedded_total 1.0" in text


def test_openapi_declares_the_write_routes_bodies_and_conflicts(stack: Stack) -> None:
    paths = stack.client.get("/schema/openapi.json").json()["paths"]
    upsert = paths["/v1/catalogs/{catalog}/products"]["post"]
    assert set(upsert["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    assert {"400", "401", "403", "404", "413", "422", "429", "503"} <= set(upsert["responses"])
    assert "409" in paths["/v1/catalogs/{catalog}"]["post"]["responses"]
    assert "409" in paths["/v1/catalogs/{catalog}/sync"]["post"]["responses"]
    assert {"get", "patch", "delete"} <= set(paths["/v1/catalogs/{catalog}/products/{product_id}"])


def test_ids_no_route_could_address_are_refused_per_row(stack: Stack) -> None:
    """A product stored under `delete` (the bulk delete's path), `a/b` (two path segments) or
    5,000 characters (every other route takes at most 200) could never be patched, deleted or
    named again: each is that row's error, and the rest of the request is written."""
    rows = [{"id": i, "title": "t"} for i in ("delete", "a/b", "x" * 5000)]
    rows += [{"id": "b", "title": "t", "brand": "x" * 1001}, SPEAKER]
    body = stack.upsert(rows).json()
    assert [r["result"] for r in body["results"]] == ["error"] * 4 + ["created"]
    assert "reserved" in body["results"][0]["message"]
    assert stack.ids() == {"spk"}
    long_delete = stack.client.post("/v1/catalogs/shop/products/delete", json={"ids": ["a/b"]})
    assert (long_delete.status_code, long_delete.json()["field"]) == (422, "ids[0]")
