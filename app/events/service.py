"""Event collection: POST /v1/catalogs/{catalog}/events.

batch (schema-checked at the edge) -> times (not in the future, not past retention)
-> ids (the client's event_id; else derived from the event and its timestamp; else new)
-> item ids against the catalog (known.py: unknown ones are reported, and stored: a storefront
   can show an item before its ingest lands)
-> EventStore.append_events: one transaction, committed before we answer (acknowledged =
   durable), duplicates ignored by event id
-> nudge the models (they follow the store) -> attribute events that carry a request_id to the
   response that showed the item (for the online metrics; the report reads the store)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from app.domain.errors import AisleError, InvalidRequest
from app.domain.events import Event, EventType, Impression, derived_event_id
from app.events.known import KnownItems
from app.impressions import ImpressionLog
from app.ports import EventStore

log = structlog.get_logger("aisle.events")
MAX_BATCH = 1000
MAX_FUTURE = timedelta(minutes=5)  # client clocks drift; beyond this a timestamp is a bug


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event as the client sent it."""

    type: EventType
    item_id: str
    session_id: str
    user_id: str | None = None
    order_id: str | None = None
    request_id: str | None = None
    position: int | None = None
    timestamp: datetime | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Attribution:
    type: EventType
    impression: Impression


@dataclass(slots=True)
class Collected:
    received: int
    stored: int
    unknown_item_ids: list[str] = field(default_factory=list)
    attributed: list[Attribution] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.received - self.stored


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EventCollector:
    def __init__(
        self,
        store: EventStore,
        known: KnownItems,
        *,
        impressions: ImpressionLog | None = None,
        on_stored: Callable[[], None] | None = None,
        retention: timedelta = timedelta(days=90),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._known = known
        self._impressions = impressions
        self._on_stored = on_stored
        self._retention = retention
        self._clock = clock

    async def collect(self, catalog: str, drafts: Sequence[EventDraft]) -> Collected:
        if not 1 <= len(drafts) <= MAX_BATCH:
            raise InvalidRequest("events", f"send 1..{MAX_BATCH} events per batch")
        now = self._clock()
        categories = await self._known.categories(catalog, [d.item_id for d in drafts])
        events = [self._event(n, d, now, categories.get(d.item_id)) for n, d in enumerate(drafts)]
        stored = await self._store.append_events(catalog, events)
        if stored and self._on_stored is not None:
            self._on_stored()
        unknown = [i for i in dict.fromkeys(d.item_id for d in drafts) if i not in categories]
        # A batch that stored nothing was a retry: its attributions were counted the first time.
        attributed = await self._attribute(catalog, events) if stored else []
        return Collected(len(drafts), stored, unknown, attributed)

    def _event(self, n: int, d: EventDraft, now: datetime, category: str | None) -> Event:
        at = now if d.timestamp is None else d.timestamp.astimezone(UTC)
        if at > now + MAX_FUTURE:
            raise InvalidRequest(f"events[{n}].timestamp", "is in the future (more than 5 minutes ahead)")
        if at < now - self._retention:
            days = self._retention.days
            raise InvalidRequest(f"events[{n}].timestamp", f"is older than the {days}-day retention")
        if d.event_id is not None:
            event_id = d.event_id
        elif d.timestamp is not None:
            event_id = derived_event_id(
                d.type, d.item_id, d.session_id, at, d.user_id, d.order_id, d.request_id
            )
        else:
            event_id = f"u:{uuid.uuid4().hex}"  # no id, no timestamp: nothing to recognise a retry by
        return Event(
            event_id=event_id,
            type=d.type,
            item_id=d.item_id,
            session_id=d.session_id,
            at=at,
            user_id=d.user_id,
            order_id=d.order_id,
            request_id=d.request_id,
            position=d.position,
            category=category or None,
        )

    async def _attribute(self, catalog: str, events: Sequence[Event]) -> list[Attribution]:
        """Events whose request_id names a recorded response that showed their item."""
        carried = [e for e in events if e.request_id is not None]
        if not carried or self._impressions is None:
            return []
        try:
            shown = await self._impressions.lookup(catalog, [e.request_id for e in carried if e.request_id])
        except AisleError as error:  # the batch is committed: the metrics miss it, the report will not
            log.warning("attribution_lookup_failed", error=str(error))
            return []
        out = []
        for e in carried:
            impression = shown.get(e.request_id or "")
            if impression is not None and e.item_id in impression.item_ids:
                out.append(Attribution(e.type, impression))
        return out
