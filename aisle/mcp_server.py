"""Aisle as an MCP server: the agent tools (aisle/tools.py) over the Model Context Protocol, on
stdio or streamable HTTP, through the typed client (`AsyncAisle`: a running Aisle over HTTP, or the
app in-process over an ASGI transport; `aisle mcp` picks: app/cli_integrations.py).

Bad arguments and refused calls are tool errors (`isError`, a message naming the field), which the
model can read and correct; an unknown tool is a protocol error (invalid params), as the spec says.
Over HTTP a request's own API key (`Authorization: Bearer` or `X-API-Key`) is used for its calls
in place of the server's, so each assistant keeps its own scopes and rate limit.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from starlette.applications import Starlette

from aisle.client._async import AsyncAisle
from aisle.tools import BY_NAME, TOOLS, ToolError, call_tool, input_schema, to_json

INSTRUCTIONS = (
    "Aisle finds products in a retailer's catalog. Typical flow: list_catalogs (if the catalog is "
    "unknown) -> search_products (text plus filters: brand, category, price range, in stock) -> "
    "get_product or similar_products for details and alternatives -> complete_the_look for what goes "
    "with a chosen product. Only recommend products these tools returned, by their ids and titles."
)


def _caller_key(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The HTTP caller's own Aisle key, if it sent one (stdio has no request)."""
    headers = getattr(ctx.request, "headers", None)
    if headers is None:
        return None
    bearer = str(headers.get("authorization", ""))
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip() or None
    return str(headers.get("x-api-key", "")).strip() or None


def mcp_tools(default_catalog: str | None = None) -> list[types.Tool]:
    hints = types.ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
    return [
        types.Tool(
            name=tool.name,
            description=tool.description,
            input_schema=input_schema(tool, default_catalog),
            annotations=hints,
        )
        for tool in TOOLS
    ]


def build_server(
    client: AsyncAisle, *, default_catalog: str | None = None, version: str = ""
) -> Server[dict[str, Any]]:
    """An MCP server whose tools call Aisle through `client`."""
    tools = mcp_tools(default_catalog)
    schemas = {tool.name: tool.input_schema for tool in tools}

    async def list_tools(
        _ctx: ServerRequestContext[dict[str, Any], Any], _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def on_call_tool(
        ctx: ServerRequestContext[dict[str, Any], Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        if params.name not in BY_NAME:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}")
        try:
            result = await call_tool(
                client,
                params.name,
                params.arguments,
                default_catalog=default_catalog,
                api_key=_caller_key(ctx),
            )
        except ToolError as e:
            return types.CallToolResult(content=[types.TextContent(text=str(e))], is_error=True)
        text = to_json(result)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=result)

    return Server(
        "aisle",
        version=version,
        instructions=INSTRUCTIONS,
        get_tool_input_schema=schemas.get,
        on_list_tools=list_tools,
        on_call_tool=on_call_tool,
    )


async def serve_stdio(
    connect: AbstractAsyncContextManager[AsyncAisle], *, default_catalog: str | None = None, version: str = ""
) -> None:
    """Serve on stdin/stdout until the client closes them. The client is connected only once the
    SDK holds stdout, so whatever it logs (an in-process app's start-up) goes to stderr, never
    onto the wire."""
    async with stdio_server() as (read, write), connect as client:
        server = build_server(client, default_catalog=default_catalog, version=version)
        await server.run(read, write, server.create_initialization_options())


def http_app(server: Server[dict[str, Any]], *, host: str = "127.0.0.1", path: str = "/mcp") -> Starlette:
    """Streamable HTTP at `path`, stateless (every tool is a read: no session to keep). On a
    loopback host the SDK also refuses other Host/Origin headers (DNS rebinding)."""
    return server.streamable_http_app(streamable_http_path=path, stateless_http=True, host=host)
