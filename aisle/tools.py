"""Aisle's use cases as agent tools: one table, served as MCP tools (aisle/mcp_server.py, `aisle
mcp`) and as OpenAI function tools (`openai_tools()`, `aisle tools --format openai`).

Each tool's input schema is generated (msgspec.json.schema) from the request type the HTTP route
validates with, plus `catalog`, so the tool and the API cannot drift (tests/unit/test_tools.py
compares them with the server's own types). Arguments are validated against that same type before
anything is sent: bad input is a `ToolError` naming the field, which an MCP server returns as a
tool error and `answer()` as `{"error": ...}`, so the model can correct itself. Results are
compact: ids, titles, prices, reasons; no scores, timings or cache flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from aisle.client import routes
from aisle.client._async import AsyncAisle
from aisle.client._sync import Aisle
from aisle.client._wire import (
    BundleRequest,
    BundleResponse,
    CatalogOut,
    Item,
    ProductOut,
    RetrievalResponse,
    SearchRequest,
    SimilarRequest,
)
from aisle.client.call import Call
from aisle.client.errors import AisleError

CATALOG_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # the route's (app/domain/models.py; a test checks)
CatalogName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=63,
        pattern=CATALOG_NAME_PATTERN,
        description="the catalog to use (list_catalogs names them)",
    ),
]
MAX_DESCRIPTION = 1000  # characters of a product description an agent gets
MAX_ATTRIBUTES = 40


class ProductRef(msgspec.Struct, forbid_unknown_fields=True):
    """get_product's arguments (the route's path parameter)."""

    product_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=200, description="a product id, as the other tools return")
    ]


class ToolError(Exception):
    """Bad arguments, or the API refused the call: a message for the model, not a crash."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    arguments: type[msgspec.Struct] | None  # the route's request type; None: no arguments
    call: Callable[[str, Any], Call[Any]]  # (catalog, validated arguments) -> the API call
    shape: Callable[[Any], dict[str, Any]]  # the API's answer -> the compact result
    needs_catalog: bool = True


def _item(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": item.id,
        "title": item.title,
        "brand": item.brand,
        "category": item.category,
        "price": item.price,
        "currency": item.currency,
        "in_stock": item.in_stock,
    }
    if item.reason:
        out["reason"] = item.reason
    return out


def _brief(item: Item | ProductOut) -> dict[str, Any]:
    return {"id": item.id, "title": item.title, "price": item.price, "currency": item.currency}


def _retrieval(result: RetrievalResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"items": [_item(i) for i in result.items]}
    if result.fallback is not None:
        out["note"] = f"ranked by similarity only ({result.fallback.reason})"
    return out


def _bundle(result: BundleResponse) -> dict[str, Any]:
    slots = []
    for slot in result.slots:
        entry: dict[str, Any] = {"category": slot.category, "item": _item(slot.item) if slot.item else None}
        if slot.reason:
            entry["reason"] = slot.reason
        if slot.alternatives:
            entry["alternatives"] = [_brief(a) for a in slot.alternatives]
        if slot.empty_because:
            entry["empty_because"] = slot.empty_because
        slots.append(entry)
    out: dict[str, Any] = {
        "anchor": [_brief(a) for a in result.anchor],
        "slots": slots,
        "total_price": result.total_price,
    }
    if result.rationale:
        out["rationale"] = result.rationale
    return out


def _product(product: ProductOut) -> dict[str, Any]:
    description = product.description
    if len(description) > MAX_DESCRIPTION:
        description = description[:MAX_DESCRIPTION].rsplit(" ", 1)[0] + " …"
    attributes = dict(list(product.attributes.items())[:MAX_ATTRIBUTES])
    return {
        "id": product.id,
        "title": product.title,
        "brand": product.brand,
        "category": product.category,
        "price": product.price,
        "currency": product.currency,
        "in_stock": product.in_stock,
        "description": description,
        "attributes": attributes,
    }


def _catalogs(catalogs: list[CatalogOut]) -> dict[str, Any]:
    return {"catalogs": [{"name": c.name, "product_count": c.product_count} for c in catalogs]}


TOOLS: tuple[Tool, ...] = (
    Tool(
        "search_products",
        "Search the catalog by text, with optional filters (category, brand, price range, in stock, "
        "exclusions). Returns the best matches with id, title, brand, category, price and stock; "
        "with explain=true, a short reason per item. Use the ids with the other tools.",
        SearchRequest,
        routes.search,
        _retrieval,
    ),
    Tool(
        "similar_products",
        "Products like the given ones (positive ids) and unlike others (negative ids), never the "
        "inputs themselves: alternatives to a product the shopper looked at.",
        SimilarRequest,
        routes.similar,
        _retrieval,
    ),
    Tool(
        "complete_the_look",
        "A complete-the-look bundle for anchor products: one complementary item per slot (e.g. a bag "
        "and a battery for a camera; shoes and a belt for jeans), within an optional budget, each "
        "with a reason and alternatives, and the total price.",
        BundleRequest,
        routes.bundle,
        _bundle,
    ),
    Tool(
        "get_product",
        "One product's details: description and attributes (specifications, compatibility, ...).",
        ProductRef,
        lambda catalog, ref: routes.product(catalog, ref.product_id),
        _product,
    ),
    Tool(
        "list_catalogs",
        "The catalogs this API key may use, with their product counts. Call it first when the "
        "catalog's name is not known.",
        None,
        lambda _catalog, _args: routes.catalogs(),
        _catalogs,
        needs_catalog=False,
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


def inline(schema: Mapping[str, Any]) -> dict[str, Any]:
    """msgspec's `{"$ref", "$defs"}` as one self-contained object schema, without titles: what
    tool-calling models read best (and every MCP client and OpenAI accept)."""
    defs = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name in seen:
                    raise ValueError(f"recursive type {name}: cannot inline")
                return resolve(defs[name], (*seen, name))
            return {k: resolve(v, seen) for k, v in node.items() if k not in ("$defs", "title")}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    resolved: dict[str, Any] = resolve(dict(schema), ())
    return resolved


def input_schema(tool: Tool, default_catalog: str | None = None) -> dict[str, Any]:
    """The tool's arguments: `catalog` (required unless the server has a default), then the
    route's request type's fields, as its JSON Schema says."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if tool.needs_catalog:
        catalog = msgspec.json.schema(CatalogName)
        if default_catalog is None:
            required.append("catalog")
        else:
            catalog["default"] = default_catalog
        properties["catalog"] = catalog
    if tool.arguments is not None:
        body = inline(msgspec.json.schema(tool.arguments))
        properties.update(body["properties"])
        required += body.get("required", [])
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def openai_tools(default_catalog: str | None = None) -> list[dict[str, Any]]:
    """The tools in the OpenAI Chat Completions `tools` format (function tools)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": input_schema(tool, default_catalog),
            },
        }
        for tool in TOOLS
    ]


_AT = re.compile(r"\s*-?\s*at `\$\.?([^`]*)`")
_MISSING = re.compile(r"(?:missing required|unknown) field `([^`]+)`")


def _invalid(error: msgspec.ValidationError, prefix: str = "") -> ToolError:
    """msgspec's "Expected `int` <= 100, got `500` - at `$.limit`" as "invalid limit: ..."."""
    text = str(error)
    at = _AT.search(text)
    path = at.group(1) if at else ""
    missing = _MISSING.search(text)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    message = _AT.sub("", text).rstrip(" -")
    return ToolError(f"invalid argument {path}: {message}" if path else f"invalid arguments: {message}")


def prepare(name: str, arguments: Mapping[str, Any] | None, default_catalog: str | None = None) -> Call[Any]:
    """The API call for a tool call, its arguments validated as the route would validate them."""
    tool = BY_NAME.get(name)
    if tool is None:
        raise ToolError(f"no tool named {name!r}: the tools are {', '.join(BY_NAME)}")
    args = dict(arguments or {})
    catalog = ""
    if tool.needs_catalog:
        raw = args.pop("catalog", default_catalog)
        if raw is None:
            raise ToolError("invalid argument catalog: required (list_catalogs names the catalogs)")
        try:
            catalog = msgspec.convert(raw, CatalogName)
        except msgspec.ValidationError as e:
            raise _invalid(e, "catalog") from e
    if tool.arguments is None:
        if args:
            raise ToolError(f"{name} takes no arguments, got {', '.join(sorted(args))}")
        return tool.call(catalog, None)
    try:
        body = msgspec.convert(args, tool.arguments)
    except msgspec.ValidationError as e:
        raise _invalid(e) from e
    return tool.call(catalog, body)


def _refused(error: AisleError) -> ToolError:
    where = f" ({error.field})" if error.field else ""
    return ToolError(f"{type(error).__name__}{where}: {error.message}")


async def call_tool(
    client: AsyncAisle,
    name: str,
    arguments: Mapping[str, Any] | None,
    *,
    default_catalog: str | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """Run one tool call through the async client; `ToolError` for bad input or a refused call.
    `api_key`: this call's key in place of the client's."""
    call = prepare(name, arguments, default_catalog)
    try:
        result = await client.send(call, api_key=api_key)
    except AisleError as e:
        raise _refused(e) from e
    return BY_NAME[name].shape(result)


def call_tool_sync(
    client: Aisle, name: str, arguments: Mapping[str, Any] | None, *, default_catalog: str | None = None
) -> dict[str, Any]:
    """`call_tool` through the sync client."""
    call = prepare(name, arguments, default_catalog)
    try:
        result = client.send(call)
    except AisleError as e:
        raise _refused(e) from e
    return BY_NAME[name].shape(result)


def _arguments(raw: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if raw is None or isinstance(raw, Mapping):
        return raw or {}
    try:
        decoded = msgspec.json.decode(raw or "{}")
    except msgspec.DecodeError as e:
        raise ToolError(f"the arguments are not valid JSON: {e}") from e
    if not isinstance(decoded, dict):
        raise ToolError("the arguments must be a JSON object")
    return decoded


def to_json(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()


async def answer(
    client: AsyncAisle,
    name: str,
    arguments: str | Mapping[str, Any] | None,
    *,
    default_catalog: str | None = None,
) -> str:
    """A tool message's content for an OpenAI tool call (`function.name`, `function.arguments`):
    the result as JSON, or `{"error": ...}` for the model to read. Never raises for a bad call."""
    try:
        return to_json(await call_tool(client, name, _arguments(arguments), default_catalog=default_catalog))
    except ToolError as e:
        return to_json({"error": str(e)})


def answer_sync(
    client: Aisle,
    name: str,
    arguments: str | Mapping[str, Any] | None,
    *,
    default_catalog: str | None = None,
) -> str:
    """`answer` through the sync client."""
    try:
        return to_json(call_tool_sync(client, name, _arguments(arguments), default_catalog=default_catalog))
    except ToolError as e:
        return to_json({"error": str(e)})
