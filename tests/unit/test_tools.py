"""The agent tools cannot drift from the HTTP API: each tool's input schema is the request type
the route validates with (app/api/dto.py), plus `catalog` as the route's path parameter allows;
results are compact."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from aisle.client._wire import BundleResponse, Fallback, Item, PlanOut, ProductOut, RetrievalResponse, SlotOut
from aisle.tools import BY_NAME, CATALOG_NAME_PATTERN, TOOLS, ToolError, inline, input_schema, prepare
from app.api import dto
from app.domain.models import CATALOG_NAME_PATTERN as SERVER_PATTERN

ROUTE_TYPES: dict[str, type[msgspec.Struct] | None] = {
    "search_products": dto.SearchRequest,
    "similar_products": dto.SimilarRequest,
    "complete_the_look": dto.BundleRequest,
    "list_catalogs": None,
}


@pytest.mark.parametrize("name", ROUTE_TYPES)
def test_a_tools_arguments_are_its_routes_request_type(name: str) -> None:
    schema = input_schema(BY_NAME[name])
    properties = dict(schema["properties"])
    required = list(schema.get("required", []))
    server = ROUTE_TYPES[name]
    if name != "list_catalogs":
        assert properties.pop("catalog")["pattern"] == SERVER_PATTERN
        assert required.pop(0) == "catalog"
    expected = inline(msgspec.json.schema(server)) if server else {"properties": {}}
    assert properties == expected["properties"]
    assert required == expected.get("required", [])
    assert schema["additionalProperties"] is False


def test_the_catalog_argument_is_the_routes_path_parameter() -> None:
    from app.api.routes import CatalogName  # the route's declared parameter

    assert CATALOG_NAME_PATTERN == SERVER_PATTERN
    parameter = CatalogName.__metadata__[0]
    catalog = input_schema(BY_NAME["get_product"])["properties"]["catalog"]
    assert (catalog["minLength"], catalog["maxLength"]) == (parameter.min_length, parameter.max_length)


def test_every_tool_is_listed_once_and_schemas_are_self_contained() -> None:
    assert len(BY_NAME) == len(TOOLS) == 5
    for tool in TOOLS:
        text = msgspec.json.encode(input_schema(tool)).decode()
        assert "$ref" not in text
        assert '"title"' not in text


def test_inline_refuses_a_recursive_type() -> None:
    with pytest.raises(ValueError, match="recursive"):
        inline({"$ref": "#/$defs/A", "$defs": {"A": {"properties": {"a": {"$ref": "#/$defs/A"}}}}})


def test_arguments_are_validated_as_the_route_validates_them() -> None:
    call = prepare("search_products", {"catalog": "shop", "query": "usb", "filters": {"brand": ["X"]}})
    assert (call.method, call.path, call.retry_safe) == ("POST", "/v1/catalogs/shop/search", True)
    assert msgspec.json.decode(call.content() or b"", type=dto.SearchRequest).filters.brand == ["X"]
    with pytest.raises(ToolError, match="invalid argument limit"):
        prepare("search_products", {"catalog": "shop", "query": "usb", "limit": "ten"})
    assert (
        prepare("get_product", {"product_id": "a/b"}, default_catalog="shop").path
        == "/v1/catalogs/shop/products/a%2Fb"
    )


def _item(**fields: Any) -> Item:
    return Item(
        **{
            "id": "a",
            "title": "A",
            "brand": "B",
            "category": "C",
            "price": 1.0,
            "currency": "EUR",
            "in_stock": True,
            "score": 0.123456,
            **fields,
        }
    )


def test_results_are_compact() -> None:
    found = BY_NAME["search_products"].shape(
        RetrievalResponse([_item(reason="fits")], "vector", Fallback("llm_timeout"), "miss", {"total": 3.0})
    )
    assert found == {
        "items": [
            {
                "id": "a",
                "title": "A",
                "brand": "B",
                "category": "C",
                "price": 1.0,
                "currency": "EUR",
                "in_stock": True,
                "reason": "fits",
            }
        ],
        "note": "ranked by similarity only (llm_timeout)",
    }
    product = ProductOut(
        "p", "P", "B", "word " * 400, "C", None, "EUR", True, {f"a{i}": i for i in range(100)}
    )
    shaped = BY_NAME["get_product"].shape(product)
    assert len(shaped["description"]) <= 1002
    assert len(shaped["attributes"]) == 40
    bundle = BundleResponse(
        [product],
        [
            SlotOut("Bags", _item(), [_item(id="b")], "goes with it"),
            SlotOut("Hats", None, [], empty_because="none in stock"),
        ],
        1.0,
        None,
        "vector",
        None,
        PlanOut("request", ["Bags", "Hats"]),
        {},
    )
    shaped = BY_NAME["complete_the_look"].shape(bundle)
    assert shaped["anchor"] == [{"id": "p", "title": "P", "price": None, "currency": "EUR"}]
    assert shaped["slots"][0]["alternatives"] == [{"id": "b", "title": "A", "price": 1.0, "currency": "EUR"}]
    assert shaped["slots"][1] == {"category": "Hats", "item": None, "empty_because": "none in stock"}
    assert "rationale" not in shaped
