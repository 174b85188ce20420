"""Every route, once: a function from its arguments to a `Call` (aisle/client/call.py). The sync
and async clients (`Aisle`, `AsyncAisle`) each wrap one in a one-line method.

Adding a route: its DTOs to scripts/client_types.py's ROOTS (`make client-types`), a builder here,
a method in each client, a contract test (tests/e2e/test_client_contract.py).
"""

from __future__ import annotations

from aisle.client._wire import (
    AssistantRequest,
    AssistantResponse,
    BundleRequest,
    BundleResponse,
    CatalogList,
    CatalogOut,
    ComplementsIn,
    ComplementsOut,
    Health,
    KeyCreated,
    KeyIn,
    KeyList,
    KeyOut,
    ProductOut,
    RetrievalResponse,
    SearchRequest,
    SimilarRequest,
)
from aisle.client.call import Call, decoder, delete, get, post, put, segment

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
    return get(f"{_catalog(catalog)}/products/{segment(product_id)}", ProductOut)


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
