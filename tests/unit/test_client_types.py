"""The client's wire types are the server's: the generated module is up to date with the DTOs
(scripts/client_types.py), and every copy has its original's JSON Schema, so a field, a constraint
or a default changed on one side only fails here (fix: `make client-types`)."""

from __future__ import annotations

from typing import get_args

import msgspec
import pytest

import aisle.client._wire as wire
from scripts.client_types import TARGET, render, roots, wants_options


def test_the_generated_module_is_up_to_date() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(), "run `make client-types` and commit the result"


@pytest.mark.parametrize("server_type", roots(), ids=lambda t: t.__name__)
def test_each_client_type_has_the_server_types_schema(server_type: type[msgspec.Struct]) -> None:
    client_type = getattr(wire, server_type.__name__)
    assert client_type is not server_type
    assert msgspec.json.schema(client_type) == msgspec.json.schema(server_type)


def test_the_options_are_the_requests_optional_fields() -> None:
    for server_type in roots():
        if not wants_options(server_type.__name__):
            continue
        options = getattr(wire, f"{server_type.__name__}Options")
        optional = [f.name for f in msgspec.structs.fields(server_type) if not f.required]
        assert list(options.__annotations__) == optional


def test_the_client_encodes_a_request_as_the_server_decodes_it() -> None:
    from app.api.dto import SearchRequest

    sent = wire.SearchRequest(
        "usb cable", limit=5, filters=wire.FiltersIn(brand=["StarTech.com"], price_max=20)
    )
    decoded = msgspec.json.decode(msgspec.json.encode(sent), type=SearchRequest)
    assert (decoded.query, decoded.limit, decoded.filters.brand, decoded.filters.price_max) == (
        "usb cable",
        5,
        ["StarTech.com"],
        20,
    )
    assert b"exclude_ids" not in msgspec.json.encode(sent)  # omit_defaults, as on the server


def test_the_clients_literals_are_the_servers() -> None:
    from aisle.client._inputs import RecommendationKind, Scope
    from app.domain.control_plane import Scope as ServerScope
    from app.domain.events import RecommendationType

    assert get_args(Scope) == get_args(ServerScope)
    assert get_args(RecommendationKind) == get_args(RecommendationType)


def test_an_unset_patch_field_is_left_out_and_none_clears() -> None:
    from app.api.catalog_dto import ProductPatchIn

    sent = msgspec.json.encode(wire.ProductPatchIn(price=None, in_stock=False))
    assert msgspec.json.decode(sent) == {"price": None, "in_stock": False}
    changes = msgspec.json.decode(sent, type=ProductPatchIn)
    assert (changes.price, changes.in_stock, changes.title) == (None, False, msgspec.UNSET)
