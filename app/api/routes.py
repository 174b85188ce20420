"""HTTP routes. Each one validates, calls one use case, binds what the canonical log line needs
and shapes the response; no business logic lives here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import anyio
import anyio.to_thread
import msgspec
import structlog
from litestar import Controller, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.auth import requires
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
from app.auth.principal import Principal
from app.bundles.service import BundleResult, BundleService
from app.domain.errors import AisleError
from app.domain.llm import LLMUsage
from app.domain.models import CATALOG_NAME_PATTERN, validate_catalog_name
from app.domain.search import RetrievalResult
from app.llm.stage import LLMStage
from app.observability.metrics import BREAKER_STATES, Metrics
from app.search.service import RecommendationService

CatalogName = Annotated[
    str,
    PathParameter(
        description="catalog name: 1-63 of a-z, 0-9, _ and -, starting with a letter or digit",
        min_length=1,
        max_length=63,
        pattern=CATALOG_NAME_PATTERN,
        examples=[Example(value="icecat")],
    ),
]


def _record_llm(usages: Sequence[LLMUsage], state: State) -> dict[str, int]:
    """The one way LLM work is recorded: a metrics observation per usage record (a search's LLM
    step, each assistant or bundle task; Metrics folds `llm_disabled` into `disabled`), one per
    LLM-written string grounding kept from the response, and the canonical log line's totals."""
    metrics: Metrics = state.metrics
    for usage in usages:
        metrics.observe_llm(
            usage.fallback or "ok",
            usage.llm_ms / 1000.0,
            usage.calls,
            usage.tokens,
            usage.cache,
            state.cache_backend,
        )
        metrics.observe_ungrounded(usage.ungrounded)
    totals = {"llm_calls": sum(u.calls for u in usages), "llm_tokens": sum(u.tokens for u in usages)}
    ungrounded = sum(len(u.ungrounded) for u in usages)
    return {**totals, "llm_ungrounded": ungrounded} if ungrounded else totals


def _respond(catalog: str, result: RetrievalResult, state: State) -> RetrievalResponse:
    timings = result.timings.as_dict()
    structlog.contextvars.bind_contextvars(
        catalog=catalog,
        result_count=len(result.items),
        ranking=result.ranking,
        fallback_reason=result.fallback,
        cache=result.cache,
        timings_ms=timings,
        **_record_llm(result.llm, state),
        ranker=result.ranker,
        ranker_fallback=result.ranker_fallback,
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
        **_record_llm(result.llm, state),
    )


def _record_bundle(catalog: str, result: BundleResult, state: State) -> None:
    annotate(
        catalog=catalog,
        result_count=sum(1 for s in result.slots if s.item is not None),
        ranking=result.ranking,
        fallback_reason=result.fallback,
        plan_source=result.plan.source,
        timings_ms=dict(result.timings),
        **_record_llm(result.llm, state),
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

    @requires("any")
    @get("/", summary="List the catalogs this key may see, with their product counts")
    async def list_catalogs(
        self, service: NamedDependency[RecommendationService], principal: NamedDependency[Principal]
    ) -> CatalogList:
        catalogs = await service.catalogs()
        return CatalogList([CatalogOut(c.name, c.product_count) for c in catalogs if principal.sees(c.name)])

    @requires("search")
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

    @requires("search")
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

    @requires("search")
    @post(
        "/{catalog:str}/assistant",
        status_code=HTTP_200_OK,
        summary="Conversational shopping assistant (JSON, or Server-Sent Events with stream=true)",
        opt={"stream": "text/event-stream", "json": AssistantResponse},  # declared by app/api/openapi.py
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

    @requires("search")
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

    @requires("search")
    @get("/{catalog:str}/complements", summary="The catalog's complement maps (merchandiser, learned)")
    async def get_complements(
        self, catalog: CatalogName, bundles: NamedDependency[BundleService]
    ) -> ComplementsOut:
        validate_catalog_name(catalog)
        return await _complements(catalog, bundles)

    @requires("write")
    @put(
        "/{catalog:str}/complements",
        summary="Set the merchandiser's complement map (validated)",
        opt={"body": "write"},  # the write route class's body limit (app/api/body.py)
    )
    async def put_complements(
        self, catalog: CatalogName, data: JSONBody[ComplementsIn], bundles: NamedDependency[BundleService]
    ) -> ComplementsOut:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog)
        await bundles.set_merchandiser_map(catalog, data.complements)
        return await _complements(catalog, bundles)

    @requires("search")
    @get("/{catalog:str}/products/{product_id:str}", summary="One product by id")
    async def product(
        self, catalog: CatalogName, product_id: FromPath[str], service: NamedDependency[RecommendationService]
    ) -> ProductOut:
        validate_catalog_name(catalog)
        structlog.contextvars.bind_contextvars(catalog=catalog)
        return ProductOut.of(await service.product(catalog, product_id))


# Probes and scrapes bypass admission control (app/api/admission.py): never refused, never queued.
_OPS = {"admission": False}


@get("/healthz", summary="Liveness: the process serves requests", tags=["ops"], opt=_OPS)
async def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    summary="Readiness: model loaded and index reachable",
    tags=["ops"],
    opt=_OPS,
    responses={
        HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(Health, description="Not ready: `checks` says why")
    },
)
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


@get("/metrics", summary="Prometheus metrics", tags=["ops"], media_type=CONTENT_TYPE_LATEST, opt=_OPS)
async def metrics_endpoint(service: NamedDependency[RecommendationService], state: State) -> Response[bytes]:
    metrics: Metrics = state.metrics
    stage: LLMStage | None = state.llm_stage
    if stage is not None:
        metrics.breaker_state.set(BREAKER_STATES[stage.breaker.state])
        metrics.llm_in_flight.set(stage.bulkhead.in_flight)
    try:
        metrics.set_catalog_counts({c.name: c.product_count for c in await service.catalogs()})
        metrics.ready.set(1)
    except AisleError:
        metrics.ready.set(0)  # metrics still render; the AisleNotReady alert fires on this
    # Rendering walks every series (and, multi-process, reads every worker's file): a worker thread,
    # so a scrape never holds the event loop the probes and requests run on; its own thread, so it
    # never queues behind the embedding work in the shared pool (AISLE_WORKER_THREADS).
    body = await anyio.to_thread.run_sync(metrics.render, limiter=anyio.CapacityLimiter(1))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
