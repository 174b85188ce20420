"""`aisle mcp --in-process`: the tools served by the app built from settings by the composition
root (real model, real Qdrant Edge shard), called over an ASGI transport, with no HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from mcp import Client
from mcp.client._memory import InMemoryTransport

from aisle.mcp_server import build_server
from app.cli import main
from app.cli_integrations import connect
from app.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with catalog `shop` ingested by `aisle ingest` (real model, Edge)."""
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text(
        '{"id": "a", "title": "JBL Flip 5 portable bluetooth speaker", "brand": "JBL", "price": 99}\n'
        '{"id": "b", "title": "Anker USB-C cable 1 m", "brand": "Anker", "price": 9.5}\n'
        '{"id": "c", "title": "Sony SRS-XB13 bluetooth speaker", "brand": "Sony", "price": 45}\n'
    )
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AISLE_INGEST_THREADS", "1")
    monkeypatch.delenv("AISLE_API_KEY", raising=False)
    assert main(["ingest", str(catalog), "--catalog", "shop", "--no-optimize"]) == 0
    return tmp_path / "var"


async def test_the_in_process_backend_serves_the_tools_from_the_composition_root(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, auth=False)
    async with (
        connect(settings, None, in_process=True) as aisle,
        Client(InMemoryTransport(build_server(aisle, default_catalog="shop"))) as mcp,
    ):
        catalogs = await mcp.call_tool("list_catalogs", {})
        found = await mcp.call_tool("search_products", {"query": "bluetooth speaker", "limit": 2})
    assert catalogs.structured_content == {"catalogs": [{"name": "shop", "product_count": 3}]}
    items = cast(dict[str, Any], found.structured_content)["items"]
    assert {i["id"] for i in items} == {"a", "c"}
