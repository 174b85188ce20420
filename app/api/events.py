"""The behavioural routes: shopper events in (`events` or `write` scope), recommendations out
(`search` scope). Each validates, calls one use case, records what the canonical log line and the
metrics need, and shapes the response (docs/events.md)."""

from __future__ import annotations

from collections import Counter

import structlog
from litestar import Controller, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from app.api.auth import requires
from app.api.events_dto import (
    EventBatch,
    EventsAccepted,
    ExperimentOut,
    RecommendationRequest,
    RecommendationResponse,
)
from app.api.online import SessionHeader, UserHeader, assigned, request_id, shown
from app.api.request_log import annotate
from app.api.routes import CatalogName, _record_llm
from app.behaviour import Behaviour
from app.domain.models import validate_catalog_name
from app.observability.metrics import Metrics


class BehaviourController(Controller):
    path = "/v1/catalogs"
    tags = ["behaviour"]  # noqa: RUF012 - litestar reads a class attribute

    @requires("events")
    @post(
        "/{catalog:str}/events",
        status_code=HTTP_200_OK,
        summary="Send shopper events in batches (idempotent by event_id; stored before the answer)",
        opt={"body": "write"},  # a batch of up to 1,000 events: the write route class's body limit
    )
    async def events(self, catalog: CatalogName, data: JSONBody[EventBatch], state: State) -> EventsAccepted:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog, events=len(data.events))
        behaviour: Behaviour = state.behaviour
        collected = await behaviour.collector.collect(catalog, [e.to_domain() for e in data.events])
        metrics: Metrics = state.metrics
        metrics.observe_events(
            dict(Counter(e.type for e in data.events)), collected.stored, len(collected.unknown_item_ids)
        )
        for a in collected.attributed:
            i = a.impression
            metrics.observe_attributed(a.type, i.shown_by, i.ranking, i.experiment, i.variant)
        annotate(
            stored=collected.stored,
            duplicates=collected.duplicates,
            unknown_items=len(collected.unknown_item_ids),
            attributed=len(collected.attributed),
        )
        return EventsAccepted.of(collected)

    @requires("search")
    @post(
        "/{catalog:str}/recommendations",
        status_code=HTTP_200_OK,
        summary="Bought/viewed together, trending, for a session or a user: behaviour blended with vectors",
    )
    async def recommendations(
        self,
        catalog: CatalogName,
        data: JSONBody[RecommendationRequest],
        state: State,
        user: UserHeader = None,
        session: SessionHeader = None,
    ) -> RecommendationResponse:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog, recommendation=data.type)
        behaviour: Behaviour = state.behaviour
        assignment = await assigned(
            state, catalog, "recommendations", data.user_id or user, data.session_id or session
        )
        variant = assignment.variant if assignment else None
        query = data.to_domain(
            rerank=variant.rerank if variant else None, blend=variant.blend if variant else None
        )
        result = await behaviour.recommendations.recommend(catalog, query)
        metrics: Metrics = state.metrics
        metrics.observe_recommendation(data.type, result.source)
        annotate(
            result_count=len(result.items),
            ranking=result.ranking,
            source=result.source,
            fallback_reason=result.fallback,
            timings_ms=dict(result.timings),
            **_record_llm(result.llm, state),
        )
        shown(
            state,
            catalog,
            "recommendations",
            result.ranking,
            [i.product.id for i in result.items],
            assignment,
        )
        experiment = ExperimentOut(assignment.experiment, assignment.variant.name) if assignment else None
        return RecommendationResponse.of(result, request_id(), experiment)
