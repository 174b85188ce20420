"""What gets embedded for a product, and its content hash.

The template is versioned: changing it changes every content hash, so the next ingest re-embeds
the catalog instead of mixing vectors of two templates. The embedding model's id is hashed in for
the same reason.
"""

from __future__ import annotations

import hashlib
import json
import re

from app.domain.lexical import SPARSE_VERSION
from app.domain.models import Product

TEMPLATE_VERSION = "v1"
MAX_ATTRIBUTES = 8
MAX_ATTRIBUTE_CHARS = 80
MAX_DESCRIPTION_CHARS = 600
# Logistics and compliance facts that describe the box, not the product a shopper looks for.
_SKIPPED_ATTRIBUTE = re.compile(
    r"temperature|humidity|dimensions|package|pallet|master|certification|country|rohs|hs_code|ean|weight"
)


def _attribute_lines(product: Product) -> list[str]:
    lines = []
    for key, value in product.attributes.items():
        if not isinstance(value, str) or _SKIPPED_ATTRIBUTE.search(key):
            continue
        lines.append(f"{key.replace('_', ' ').strip()}: {value[:MAX_ATTRIBUTE_CHARS]}")
        if len(lines) == MAX_ATTRIBUTES:
            break
    return lines


def product_text(product: Product) -> str:
    """Template v1: title; brand and category; description; up to 8 descriptive text attributes."""
    parts = [product.title]
    facts = [
        f"Brand: {product.brand}." if product.brand else "",
        f"Category: {product.category}." if product.category else "",
    ]
    if any(facts):
        parts.append(" ".join(f for f in facts if f))
    if product.description and product.description != product.title:
        parts.append(product.description[:MAX_DESCRIPTION_CHARS])
    attributes = _attribute_lines(product)
    if attributes:
        parts.append("; ".join(attributes))
    return "\n".join(parts)


def content_hash(product: Product, text: str, model_id: str) -> str:
    """Changes when anything stored or embedded changes: the payload, the text, template or model."""
    payload = json.dumps(
        [
            TEMPLATE_VERSION,
            SPARSE_VERSION,
            model_id,
            text,
            product.id,
            product.title,
            product.brand,
            product.description,
            product.category,
            product.price,
            product.currency,
            dict(product.attributes),
            product.in_stock,
        ],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
