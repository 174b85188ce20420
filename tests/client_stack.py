"""The real app (fakes behind its ports, auth on) for the client, tool and MCP tests, and typed
clients wired to it in-process: `Aisle` over litestar's TestClient, `AsyncAisle` over httpx's
ASGI transport inside the app's lifespan (as `aisle mcp --in-process` does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
from litestar import Litestar

from aisle.client import AsyncAisle
from app.adapters.memory_store import MemoryControlStore
from app.auth.admin import KeyAdmin
from app.auth.principal import Principal
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.bundle_catalog import SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

ADMIN = "bootstrap-admin-secret-0123456789abcdef"  # the bootstrap admin key (AISLE_ADMIN_KEY)
BASE_URL = "http://aisle.test"


def shop_index() -> InMemoryVectorIndex:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    return index


def make_app(
    *, store: MemoryControlStore | None = None, index: InMemoryVectorIndex | None = None, **settings: Any
) -> Litestar:
    config = Settings(**{"auth": True, "admin_key": ADMIN, **settings})
    deps = Deps(embedder=HashingEmbedder(), index=index or shop_index(), store=store or MemoryControlStore())
    return create_app(config, deps)


def issue(store: MemoryControlStore, scopes: list[str], catalogs: list[str] | None, **limit: Any) -> str:
    """A key's secret, straight from the store (as `aisle keys create` would)."""
    return asyncio.run(KeyAdmin(store).create(Principal.root("test"), "k", scopes, catalogs, **limit)).token


@asynccontextmanager
async def async_client(
    app: Litestar, api_key: str | None = ADMIN, **options: Any
) -> AsyncIterator[AsyncAisle]:
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http,
        AsyncAisle(BASE_URL, api_key=api_key, http_client=http, **options) as client,
    ):
        yield client
