"""A typed Python client for Aisle's HTTP API: `Aisle` (sync) and `AsyncAisle` (async), over httpx.

    from aisle.client import Aisle, NotFound

    with Aisle("http://127.0.0.1:8000", api_key="...") as aisle:   # or AISLE_URL, AISLE_API_KEY
        hits = aisle.search("icecat", "usb cable", limit=5, filters=Filters(price_max=20))
        for item in hits.items:
            print(item.id, item.title, item.price)

Results are the server's own response types (generated from them: aisle/client/_wire.py); errors
are the API's error body as exceptions (`NotFound`, `Invalid(field)`, `RateLimited(retry_after)`,
...: aisle/client/errors.py). The assistant streams as typed events (`assistant_stream`). The
current OpenTelemetry context travels as `traceparent` when opentelemetry-api is installed.
Importing this package imports httpx and msgspec, nothing of the server. docs/integrations.md.
"""

from aisle.client._async import AsyncAisle
from aisle.client._inputs import Scope
from aisle.client._retry import Retries
from aisle.client._sync import Aisle
from aisle.client._wire import (
    AssistantResponse,
    BudgetIn,
    BundleResponse,
    CatalogOut,
    ComplementsOut,
    FiltersIn,
    Health,
    IntentOut,
    Item,
    KeyCreated,
    KeyOut,
    MessageIn,
    ProductOut,
    RankerOut,
    RateLimitIn,
    RetrievalResponse,
    RulesIn,
    SlotOut,
)
from aisle.client.call import Call, delete, get, post, put, request
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
    "CatalogOut",
    "ComplementsOut",
    "Conflict",
    "ConnectFailed",
    "Done",
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
    "PayloadTooLarge",
    "ProductOut",
    "RankerOut",
    "RateLimitIn",
    "RateLimited",
    "ReplyToken",
    "Retries",
    "RetrievalResponse",
    "Rules",
    "Scope",
    "ServerError",
    "SlotOut",
    "Timeout",
    "Unauthorized",
    "Unavailable",
    "delete",
    "get",
    "post",
    "put",
    "request",
]
