"""Pure planning of a bulk write: numbered rows and the stored hashes of their ids -> each row's
outcome and the products to write; and whether a product's stored vector can be kept for its new
version (so a price or stock change re-embeds nothing).

The same rules as a local `aisle ingest` (embeddings/ingest.py: `plan_sync`): a row that does not
read is an error naming its line; the first occurrence of a duplicated id is kept; a product whose
content hash (template, model, every stored field) matches the stored one is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from app.domain.models import IndexRecord, Product
from embeddings.readers import ReadResult, RowError, json_row
from embeddings.text import content_hash, product_text

RowResult = Literal["created", "updated", "unchanged", "error"]


@dataclass(frozen=True, slots=True)
class RawRow:
    """One row of a request as sent: its 1-based position (the NDJSON line, or the index + 1 in a
    JSON array) and its JSON text."""

    line: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    item: ReadResult


@dataclass(frozen=True, slots=True)
class RowOutcome:
    line: int
    id: str | None
    result: RowResult
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """A new or changed product to store."""

    line: int
    product: Product
    text: str
    content_hash: str
    is_new: bool


@dataclass(frozen=True, slots=True)
class RowsPlan:
    outcomes: tuple[RowOutcome, ...]  # one per row, in input order
    writes: tuple[Write, ...]


def read_rows(rows: Sequence[RawRow]) -> list[Row]:
    """Each row's JSON (canonical or raw Icecat) to a Product or that row's error."""
    return [Row(r.line, json_row(r.raw, f"line {r.line}")) for r in rows]


def product_ids(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r.item.id for r in rows if isinstance(r.item, Product)))


def plan_rows(rows: Sequence[Row], stored: Mapping[str, str], model_id: str) -> RowsPlan:
    """`stored`: id -> content hash of the rows' ids that the catalog holds."""
    outcomes: list[RowOutcome] = []
    writes: list[Write] = []
    first_line: dict[str, int] = {}
    for row in rows:
        item = row.item
        if isinstance(item, RowError):
            outcomes.append(RowOutcome(row.line, item.product_id, "error", item.message))
            continue
        if item.id in first_line:
            message = f"duplicate id in this request; line {first_line[item.id]} was kept"
            outcomes.append(RowOutcome(row.line, item.id, "error", message))
            continue
        first_line[item.id] = row.line
        text = product_text(item)
        digest = content_hash(item, text, model_id)
        previous = stored.get(item.id)
        if previous == digest:
            outcomes.append(RowOutcome(row.line, item.id, "unchanged"))
            continue
        writes.append(Write(row.line, item, text, digest, previous is None))
        outcomes.append(RowOutcome(row.line, item.id, "created" if previous is None else "updated"))
    return RowsPlan(tuple(outcomes), tuple(writes))


def stored_vector_fits(record: IndexRecord, text: str, model_id: str) -> bool:
    """Whether `record`'s stored vector is the embedding of `text` by this model: its product's
    text is `text`, and its content hash is the one this model and template give that product (a
    vector made by another model or template version is never reused; a payload that no longer
    hashes the same, for any reason, is simply embedded again)."""
    if not record.vector:
        return False
    stored_text = product_text(record.product)
    return stored_text == text and record.content_hash == content_hash(record.product, stored_text, model_id)
