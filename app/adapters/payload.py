"""How a product is stored in Qdrant, shared by both index adapters so they stay identical.

Point ids are UUIDv5 of the product id (Qdrant accepts only integers and UUIDs); the product id
itself, lower-cased filter keys and the content hash travel in the payload.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from app.domain.models import AttributeValue, Product, ScoredProduct
from app.domain.models import filter_key as filter_key  # re-exported for the adapters

_NAMESPACE = uuid.UUID("5b0f4a4e-9d1c-4d8e-8f43-6a1f2b3c4d5e")

# Payload fields with an index in the engine: what filters touch.
# Stock is filtered through a keyword, not the bool: qdrant-edge-py 0.9 turns a Python bool in
# MatchValue into an integer, so `in_stock == false` matched nothing (caught by the contract suite).
KEYWORD_FIELDS = ("product_id", "category_key", "brand_key", "stock_key")
FLOAT_FIELDS = ("price",)
HASH_FIELD = "content_hash"


FACET_KEYS = {"category": "category_key", "brand": "brand_key"}


def stock_key(in_stock: bool) -> str:
    return "in_stock" if in_stock else "out_of_stock"


def point_id(product_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, product_id))


def to_payload(product: Product, content_hash: str) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "title": product.title,
        "brand": product.brand,
        "brand_key": filter_key(product.brand),
        "description": product.description,
        "category": product.category,
        "category_key": filter_key(product.category),
        "price": product.price,
        "currency": product.currency,
        "attributes": dict(product.attributes),
        "in_stock": product.in_stock,
        "stock_key": stock_key(product.in_stock),
        HASH_FIELD: content_hash,
    }


SPARSE_NAME = "lexical"  # the named sparse vector; the dense vector is the unnamed default ("")


def dense_vector(value: object) -> list[float]:
    """The default dense vector of a stored point: a bare list, or the "" entry of named vectors."""
    if isinstance(value, dict):
        value = value.get("")
    if isinstance(value, list) and all(isinstance(x, int | float) for x in value):
        return [float(x) for x in value]
    return []


def from_payload(payload: Mapping[str, Any]) -> Product:
    attributes: dict[str, AttributeValue] = dict(payload.get("attributes") or {})
    price = payload.get("price")
    return Product(
        id=str(payload["product_id"]),
        title=str(payload.get("title", "")),
        brand=str(payload.get("brand", "")),
        description=str(payload.get("description", "")),
        category=str(payload.get("category", "")),
        price=None if price is None else float(price),
        currency=str(payload.get("currency", "USD")),
        attributes=attributes,
        in_stock=bool(payload.get("in_stock", True)),
    )


def scored(payload: Mapping[str, Any], score: float) -> ScoredProduct:
    return ScoredProduct(from_payload(payload), score, str(payload.get(HASH_FIELD, "")))
