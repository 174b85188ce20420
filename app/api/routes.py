"""HTTP routes. Each one validates, calls one use case, binds what the canonical log line needs
and shapes the response; no business logic lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.dto import (
    AssistantRequest,
    AssistantResponse,
    BundleRequest,
    BundleResponse,
    CatalogList,
    CatalogOut,
    ComplementsIn,
    ComplementsOut,
    Fallback,
    Health,
    Item,
    ProductOut,
    RankerOut,
    RetrievalResponse,
    SearchRequest,
    SimilarRequest,
)
from app.api.request_log import annotate
from app.assistant.service import AssistantResult, AssistantService, Finished, ItemsReady, ReplyToken
from app.bundles.service import BundleResult, BundleService
from app.domain.errors import AisleError
from app.domain.models import validate_catalog_name
from app.domain.service import RecommendationService, RetrievalResult
from app.llm.stage import Answer
from app.observability.metrics import BREAKER_STATES, Metrics

CatalogName = Annotated[str, PathParameter(description="catalog name", max_length=63)]


def _respond(catalog: str, result: RetrievalResult, state: State) -> RetrievalResponse:
    timings = result.timings.as_dict()
    structlog.contextvars.bind_contextvars(
        catalog=catalog,
        result_count=len(result.items),
        ranking=result.ranking,
        fallback_reason=result.fallback,
        cache=result.cache,
        llm_calls=result.llm_calls,
        llm_tokens=result.llm_tokens,
        timings_ms=timings,
        ranker=result.ranker,
        ranker_fallback=result.ranker_fallback,
    )
    if result.cache is not None or result.fallback is not None:  # the LLM stage was asked for
        outcome = "ok" if result.fallback is None else result.fallback
        metrics: Metrics = state.metrics
        metrics.observe_llm(
            "disabled" if outcome == "llm_disabled" else outcome,
            result.timings.llm_ms / 1000.0,
            result.llm_calls,
            result.llm_tokens,
            result.cache,
            state.cache_backend,
        )
    return RetrievalResponse(
        items=[Item.of(h, result.reasons.get(h.product.id)) for h in result.items],
        ranking=result.ranking,
        fallback=Fallback(result.fallback) if result.fallback else None,
        cache=result.cache,
        timings_ms=timings,
        ranker=RankerOut(result.ranker, result.ranker_fallback)
        if result.ranker or result.ranker_fallback
        else None,
    )


def _record_tasks(tasks: Sequence[tuple[str, Answer[Any]]], state: State) -> dict[str, int]:
    """One LLM-metrics observation per task (intent, reply, slots, bundle); the log line's totals."""
    metrics: Metrics = state.metrics
    for _task, answer in tasks:
        metrics.observe_llm(
            answer.fallback or "ok",
            answer.llm_ms / 1000.0,
            answer.calls,
            answer.tokens,
            answer.cache,
            state.cache_backend,
        )
    return {"llm_calls": sum(a.calls for _, a in tasks), "llm_tokens": sum(a.tokens for _, a in tasks)}


def _record_assistant(catalog: str, result: AssistantResult, state: State) -> None:
    annotate(
        catalog=catalog,
        result_count=len(result.items),
        ranking=result.ranking,
        intent_source=result.intent_source,
        reply_source=result.reply_source,
        fallback_reason=result.fallback,
        fallback_stage=result.fallback_stage,
        timings_ms=dict(result.timings),
        **_record_tasks(result.llm_tasks, state),
    )


def _record_bundle(catalog: str, result: BundleResult, state: State) -> None:
    annotate(
        catalog=catalog,
        result_count=sum(1 for s in result.slots if s.item is not None),
        ranking=result.ranking,
        fallback_reason=result.fallback,
        plan_source=result.plan.source,
        timings_ms=dict(result.timings),
        **_record_tasks(result.llm_tasks, state),
    )


async def _complements(catalog: str, bundles: BundleService) -> ComplementsOut:
    merchandiser, learned = await bundles.complement_maps(catalog)
    return ComplementsOut(
        merchandiser={k: list(v) for k, v in merchandiser.complements.items()} if merchandiser else None,
        learned={k: list(v) for k, v in learned.complements.items()} if learned else None,
        learned_from=learned.provenance if learned else None,
    )


def _sse(event: str, payload: object) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=msgspec.json.encode(payload).decode(), event=event)


class CatalogController(Controller):
    path = "/v1/catalogs"
    tags = ["catalogs"]  # noqa: RUF012 - litestar reads a class attribute

    @get("/", summary="List catalogs with their product counts")
    async def list_catalogs(self, service: NamedDependency[RecommendationService]) -> CatalogList:
        catalogs = await service.catalogs()
        return CatalogList([CatalogOut(c.name, c.product_count) for c in catalogs])

    @post("/{catalog:str}/search", status_code=HTTP_200_OK, summary="Search a catalog by text")
    async def search(
        self,
        catalog: CatalogName,
        data: JSONBody[SearchRequest],
        service: NamedDependency[RecommendationService],
        state: State,
    ) -> RetrievalResponse:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog)
        result = await service.search(
            catalog,
            data.query,
            limit=data.limit,
            filters=data.filters.to_domain(),
            rerank=data.rerank,
            explain=data.explain,
        )
        return _respond(catalog, result, state)

    @post(
        "/{catalog:str}/similar",
        status_code=HTTP_200_OK,
        summary="Items similar to positives, unlike negatives",
    )
    async def similar(
        self,
        catalog: CatalogName,
        data: JSONBody[SimilarRequest],
        service: NamedDependency[RecommendationService],
        state: State,
    ) -> RetrievalResponse:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog)
        result = await service.similar(
            catalog,
            data.positive,
            data.negative,
            limit=data.limit,
            filters=data.filters.to_domain(),
            rerank=data.rerank,
            explain=data.explain,
        )
        return _respond(catalog, result, state)

    @post(
        "/{catalog:str}/assistant",
        status_code=HTTP_200_OK,
        summary="Conversational shopping assistant (JSON, or Server-Sent Events with stream=true)",
    )
    async def assistant(
        self,
        catalog: CatalogName,
        data: JSONBody[AssistantRequest],
        assistant: NamedDependency[AssistantService],
        state: State,
    ) -> Response[Any]:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog, stream=data.stream, turns=len(data.messages))
        conversation = await assistant.prepare(catalog, data.turns(), data.limit)  # 4xx before streaming
        if not data.stream:
            result = await assistant.respond(conversation)
            _record_assistant(catalog, result, state)
            return Response(AssistantResponse.of(result))

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            async for event in assistant.events(conversation):
                if isinstance(event, ItemsReady):
                    early = AssistantResponse.of(event.result, with_reasons=False)
                    yield _sse(
                        "items",
                        {
                            "items": early.items,
                            "intent": early.intent,
                            "ranking": early.ranking,
                            "fallback": early.fallback,
                            "timings_ms": early.timings_ms,
                        },
                    )
                elif isinstance(event, ReplyToken):
                    yield _sse("token", {"text": event.text})
                elif isinstance(event, Finished):
                    _record_assistant(catalog, event.result, state)
                    yield _sse("done", AssistantResponse.of(event.result))

        return ServerSentEvent(events())

    @post(
        "/{catalog:str}/bundles",
        status_code=HTTP_200_OK,
        summary="Complete-the-look bundle: one complementary item per slot, explained",
    )
    async def bundles(
        self,
        catalog: CatalogName,
        data: JSONBody[BundleRequest],
        bundles: NamedDependency[BundleService],
        state: State,
    ) -> BundleResponse:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog, anchors=len(data.anchor_ids))
        result = await bundles.bundle(catalog, data.to_domain())
        _record_bundle(catalog, result, state)
        return BundleResponse.of(result)

    @get("/{catalog:str}/complements", summary="The catalog's complement maps (merchandiser, learned)")
    async def get_complements(
        self, catalog: CatalogName, bundles: NamedDependency[BundleService]
    ) -> ComplementsOut:
        validate_catalog_name(catalog)
        return await _complements(catalog, bundles)

    @put("/{catalog:str}/complements", summary="Set the merchandiser's complement map (validated)")
    async def put_complements(
        self, catalog: CatalogName, data: JSONBody[ComplementsIn], bundles: NamedDependency[BundleService]
    ) -> ComplementsOut:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog)
        await bundles.set_merchandiser_map(catalog, data.complements)
        return await _complements(catalog, bundles)

    @get("/{catalog:str}/products/{product_id:str}", summary="One product by id")
    async def product(
        self, catalog: CatalogName, product_id: FromPath[str], service: NamedDependency[RecommendationService]
    ) -> ProductOut:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog)
        return ProductOut.of(await service.product(catalog, product_id))


@get("/healthz", summary="Liveness: the process serves requests", tags=["ops"])
async def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", summary="Readiness: model loaded and index reachable", tags=["ops"])
async def readyz(service: NamedDependency[RecommendationService]) -> Response[Health]:
    checks = {"model": "ok"}
    try:
        await service.catalogs()
        checks["index"] = "ok"
    except AisleError as e:
        checks["index"] = f"error: {e}"
    ready = all(v == "ok" for v in checks.values())
    return Response(
        Health(status="ok" if ready else "unavailable", checks=checks),
        status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
    )


@get("/metrics", summary="Prometheus metrics", tags=["ops"], media_type=CONTENT_TYPE_LATEST)
async def metrics_endpoint(service: NamedDependency[RecommendationService], state: State) -> Response[bytes]:
    metrics: Metrics = state.metrics
    stage = service.llm_stage
    if stage is not None:
        metrics.breaker_state.set(BREAKER_STATES[stage.breaker.state])
        metrics.llm_in_flight.set(stage.bulkhead.in_flight)
    try:
        for catalog in await service.catalogs():
            metrics.index_products.labels(catalog.name).set(catalog.product_count)
        metrics.ready.set(1)
    except AisleError:
        metrics.ready.set(0)  # metrics still render; the AisleNotReady alert fires on this
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
