"""A typed Python client for Aisle's HTTP API: `Aisle` (sync) and `AsyncAisle` (async), over httpx.

    from aisle.client import Aisle, NotFound

    with Aisle("http://127.0.0.1:8000", api_key="...") as aisle:   # or AISLE_URL, AISLE_API_KEY
        hits = aisle.search("icecat", "usb cable", limit=5, filters=Filters(price_max=20))
        for item in hits.items:
            print(item.id, item.title, item.price)

Results are the server's own response types (generated from them: aisle/client/_wire.py); errors
are the API's error body as exceptions (`NotFound`, `Invalid(field)`, `RateLimited(retry_after)`,
...: aisle/client/errors.py). The assistant streams as typed events (`assistant_stream`). Writes
too: catalogs and products (`create_catalog`, `upsert_products`, `patch_product`, `sync`, ...),
shopper events (`send_events`) and recommendations. The
current OpenTelemetry context travels as `traceparent` when opentelemetry-api is installed.
Importing this package imports httpx and msgspec, nothing of the server. docs/integrations.md.
"""

from aisle.client._async import AsyncAisle
from aisle.client._inputs import RecommendationKind, Scope
from aisle.client._retry import Retries
from aisle.client._sync import Aisle
from aisle.client._wire import (
    AssistantResponse,
    BudgetIn,
    BundleResponse,
    CatalogCreatedOut,
    CatalogOut,
    ComplementsOut,
    DeleteOut,
    EventIn,
    EventsAccepted,
    ExperimentOut,
    FiltersIn,
    Health,
    IntentOut,
    Item,
    KeyCreated,
    KeyOut,
    MessageIn,
    PatchOut,
    ProductIn,
    ProductOut,
    RankerOut,
    RateLimitIn,
    RecommendationResponse,
    RetrievalResponse,
    RowOut,
    RulesIn,
    SlotOut,
    SyncOut,
    UpsertOut,
)
from aisle.client.call import Call, delete, get, patch, post, put, request
from aisle.client.errors import (
    AisleError,
    BadRequest,
    Conflict,
    ConnectFailed,
    Forbidden,
    Invalid,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Timeout,
    Unauthorized,
    Unavailable,
)
from aisle.client.events import AssistantEvent, Done, ItemsReady, ReplyToken

Filters = FiltersIn  # the request's `filters`: Filters(brand=["Sony"], price_max=50)
Budget = BudgetIn
Rules = RulesIn
Message = MessageIn
Event = EventIn  # a shopper event: Event(type="view", item_id=..., session_id=...)
Product = ProductIn  # a product row to upsert

__all__ = [
    "Aisle",
    "AisleError",
    "AssistantEvent",
    "AssistantResponse",
    "AsyncAisle",
    "BadRequest",
    "Budget",
    "BundleResponse",
    "Call",
    "CatalogCreatedOut",
    "CatalogOut",
    "ComplementsOut",
    "Conflict",
    "ConnectFailed",
    "DeleteOut",
    "Done",
    "Event",
    "EventIn",
    "EventsAccepted",
    "ExperimentOut",
    "Filters",
    "Forbidden",
    "Health",
    "IntentOut",
    "Invalid",
    "Item",
    "ItemsReady",
    "KeyCreated",
    "KeyOut",
    "Message",
    "NetworkError",
    "NotFound",
    "PatchOut",
    "PayloadTooLarge",
    "Product",
    "ProductIn",
    "ProductOut",
    "RankerOut",
    "RateLimitIn",
    "RateLimited",
    "RecommendationKind",
    "RecommendationResponse",
    "ReplyToken",
    "Retries",
    "RetrievalResponse",
    "RowOut",
    "Rules",
    "Scope",
    "ServerError",
    "SlotOut",
    "SyncOut",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "UpsertOut",
    "delete",
    "get",
    "patch",
    "post",
    "put",
    "request",
]
