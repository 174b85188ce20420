"""`aisle mcp` (Aisle's tools over the Model Context Protocol) and `aisle tools` (their
definitions, e.g. as OpenAI function tools). docs/integrations.md.

`aisle mcp` reaches Aisle through the typed client: over HTTP (`--url`, default AISLE_URL, else
http://127.0.0.1:8000; the key from AISLE_API_KEY), or `--in-process`: the app built by the one
composition root (`create_app`, from this environment's settings) behind an ASGI transport, for
local use without a server. Either way the same HTTP routes, auth and validation serve the tools.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from app.settings import Settings

IN_PROCESS_URL = "http://aisle.in-process"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mcp = sub.add_parser("mcp", help="serve Aisle's tools to AI assistants over MCP (stdio or HTTP)")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    backend = mcp.add_mutually_exclusive_group()
    backend.add_argument(
        "--url", default=None, help="a running Aisle (default: AISLE_URL, else http://127.0.0.1:8000)"
    )
    backend.add_argument(
        "--in-process",
        action="store_true",
        help="serve the app in this process (this environment's settings)",
    )
    mcp.add_argument(
        "--catalog", default=None, help="the tools' default catalog (then `catalog` is optional)"
    )
    mcp.add_argument("--host", default="127.0.0.1", help="--transport http: listen address")
    mcp.add_argument("--port", type=int, default=8765, help="--transport http: listen port")
    mcp.add_argument("--path", default="/mcp", help="--transport http: the endpoint's path")
    tools = sub.add_parser("tools", help="print the agent tools' definitions (OpenAI function tools, MCP)")
    tools.add_argument("--format", choices=["openai", "mcp"], default="openai")
    tools.add_argument("--catalog", default=None, help="a default catalog (then `catalog` is optional)")


def _version() -> str:
    try:
        return importlib.metadata.version("aisle")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@asynccontextmanager
async def connect(settings: Settings, url: str | None, *, in_process: bool) -> AsyncIterator[Any]:
    """An `AsyncAisle` over HTTP, or over the in-process app (started and stopped here)."""
    from aisle.client import AsyncAisle

    if not in_process:
        async with AsyncAisle(url) as client:
            yield client
        return
    import httpx

    from app.main import create_app

    app = create_app(settings)
    transport = httpx.ASGITransport(app=cast(Any, app))  # Litestar's ASGI types are narrower than httpx's
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_URL) as http,
        AsyncAisle(IN_PROCESS_URL, http_client=http) as client,
    ):
        yield client


async def mcp(settings: Settings, args: argparse.Namespace) -> int:
    from aisle.mcp_server import build_server, http_app, serve_stdio

    backend = connect(settings, args.url, in_process=args.in_process)
    if args.transport == "stdio":
        await serve_stdio(backend, default_catalog=args.catalog, version=_version())
        return 0
    import uvicorn

    async with backend as client:
        server = build_server(client, default_catalog=args.catalog, version=_version())
        app = http_app(server, host=args.host, path=args.path)
        # Our logging (app/log.py) owns uvicorn's loggers, as for `aisle serve`.
        config = uvicorn.Config(app, host=args.host, port=args.port, log_config=None, log_level="warning")
        await uvicorn.Server(config).serve()
    return 0


def tools(args: argparse.Namespace) -> int:
    from aisle.tools import openai_tools

    if args.format == "openai":
        print(json.dumps(openai_tools(args.catalog), indent=2))
        return 0
    from aisle.mcp_server import mcp_tools

    listed = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in mcp_tools(args.catalog)]
    print(json.dumps(listed, indent=2))
    return 0
