"""The MCP server end to end with the SDK's own client: over an in-memory transport (JSON-RPC
framing, no network), once over streamable HTTP (a real socket), and once over stdio (`aisle mcp`
as a subprocess against Aisle served over HTTP). The tools call the real app (fakes behind it)
through the typed client."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import httpx2
import pytest
import uvicorn
from litestar import Litestar
from mcp import Client, StdioServerParameters
from mcp.client._memory import InMemoryTransport
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from aisle.client import AsyncAisle
from aisle.mcp_server import build_server, http_app
from aisle.tools import TOOLS, input_schema
from app.adapters.memory_store import MemoryControlStore
from tests.client_stack import ADMIN, async_client, issue, make_app

pytestmark = pytest.mark.e2e
CALLS: dict[str, dict[str, Any]] = {
    "search_products": {"catalog": "shop", "query": "camera bag", "limit": 3, "filters": {"price_max": 40}},
    "similar_products": {"catalog": "shop", "positive": ["bag-canon"], "limit": 3},
    "complete_the_look": {
        "catalog": "shop",
        "anchor_ids": ["cam-eos"],
        "slots": ["bags"],
        "compose": "vector",
    },
    "get_product": {"catalog": "shop", "product_id": "cam-eos"},
    "list_catalogs": {},
}


@pytest.fixture
def app() -> Litestar:
    return make_app()


@asynccontextmanager
async def session(app: Litestar, **options: Any) -> AsyncIterator[Client]:
    async with async_client(app) as aisle, Client(InMemoryTransport(build_server(aisle, **options))) as mcp:
        yield mcp


def text(result: CallToolResult) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


async def test_the_tools_are_listed_with_the_routes_schemas(app: Litestar) -> None:
    async with session(app) as mcp:
        listed = (await mcp.list_tools()).tools
    assert [t.name for t in listed] == [t.name for t in TOOLS] == list(CALLS)
    for tool, spec in zip(listed, TOOLS, strict=True):
        assert tool.input_schema == input_schema(spec)
        assert tool.description == spec.description
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True


async def test_every_tool_answers_compactly(app: Litestar) -> None:
    async with session(app) as mcp:
        results = {name: await mcp.call_tool(name, arguments) for name, arguments in CALLS.items()}
    for name, result in results.items():
        assert result.is_error is False, (name, text(result))
        assert json.loads(text(result)) == result.structured_content, name
        assert '"score"' not in text(result)
        assert "timings_ms" not in text(result)
    found = cast(dict[str, Any], results["search_products"].structured_content)["items"]
    assert 0 < len(found) <= 3
    assert all(
        set(i) <= {"id", "title", "brand", "category", "price", "currency", "in_stock", "reason"}
        for i in found
    )
    assert all(i["price"] <= 40 for i in found)
    similar = cast(dict[str, Any], results["similar_products"].structured_content)["items"]
    assert "bag-canon" not in [i["id"] for i in similar]
    bundle = cast(dict[str, Any], results["complete_the_look"].structured_content)
    assert [a["id"] for a in bundle["anchor"]] == ["cam-eos"]
    assert bundle["slots"][0]["item"]["category"] == "Bags"
    product = cast(dict[str, Any], results["get_product"].structured_content)
    assert product["title"].startswith("Canon EOS")
    assert results["list_catalogs"].structured_content == {
        "catalogs": [{"name": "shop", "product_count": 20}]
    }


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        ("search_products", {"catalog": "shop", "query": "camera", "limit": 500}, "limit"),
        ("search_products", {"catalog": "shop"}, "query"),
        (
            "search_products",
            {"catalog": "shop", "query": "x", "filters": {"price_min": -1}},
            "filters.price_min",
        ),
        ("search_products", {"catalog": "shop", "query": "x", "colour": "red"}, "colour"),
        ("search_products", {"catalog": "Shop!", "query": "camera"}, "catalog"),
        ("search_products", {"query": "camera"}, "catalog"),
        ("complete_the_look", {"catalog": "shop", "anchor_ids": []}, "anchor_ids"),
        ("get_product", {"catalog": "shop", "product_id": "no-such-product"}, "NotFound"),
        ("search_products", {"catalog": "nosuchcatalog", "query": "camera"}, "NotFound"),
        ("list_catalogs", {"catalog": "shop"}, "takes no arguments"),
    ],
)
async def test_bad_input_is_a_tool_error_naming_the_field(
    app: Litestar, name: str, arguments: dict[str, Any], says: str
) -> None:
    async with session(app) as mcp:
        result = await mcp.call_tool(name, arguments)
        assert result.is_error is True
        assert says in text(result)
        assert (await mcp.call_tool("list_catalogs", {})).is_error is False  # the server carries on


async def test_an_unknown_tool_is_a_protocol_error(app: Litestar) -> None:
    async with session(app) as mcp:
        with pytest.raises(MCPError, match="unknown tool"):
            await mcp.call_tool("delete_everything", {})


async def test_a_default_catalog_makes_the_catalog_optional(app: Litestar) -> None:
    async with session(app, default_catalog="shop") as mcp:
        search = next(t for t in (await mcp.list_tools()).tools if t.name == "search_products")
        assert search.input_schema["required"] == ["query"]
        assert search.input_schema["properties"]["catalog"]["default"] == "shop"
        result = await mcp.call_tool("search_products", {"query": "camera bag"})
    assert result.is_error is False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(asgi: Any) -> AsyncIterator[str]:
    """`asgi` on a real socket, in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve)
        with anyio.fail_after(20):
            while not server.started:  # noqa: ASYNC110 - uvicorn has a flag, not an event
                await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


@pytest.fixture
def keyed() -> tuple[Litestar, str]:
    """The app and a search key of its store."""
    store = MemoryControlStore()
    return make_app(store=store), issue(store, ["search"], ["shop"])


async def test_streamable_http_uses_each_callers_own_key(keyed: tuple[Litestar, str]) -> None:
    app, search_key = keyed
    async with async_client(app, api_key=None) as aisle, serving(http_app(build_server(aisle))) as base:
        url = f"{base}/mcp"
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {search_key}"}) as http,
            Client(streamable_http_client(url, http_client=http)) as mcp,
        ):
            assert [t.name for t in (await mcp.list_tools()).tools] == list(CALLS)
            found = await mcp.call_tool("search_products", CALLS["search_products"])
        async with Client(url) as anonymous:  # no key of its own, and the server has none
            refused = await anonymous.call_tool("list_catalogs", {})
    assert found.is_error is False
    assert cast(dict[str, Any], found.structured_content)["items"]
    assert refused.is_error is True
    assert "Unauthorized" in text(refused)


@pytest.mark.skipif(sys.platform == "win32", reason="stdio subprocess test uses POSIX pipes")
async def test_aisle_mcp_over_stdio_talks_to_aisle_over_http(app: Litestar) -> None:
    async with app.lifespan(), serving(app) as base:
        env = {**os.environ, "AISLE_API_KEY": ADMIN, "AISLE_LOG_JSON": "true"}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "app", "mcp", "--url", base, "--catalog", "shop"], env=env
        )
        async with Client(params) as mcp:
            tools = (await mcp.list_tools()).tools
            result = await mcp.call_tool("search_products", {"query": "camera bag", "limit": 2})
    assert len(tools) == len(CALLS)
    assert result.is_error is False, text(result)
    assert len(cast(dict[str, Any], result.structured_content)["items"]) == 2


async def test_an_async_aisle_without_a_server_is_a_tool_error_not_a_crash() -> None:
    unreachable = AsyncAisle(f"http://127.0.0.1:{free_port()}", api_key="k", total_timeout=2.0, max_retries=0)
    async with unreachable, Client(InMemoryTransport(build_server(unreachable))) as mcp:
        result = await mcp.call_tool("list_catalogs", {})
    assert result.is_error is True
    assert "ConnectFailed" in text(result)
