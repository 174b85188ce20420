"""Which write calls the typed client retries, over httpx's mock transport: the idempotent ones
(upserts, a PATCH, deletes, event batches that carry their ids) after a 503; a catalog creation
and a real full sync never (a dry run is a read); and what each sends (paths, query, body)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aisle.client import Aisle, Event, Product, Retries, Unavailable

BASE = "http://aisle.test"
UPSERT = {
    "results": [{"line": 1, "id": "p", "result": "created"}],
    "created": 1,
    "updated": 0,
    "unchanged": 0,
    "errors": 0,
    "embedded": 1,
    "dry_run": False,
    "timings_ms": {},
}
PRODUCT = {"id": "p", "title": "t", "brand": "", "category": "", "price": None, "currency": "USD"}
PRODUCT |= {"in_stock": True, "attributes": {}, "description": ""}
PATCHED = {"id": "p", "result": "updated", "embedded": False, "product": PRODUCT}
SYNCED = {"stored": 1, "kept": 1, "deleted": [], "dry_run": False, "deletion_skipped": None, "refused": False}
ACCEPTED = {"received": 2, "stored": 2, "duplicates": 0, "unknown_item_ids": []}
CREATED = {"name": "c", "product_count": 0, "created_at": "2026-01-01T00:00:00Z"}


class Script:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]


def down() -> httpx.Response:
    return httpx.Response(503, json={"error": "unavailable", "message": "index down"})


def client(script: Script) -> Aisle:
    http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(script))
    return Aisle(api_key="k", http_client=http, retries=Retries(max_retries=2, jitter=lambda: 0.0))


@pytest.mark.parametrize(
    ("call", "status", "answer"),
    [
        (lambda a: a.upsert_products("c", [Product(id="p", title="t")]), 200, UPSERT),
        (lambda a: a.patch_product("c", "p", price=None), 200, PATCHED),
        (lambda a: a.delete_product("c", "p"), 204, None),
        (lambda a: a.delete_products("c", ["p"]), 200, {"deleted": ["p"], "not_found": []}),
        (lambda a: a.delete_catalog("c"), 204, None),
        (lambda a: a.sync("c", ["p"], dry_run=True), 200, SYNCED | {"dry_run": True}),
        (lambda a: a.recommendations("c", "trending"), 200, None),
    ],
    ids=["upsert", "patch", "delete_product", "delete_products", "delete_catalog", "dry_sync", "recs"],
)
def test_idempotent_writes_are_retried_after_a_503(
    call: Callable[[Aisle], object], status: int, answer: Any
) -> None:
    if answer is None and status == 200:  # recommendations: only the retry count matters here
        answer = {"items": [], "source": "content", "ranking": "vector", "fallback": None}
        answer |= {"cache": None, "timings_ms": {}, "request_id": "r1"}
    ok = httpx.Response(status, json=answer) if answer is not None else httpx.Response(status)
    script = Script(down(), ok)
    call(client(script))
    assert len(script.requests) == 2
    assert script.bodies()[0] == script.bodies()[1]


@pytest.mark.parametrize(
    "call",
    [lambda a: a.create_catalog("c"), lambda a: a.sync("c", ["p"])],
    ids=["create_catalog", "sync"],
)
def test_a_catalog_creation_and_a_real_sync_are_not_retried(call: Callable[[Aisle], object]) -> None:
    script = Script(down(), httpx.Response(200, json=SYNCED))
    with pytest.raises(Unavailable):
        call(client(script))
    assert len(script.requests) == 1


def test_an_event_batch_is_retried_with_the_same_event_ids() -> None:
    script = Script(down(), httpx.Response(200, json=ACCEPTED))
    events = [
        Event(type="view", item_id="p", session_id="s"),
        {"type": "click", "item_id": "p", "session_id": "s"},
    ]
    client(script).send_events("c", events)
    first, retry = script.bodies()
    assert first == retry
    ids = [e["event_id"] for e in first["events"]]
    assert all(ids)
    assert len(set(ids)) == 2
    kept = [Event(type="view", item_id="p", session_id="s", event_id="mine")]
    script = Script(httpx.Response(200, json=ACCEPTED))
    client(script).send_events("c", kept)
    assert script.bodies()[0]["events"][0]["event_id"] == "mine"  # the caller's own id is kept


def test_what_the_write_calls_send() -> None:
    script = Script(
        httpx.Response(201, json=CREATED),
        httpx.Response(200, json=UPSERT | {"dry_run": True}),
        httpx.Response(200, json=PATCHED),
    )
    aisle = client(script)
    assert aisle.create_catalog("c").name == "c"
    aisle.upsert_products("c", [{"id": 7, "title": "raw icecat row", "supplier": "X"}], dry_run=True)
    aisle.patch_product("c", "a b/c", price=None, title="new")
    create, upsert, patch = script.requests
    assert (create.method, create.url.path, create.content) == ("POST", "/v1/catalogs/c", b"")
    assert (upsert.url.path, upsert.url.params["dry_run"]) == ("/v1/catalogs/c/products", "true")
    assert json.loads(upsert.content) == [{"id": 7, "title": "raw icecat row", "supplier": "X"}]
    assert (patch.method, patch.url.raw_path) == ("PATCH", b"/v1/catalogs/c/products/a%20b%2Fc")
    assert json.loads(patch.content) == {"title": "new", "price": None}  # unset fields left out
