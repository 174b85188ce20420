"""The stored layout of events, impressions and experiments that the SQL store adapters share:
times as integer microseconds since the epoch (exact both ways, unlike float seconds), rows in
column order, variants as JSON objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from app.domain.events import Event, EventType, Impression, ShownBy, StoredEvent
from app.domain.experiments import Unit, Variant
from app.domain.search import RerankMode


class Row(Protocol):
    """A result row by column name: sqlite3.Row or psycopg's dict_row."""

    def __getitem__(self, key: str, /) -> Any: ...


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

EVENT_COLUMNS = (
    "catalog, event_id, type, item_id, session_id, user_id, order_id, request_id, position, "
    "category, at_us, received_us"
)
IMPRESSION_COLUMNS = "catalog, request_id, shown_by, ranking, experiment, variant, item_ids, at_us"


def to_us(at: datetime) -> int:
    return (at - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def event_row(catalog: str, e: Event, received_us: int) -> tuple[Any, ...]:
    return (
        catalog,
        e.event_id,
        e.type,
        e.item_id,
        e.session_id,
        e.user_id,
        e.order_id,
        e.request_id,
        e.position,
        e.category,
        to_us(e.at),
        received_us,
    )


def stored_event(row: Row) -> StoredEvent:
    return StoredEvent(
        seq=int(row["seq"]),
        catalog=row["catalog"],
        event=Event(
            event_id=row["event_id"],
            type=cast(EventType, row["type"]),
            item_id=row["item_id"],
            session_id=row["session_id"],
            at=from_us(int(row["at_us"])),
            user_id=row["user_id"],
            order_id=row["order_id"],
            request_id=row["request_id"],
            position=row["position"],
            category=row["category"],
        ),
    )


def impression(row: Row, item_ids: Sequence[str]) -> Impression:
    return Impression(
        catalog=row["catalog"],
        request_id=row["request_id"],
        shown_by=cast(ShownBy, row["shown_by"]),
        ranking=row["ranking"],
        item_ids=tuple(item_ids),
        at=from_us(int(row["at_us"])),
        experiment=row["experiment"],
        variant=row["variant"],
    )


def variants_json(variants: Sequence[Variant]) -> list[dict[str, Any]]:
    return [{"name": v.name, "weight": v.weight, "rerank": v.rerank, "blend": v.blend} for v in variants]


def variants_of(raw: str | list[dict[str, Any]]) -> tuple[Variant, ...]:
    data = json.loads(raw) if isinstance(raw, str) else raw
    return tuple(
        Variant(
            name=str(v["name"]),
            weight=float(v["weight"]),
            rerank=cast(RerankMode | None, v.get("rerank")),
            blend=None if v.get("blend") is None else float(v["blend"]),
        )
        for v in data
    )


def unit_of(raw: str) -> Unit:
    return cast(Unit, raw)
