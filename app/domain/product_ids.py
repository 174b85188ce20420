"""What a product id may be, once for every path that takes one: the readers' canonical row (ingest
files and the bulk upsert), and the request bodies that name products.

Every id a catalog stores must be addressable afterwards: by the single-product routes
(`/v1/catalogs/{catalog}/products/{product_id}`), by `similar`, `exclude_ids`, events and deletes,
all of which take at most 200 characters. A '/' cannot be one path segment (`a%2Fb` is decoded
before routing: a 404), control characters break log lines and headers, and `delete` is the bulk
delete's path (`POST .../products/delete`), so `GET/PATCH/DELETE .../products/delete` could never
reach such a product: the write path refuses it, row by row.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

MAX_ID_CHARS = 200
RESERVED_IDS = frozenset({"delete"})  # a path segment of the catalog write routes
# No '/', no C0 or C1 control characters (DEL included).
ID_PATTERN = r"^[^/\x00-\x1f\x7f-\x9f]+$"
_ALLOWED = re.compile(ID_PATTERN)

ProductId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]


def id_problem(product_id: str) -> str | None:
    """Why a product can not be stored under this id, or None when it can."""
    if not product_id:
        return "id must not be empty"
    if len(product_id) > MAX_ID_CHARS:
        return f"id must be at most {MAX_ID_CHARS} characters, got {len(product_id)}"
    if not _ALLOWED.match(product_id):
        return "id must not contain '/' or control characters"
    if product_id in RESERVED_IDS:
        return f"id {product_id!r} is reserved (POST .../products/delete is the bulk delete)"
    return None
