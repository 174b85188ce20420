"""Shopper events and what Aisle showed: the values behind behavioural recommendations, online
metrics and attribution (docs/events.md).

An `Event` is what a storefront reports (a view, a click, an add-to-cart, a purchase); a
`StoredEvent` is one the store committed, with its place in the store's append order (`seq`), which
is how every replica's models follow the same log. An `Impression` is what one Aisle response
showed; an event carrying that response's `request_id` is attributed to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

EventType = Literal["view", "click", "add_to_cart", "purchase"]
EVENT_TYPES: tuple[EventType, ...] = ("view", "click", "add_to_cart", "purchase")
# The responses that record what they showed (a closed set: it labels metrics).
ShownBy = Literal["search", "similar", "recommendations", "bundles"]
SHOWN_BY: tuple[ShownBy, ...] = ("search", "similar", "recommendations", "bundles")
RecommendationType = Literal["bought_together", "viewed_together", "trending", "for_session", "for_user"]
RECOMMENDATION_TYPES: tuple[RecommendationType, ...] = (
    "bought_together",
    "viewed_together",
    "trending",
    "for_session",
    "for_user",
)
# Where a recommendation's items came from: behaviour, vectors (cold start), or both.
Source = Literal["events", "content", "blend"]
SOURCES: tuple[Source, ...] = ("events", "content", "blend")


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    type: EventType
    item_id: str
    session_id: str
    at: datetime  # when it happened (the client's time, else when Aisle received it), UTC
    user_id: str | None = None
    order_id: str | None = None
    request_id: str | None = None  # the Aisle response that showed the item
    position: int | None = None  # its 0-based place in that response
    category: str | None = None  # the item's category (a filter key) when the catalog knows the item


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int  # the store's append order: committed events only ever appear in increasing seq
    catalog: str
    event: Event


def derived_event_id(
    type_: str,
    item_id: str,
    session_id: str,
    at: datetime,
    user_id: str | None,
    order_id: str | None,
    request_id: str | None,
) -> str:
    """An id for an event sent without one but with its own timestamp: a retry of the same event
    gets the same id, so it is stored once (an event with neither has no identity to dedupe on)."""
    parts = (type_, item_id, session_id, at.isoformat(), user_id or "", order_id or "", request_id or "")
    return "h:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Impression:
    """What one response showed, recorded for attribution (kept as long as events are)."""

    catalog: str
    request_id: str
    shown_by: ShownBy
    ranking: str  # "llm" | "vector" (or "events"/"content"/"blend" sources folded in by the edge)
    item_ids: tuple[str, ...]
    at: datetime
    experiment: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class ImpressionGroup:
    """The dimensions online metrics are reported by."""

    shown_by: str
    ranking: str
    experiment: str | None
    variant: str | None


@dataclass(frozen=True, slots=True)
class AttributedEvent:
    """An event that carried the request id of a recorded impression, with that impression."""

    impression: Impression
    type: EventType
    item_id: str
