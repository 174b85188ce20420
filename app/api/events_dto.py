"""Wire contract of the behavioural routes (msgspec Structs, validated on decode): events in,
recommendations out. Kept apart from dto.py so the typed client (#15) can take them as they are."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from app.api.dto import Fallback, FiltersIn, Item, Limit, Rerank
from app.domain.events import EventType, RecommendationType, Source
from app.domain.llm import CacheState
from app.domain.search import Ranking
from app.events.service import MAX_BATCH, Collected, EventDraft
from app.recommendations.service import RecommendationQuery, RecommendationResult

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
RequestId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9._:-]{1,128}$",
        description="the X-Request-ID of the Aisle response that showed the item (attribution)",
    ),
]
Timestamp = Annotated[
    datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset; default: when Aisle received it")
]


class EventIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    type: EventType
    item_id: Id
    session_id: Id
    user_id: Id | None = None
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="purchases")] | None = (
        None
    )
    request_id: RequestId | None = None
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    timestamp: Timestamp | None = None
    event_id: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1, max_length=200, description="unique per event: a retried event is stored once"
            ),
        ]
        | None
    ) = None

    def to_domain(self) -> EventDraft:
        return EventDraft(
            type=self.type,
            item_id=self.item_id,
            session_id=self.session_id,
            user_id=self.user_id,
            order_id=self.order_id,
            request_id=self.request_id,
            position=self.position,
            timestamp=self.timestamp,
            event_id=self.event_id,
        )


class EventBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: Annotated[list[EventIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class EventsAccepted(msgspec.Struct):
    received: int
    stored: int
    duplicates: int
    unknown_item_ids: Annotated[
        list[str], msgspec.Meta(description="not in the catalog (yet): stored, reported, not an error")
    ]

    @classmethod
    def of(cls, c: Collected) -> EventsAccepted:
        return cls(c.received, c.stored, c.duplicates, c.unknown_item_ids)


class RecommendationRequest(msgspec.Struct, forbid_unknown_fields=True):
    type: RecommendationType
    item_ids: Annotated[list[Id], msgspec.Meta(max_length=20)] = []
    session_id: Id | None = None
    user_id: Id | None = None
    limit: Limit = 10
    filters: FiltersIn = msgspec.field(default_factory=FiltersIn)
    rerank: Rerank = "auto"
    explain: bool = False

    def to_domain(self, *, rerank: Rerank | None = None, blend: float | None = None) -> RecommendationQuery:
        return RecommendationQuery(
            type=self.type,
            item_ids=tuple(self.item_ids),
            session_id=self.session_id,
            user_id=self.user_id,
            limit=self.limit,
            filters=self.filters.to_domain(),
            rerank=rerank or self.rerank,
            explain=self.explain,
            blend=blend,
        )


class ExperimentOut(msgspec.Struct):
    name: str
    variant: str


class RecommendationResponse(msgspec.Struct):
    items: list[Item]
    source: Annotated[
        Source, msgspec.Meta(description="events: behaviour; content: vectors (cold start); blend: both")
    ]
    ranking: Ranking
    fallback: Fallback | None
    cache: CacheState | None
    timings_ms: dict[str, float]
    request_id: Annotated[str | None, msgspec.Meta(description="send it back with events on these items")]
    experiment: ExperimentOut | None = None

    @classmethod
    def of(
        cls, r: RecommendationResult, request_id: str | None, experiment: ExperimentOut | None
    ) -> RecommendationResponse:
        cache = next((u.cache for u in r.llm if u.cache is not None), None)
        return cls(
            items=[Item.of(i, r.reasons.get(i.product.id)) for i in r.items],
            source=r.source,
            ranking=r.ranking,
            fallback=Fallback(r.fallback) if r.fallback else None,
            cache=cache,
            timings_ms=dict(r.timings),
            request_id=request_id,
            experiment=experiment,
        )
