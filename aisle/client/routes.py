"""Every route, once: a function from its arguments to a `Call` (aisle/client/call.py). The sync
and async clients (`Aisle`, `AsyncAisle`) each wrap one in a one-line method.

Adding a route: its DTOs to scripts/client_types.py's ROOTS (`make client-types`), a builder here,
a method in each client, a contract test (tests/e2e/test_client_contract.py or
tests/e2e/test_client_writes.py). tests/e2e/test_client_drift.py fails while a route of the app's
OpenAPI schema has no builder here, or a builder no method in each client.

Retries (aisle/client/_retry.py) only where a call repeated after a lost answer leaves what one
call leaves: reads, PUT and DELETE, and the writes marked `idempotent` below, each saying why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aisle.client._inputs import events_of
from aisle.client._wire import (
    AssistantRequest,
    AssistantResponse,
    BundleRequest,
    BundleResponse,
    CatalogCreatedOut,
    CatalogList,
    CatalogOut,
    ComplementsIn,
    ComplementsOut,
    DeleteIn,
    DeleteOut,
    EventIn,
    EventsAccepted,
    Health,
    KeyCreated,
    KeyIn,
    KeyList,
    KeyOut,
    PatchOut,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    RecommendationRequest,
    RecommendationResponse,
    RetrievalResponse,
    SearchRequest,
    SimilarRequest,
    SyncIn,
    SyncOut,
    UpsertOut,
)
from aisle.client.call import WRITE_TIMEOUT_S, Call, decoder, delete, get, patch, post, put, segment

_CATALOGS = decoder(CatalogList)
_KEYS = decoder(KeyList)


def _catalog(name: str) -> str:
    return f"/v1/catalogs/{segment(name)}"


def catalogs() -> Call[list[CatalogOut]]:
    return get("/v1/catalogs", lambda raw: _CATALOGS(raw).catalogs)


def search(catalog: str, body: SearchRequest) -> Call[RetrievalResponse]:
    return post(f"{_catalog(catalog)}/search", body, RetrievalResponse, read_only=True)


def similar(catalog: str, body: SimilarRequest) -> Call[RetrievalResponse]:
    return post(f"{_catalog(catalog)}/similar", body, RetrievalResponse, read_only=True)


def assistant(catalog: str, body: AssistantRequest) -> Call[AssistantResponse]:
    """With `body.stream` the answer is Server-Sent Events: the clients' `assistant_stream`."""
    return post(f"{_catalog(catalog)}/assistant", body, AssistantResponse, read_only=True)


def bundle(catalog: str, body: BundleRequest) -> Call[BundleResponse]:
    return post(f"{_catalog(catalog)}/bundles", body, BundleResponse, read_only=True)


def complements(catalog: str) -> Call[ComplementsOut]:
    return get(f"{_catalog(catalog)}/complements", ComplementsOut)


def set_complements(catalog: str, body: ComplementsIn) -> Call[ComplementsOut]:
    return put(f"{_catalog(catalog)}/complements", body, ComplementsOut)


def product(catalog: str, product_id: str) -> Call[ProductOut]:
    return get(_product(catalog, product_id), ProductOut)


def _product(catalog: str, product_id: str) -> str:
    return f"{_catalog(catalog)}/products/{segment(product_id)}"


# --- catalog writes (docs/catalogs.md) ---------------------------------------------------------------


def create_catalog(catalog: str) -> Call[CatalogCreatedOut]:
    # Not retried: a retry after a lost 201 would answer 409 (`already_exists`) for a call that worked.
    return post(_catalog(catalog), None, CatalogCreatedOut)


def delete_catalog(catalog: str) -> Call[None]:
    return delete(_catalog(catalog), timeout_s=WRITE_TIMEOUT_S)


def upsert_products(
    catalog: str, rows: Sequence[ProductIn | Mapping[str, Any]], *, dry_run: bool = False
) -> Call[UpsertOut]:
    """A JSON array of rows (at most 1,000, and 1 MiB); a bad row is that row's `error` result."""
    query = "?dry_run=true" if dry_run else ""
    # Idempotent: an upsert by id, compared by content hash; the same rows again are `unchanged`.
    return post(
        f"{_catalog(catalog)}/products{query}",
        list(rows),
        UpsertOut,
        idempotent=True,
        timeout_s=WRITE_TIMEOUT_S,  # 1,000 rows took up to 112 s under load
    )


def patch_product(catalog: str, product_id: str, body: ProductPatchIn) -> Call[PatchOut]:
    return patch(_product(catalog, product_id), body, PatchOut)  # sets values: the same again is `unchanged`


def delete_product(catalog: str, product_id: str) -> Call[None]:
    return delete(_product(catalog, product_id))


def delete_products(catalog: str, body: DeleteIn) -> Call[DeleteOut]:
    # Idempotent: deletes by id; a retry after a lost answer reports them as `not_found`.
    return post(
        f"{_catalog(catalog)}/products/delete", body, DeleteOut, idempotent=True, timeout_s=WRITE_TIMEOUT_S
    )


def sync(catalog: str, body: SyncIn) -> Call[SyncOut]:
    # Only a dry run is retried: a real sync deletes what `ids` does not name *at the time it runs*,
    # so a retry could delete products another writer added since the first attempt; its guard
    # (max_delete_fraction) would be judged again on a catalog the first attempt already changed.
    return post(f"{_catalog(catalog)}/sync", body, SyncOut, read_only=body.dry_run, timeout_s=WRITE_TIMEOUT_S)


# --- behaviour (docs/events.md) ----------------------------------------------------------------------


def events(catalog: str, batch: Sequence[EventIn | Mapping[str, Any]]) -> Call[EventsAccepted]:
    """Each event without an `event_id` is given one here, in the call, so every attempt sends it."""
    # Idempotent by event_id: the server stores an event id once, so a retried batch adds nothing.
    body = {"events": events_of(batch)}
    return post(f"{_catalog(catalog)}/events", body, EventsAccepted, idempotent=True)


def recommendations(catalog: str, body: RecommendationRequest) -> Call[RecommendationResponse]:
    return post(f"{_catalog(catalog)}/recommendations", body, RecommendationResponse, read_only=True)


def create_key(body: KeyIn) -> Call[KeyCreated]:
    return post("/v1/keys", body, KeyCreated)  # not retried: a retry could create a second key


def keys() -> Call[list[KeyOut]]:
    return get("/v1/keys", lambda raw: _KEYS(raw).keys)


def revoke_key(key_id: str) -> Call[None]:
    return delete(f"/v1/keys/{segment(key_id)}")


def health() -> Call[Health]:
    return get("/healthz", Health)


def ready() -> Call[Health]:
    return get("/readyz", Health)


def metrics() -> Call[str]:
    """Prometheus' text format, as scraped."""
    return get("/metrics", lambda raw: raw.decode("utf-8"))
