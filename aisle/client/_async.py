"""`AsyncAisle`: the asynchronous client (httpx.AsyncClient); the same methods as `Aisle`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, TypeVar, Unpack

import anyio
import httpx
from httpx_sse import aconnect_sse

from aisle.client import routes
from aisle.client._core import Options, decoded, failure
from aisle.client._inputs import RecommendationKind, Scope, messages_of, rows_of
from aisle.client._retry import Retries
from aisle.client._wire import (
    AssistantRequest,
    AssistantResponse,
    BundleRequest,
    BundleRequestOptions,
    BundleResponse,
    CatalogCreatedOut,
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
    KeyOut,
    MessageIn,
    PatchOut,
    ProductIn,
    ProductOut,
    ProductPatchIn,
    ProductPatchInOptions,
    RateLimitIn,
    RecommendationRequest,
    RecommendationRequestOptions,
    RecommendationResponse,
    RetrievalResponse,
    SearchRequest,
    SearchRequestOptions,
    SimilarRequest,
    SimilarRequestOptions,
    SyncIn,
    SyncInOptions,
    SyncOut,
    UpsertOut,
)
from aisle.client.call import Call
from aisle.client.errors import AisleError, NetworkError, network_error
from aisle.client.events import AssistantEvent, Done, decode_event

T = TypeVar("T")


class AsyncAisle:
    """Aisle's HTTP API, typed. `AsyncAisle("https://aisle.example", api_key=...)`; the key defaults to
    AISLE_API_KEY and the URL to AISLE_URL, else http://127.0.0.1:8000.

    `timeout` bounds one attempt, `total_timeout` the whole call (retries and their waits);
    `max_retries` retries only where that is safe (aisle/client/_retry.py; `retries`: a whole
    policy, its backoff too). `http_client`: your
    own httpx.AsyncClient (its base URL, transport, proxies), left open on `aclose()`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        total_timeout: float = 60.0,
        max_retries: int = 2,
        retries: Retries | None = None,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._options = Options.resolve(
            base_url,
            api_key,
            timeout=timeout,
            total_timeout=total_timeout,
            retries=retries or Retries(max_retries=max_retries),
            headers=headers,
        )
        self._owned = http_client is None
        self._http = http_client or httpx.AsyncClient(base_url=self._options.base_url)

    async def __aenter__(self) -> AsyncAisle:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    # --- the generic helper: every method below is `send(route)` ---------------------------------

    async def send(self, call: Call[T], *, api_key: str | None = None) -> T:
        """Send one call, retrying where safe, within the total timeout. `api_key`: this call's
        key, in place of the client's (a server acting for several callers)."""
        options = self._options
        deadline = options.deadline(call)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    content=call.content(),
                    headers=options.request_headers(call, api_key=api_key),
                    timeout=options.attempt_timeout(deadline, call),
                )
            except httpx.TransportError as e:
                error: AisleError = network_error(e)
            else:
                if response.is_success:
                    return decoded(call, response.status_code, response.content)
                error = failure(response.status_code, response.content, response.headers)
            wait = options.retries.delay(
                attempt, error, retry_safe=call.retry_safe, remaining_s=deadline - time.monotonic()
            )
            if wait is None:
                raise error
            await anyio.sleep(wait)

    async def _events(self, call: Call[Any]) -> AsyncIterator[AssistantEvent]:
        """A call answered with Server-Sent Events. Opening it is retried where safe; once events
        flow, a failure is raised (a retry would repeat what was already shown)."""
        options = self._options
        deadline = options.deadline(call)
        attempt = 0
        while True:
            attempt += 1
            started = False
            try:
                async with aconnect_sse(
                    self._http,
                    call.method,
                    call.path,
                    content=call.content(),
                    headers=options.request_headers(call, stream=True),
                    timeout=options.attempt_timeout(deadline, call),
                ) as source:
                    response = source.response
                    if response.is_success:
                        started = True
                        done = False
                        async for sse in source.aiter_sse():
                            event = decode_event(sse.event, sse.data)
                            if event is not None:
                                done = done or isinstance(event, Done)
                                yield event
                        if not done:
                            raise NetworkError("the stream ended before its `done` event")
                        return
                    await response.aread()
                    error: AisleError = failure(response.status_code, response.content, response.headers)
            except httpx.TransportError as e:
                if started:
                    raise network_error(e) from e
                error = network_error(e)
            wait = options.retries.delay(
                attempt, error, retry_safe=call.retry_safe, remaining_s=deadline - time.monotonic()
            )
            if wait is None:
                raise error
            await anyio.sleep(wait)

    # --- catalogs and products ---------------------------------------------------------------------

    async def catalogs(self) -> list[CatalogOut]:
        return await self.send(routes.catalogs())

    async def product(self, catalog: str, product_id: str) -> ProductOut:
        return await self.send(routes.product(catalog, product_id))

    # --- retrieval -------------------------------------------------------------------------------

    async def search(
        self, catalog: str, query: str, **options: Unpack[SearchRequestOptions]
    ) -> RetrievalResponse:
        return await self.send(routes.search(catalog, SearchRequest(query=query, **options)))

    async def similar(
        self, catalog: str, positive: Sequence[str], **options: Unpack[SimilarRequestOptions]
    ) -> RetrievalResponse:
        return await self.send(routes.similar(catalog, SimilarRequest(positive=list(positive), **options)))

    async def bundle(
        self, catalog: str, anchor_ids: Sequence[str], **options: Unpack[BundleRequestOptions]
    ) -> BundleResponse:
        return await self.send(routes.bundle(catalog, BundleRequest(anchor_ids=list(anchor_ids), **options)))

    # --- the assistant ---------------------------------------------------------------------------

    async def assistant(
        self, catalog: str, messages: Sequence[MessageIn | Mapping[str, str]], *, limit: int = 5
    ) -> AssistantResponse:
        body = AssistantRequest(messages=messages_of(messages), limit=limit)
        return await self.send(routes.assistant(catalog, body))

    def assistant_stream(
        self, catalog: str, messages: Sequence[MessageIn | Mapping[str, str]], *, limit: int = 5
    ) -> AsyncIterator[AssistantEvent]:
        """`ItemsReady`, then `ReplyToken`s, then `Done`, as the server sends them:
        `async for event in client.assistant_stream(...)`. Leaving the loop early: wrap it in
        `contextlib.aclosing(...)` so the connection closes at once."""
        body = AssistantRequest(messages=messages_of(messages), limit=limit, stream=True)
        return self._events(routes.assistant(catalog, body))

    # --- catalog writes (docs/catalogs.md) -------------------------------------------------------

    async def create_catalog(self, catalog: str) -> CatalogCreatedOut:
        """An empty catalog (admin scope); `Conflict` if it exists."""
        return await self.send(routes.create_catalog(catalog))

    async def delete_catalog(self, catalog: str) -> None:
        """The catalog, its products, settings and complement maps (admin scope; idempotent)."""
        await self.send(routes.delete_catalog(catalog))

    async def upsert_products(
        self, catalog: str, products: Sequence[ProductIn | Mapping[str, Any]], *, dry_run: bool = False
    ) -> UpsertOut:
        """Up to 1,000 products (and 1 MiB) per call, `ProductIn`s or mappings; a bad row is its
        own `error` result in `results`, never a failed call. Retried where safe: by content."""
        return await self.send(routes.upsert_products(catalog, rows_of(products), dry_run=dry_run))

    async def patch_product(
        self, catalog: str, product_id: str, **changes: Unpack[ProductPatchInOptions]
    ) -> PatchOut:
        """Only the fields given change (`price=None` clears the price)."""
        return await self.send(routes.patch_product(catalog, product_id, ProductPatchIn(**changes)))

    async def delete_product(self, catalog: str, product_id: str) -> None:
        await self.send(routes.delete_product(catalog, product_id))

    async def delete_products(self, catalog: str, ids: Sequence[str]) -> DeleteOut:
        """Unknown ids are reported in `not_found`, not an error."""
        return await self.send(routes.delete_products(catalog, DeleteIn(list(ids))))

    async def sync(self, catalog: str, ids: Sequence[str], **options: Unpack[SyncInOptions]) -> SyncOut:
        """The end of a full sync: deletes the stored products `ids` does not name (guarded:
        `Conflict` when it would delete more than max_delete_fraction). Not retried unless a dry run."""
        return await self.send(routes.sync(catalog, SyncIn(list(ids), **options)))

    # --- behaviour (docs/events.md) --------------------------------------------------------------

    async def send_events(
        self, catalog: str, events: Sequence[EventIn | Mapping[str, Any]]
    ) -> EventsAccepted:
        """Up to 1,000 events; each without an `event_id` is given one, so a retry stores it once."""
        return await self.send(routes.events(catalog, events))

    async def recommendations(
        self, catalog: str, kind: RecommendationKind, **options: Unpack[RecommendationRequestOptions]
    ) -> RecommendationResponse:
        """`kind`: bought_together, viewed_together (with `item_ids`), trending, for_session
        (`session_id`), for_user (`user_id`)."""
        return await self.send(routes.recommendations(catalog, RecommendationRequest(type=kind, **options)))

    # --- complement maps -------------------------------------------------------------------------

    async def complements(self, catalog: str) -> ComplementsOut:
        return await self.send(routes.complements(catalog))

    async def set_complements(self, catalog: str, complements: Mapping[str, Sequence[str]]) -> ComplementsOut:
        body = ComplementsIn({k: list(v) for k, v in complements.items()})
        return await self.send(routes.set_complements(catalog, body))

    # --- API keys (admin scope) ------------------------------------------------------------------

    async def create_key(
        self,
        name: str,
        scopes: Sequence[Scope],
        catalogs: Sequence[str] | None = None,
        *,
        rate_limit: RateLimitIn | None = None,
    ) -> KeyCreated:
        """`catalogs=None`: every catalog. The secret is in the answer's `key`, only there."""
        body = KeyIn(name, list(scopes), "*" if catalogs is None else list(catalogs), rate_limit)
        return await self.send(routes.create_key(body))

    async def list_keys(self) -> list[KeyOut]:
        return await self.send(routes.keys())

    async def revoke_key(self, key_id: str) -> None:
        await self.send(routes.revoke_key(key_id))

    # --- operations ------------------------------------------------------------------------------

    async def health(self) -> Health:
        return await self.send(routes.health())

    async def ready(self) -> Health:
        """Raises `Unavailable` while the server is not ready."""
        return await self.send(routes.ready())

    async def metrics(self) -> str:
        """The Prometheus exposition text (what a scraper reads)."""
        return await self.send(routes.metrics())
