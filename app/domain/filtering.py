"""`Filters` applied to a product in Python, with the index's semantics (case- and
whitespace-insensitive brand and category, inclusive price range, a price filter excludes products
without a price): for candidates that come from somewhere other than an index query (behavioural
models), fetched by id and filtered here."""

from __future__ import annotations

from app.domain.models import Filters, Product, filter_key


def admits(f: Filters, product: Product) -> bool:
    category, brand = filter_key(product.category), filter_key(product.brand)
    if f.category and category not in {filter_key(c) for c in f.category}:
        return False
    if f.brand and brand not in {filter_key(b) for b in f.brand}:
        return False
    if f.price_min is not None or f.price_max is not None:
        if product.price is None:
            return False
        if f.price_min is not None and product.price < f.price_min:
            return False
        if f.price_max is not None and product.price > f.price_max:
            return False
    if f.in_stock is not None and product.in_stock != f.in_stock:
        return False
    if brand in {filter_key(b) for b in f.exclude_brand}:
        return False
    if category in {filter_key(c) for c in f.exclude_category}:
        return False
    return product.id not in f.exclude_ids
