"""The composition root: `create_app(settings, deps=None)`.

Adapters are built in the Litestar lifespan from Settings (nothing happens at import time) and
closed on shutdown. Tests and the eval runner pass ready-made `Deps` (fakes or real adapters);
whoever builds a dependency closes it.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import structlog
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from opentelemetry import trace

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.lightgbm_ranker import LightGBMRanker
from app.adapters.memory_cache import MemoryCache
from app.adapters.memory_rate_limiter import MemoryRateLimiter
from app.adapters.memory_store import MemoryControlStore
from app.adapters.onnx_embedder import OnnxEmbedder
from app.adapters.openai_llm_client import OpenAILLMClient
from app.adapters.postgres_store import PostgresControlStore
from app.adapters.qdrant_server_index import QdrantServerIndex
from app.adapters.redis_cache import RedisCache
from app.adapters.redis_rate_limiter import RedisRateLimiter
from app.adapters.sentence_transformer_embedder import (
    DEFAULT_MODEL,
    SentenceTransformerEmbedder,
    default_model_path,
)
from app.adapters.sqlite_store import SQLiteControlStore
from app.api.admission import WRITE, Admission, admission_middleware, gauges
from app.api.allow import allow_middleware, route_methods
from app.api.auth import SECURITY_COMPONENTS, guard, provide_principal
from app.api.body import AisleRequest, BodyLimits
from app.api.catalog_writes import PRODUCT_ROUTES, CatalogWriteController
from app.api.errors import EXCEPTION_HANDLERS
from app.api.events import BehaviourController
from app.api.keys import KeysController
from app.api.openapi import document
from app.api.request_log import request_middleware
from app.api.routes import CatalogController, healthz, metrics_endpoint, readyz
from app.assistant.service import AssistantService
from app.auth.admin import KeyAdmin
from app.auth.startup import open_gate
from app.behaviour import build_behaviour
from app.bundles.service import BundleService
from app.catalogs.service import CatalogWrites
from app.domain.errors import RankerUnavailable
from app.domain.models import Fusion
from app.llm.gate import EvalGate
from app.llm.prompts import load_prompts
from app.llm.resilience import Bulkhead, CircuitBreaker
from app.llm.stage import LLMStage, LLMStageSettings
from app.observability.metrics import Metrics
from app.observability.tracing import Tracing, build_tracing
from app.ports import Cache, ControlStore, Embedder, LLMClient, RateLimiter, VectorIndex
from app.ranking.boost import TypeBoost
from app.ranking.catalog import CatalogContexts
from app.ranking.stage import RankingStage
from app.search.service import RecommendationService, Retrieval
from app.settings import Settings, embedding_model_id
from app.store.complement_import import import_complement_files
from app.vocabularies import Vocabularies

log = structlog.get_logger("aisle")


@dataclass(frozen=True, slots=True)
class Deps:
    embedder: Embedder
    index: VectorIndex
    llm: LLMClient | None = None
    cache: Cache | None = None
    store: ControlStore | None = None  # None with ready-made Deps: an in-memory store


def package_version() -> str:
    """The version, written once in pyproject.toml and read from the installed package's metadata."""
    try:
        return importlib.metadata.version("aisle")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def build_embedder(settings: Settings, *, threads: int | None = None) -> Embedder:
    if settings.embed_backend == "onnx":
        model_dir = (
            default_model_path() if settings.embed_model == DEFAULT_MODEL else Path(settings.embed_model)
        )
        return OnnxEmbedder(
            model_dir,
            settings.data_dir / "models",
            threads=settings.embed_threads if threads is None else threads,
            batch_size=settings.embed_batch_size,
            max_seq_length=settings.embed_max_seq_length,
            name=Path(settings.embed_model).name,
        )
    return SentenceTransformerEmbedder(
        settings.embed_model,
        threads=settings.embed_threads if threads is None else threads,
        quantize_int8=settings.embed_int8,
        batch_size=settings.embed_batch_size,
        max_seq_length=settings.embed_max_seq_length,
    )


def build_index(settings: Settings) -> VectorIndex:
    if settings.vector_backend == "qdrant":
        assert settings.qdrant_url  # Settings.from_env guarantees it
        return QdrantServerIndex.connect(
            settings.qdrant_url, settings.qdrant_api_key, collection_prefix=settings.qdrant_collection_prefix
        )
    return EdgeVectorIndex(settings.data_dir, search_threads=settings.edge_search_threads)


def build_llm(settings: Settings) -> LLMClient | None:
    if not settings.llm_enabled:
        return None
    assert settings.llm_model  # Settings.from_env guarantees it
    return OpenAILLMClient(
        settings.llm_base_url or "https://api.openai.com/v1",
        settings.llm_api_key or "",
        settings.llm_model,
        structured_output=settings.llm_structured_output,
    )


def build_cache(settings: Settings) -> Cache:
    return RedisCache(settings.redis_url) if settings.redis_url else MemoryCache()


def build_store(settings: Settings) -> ControlStore:
    if settings.database_url:
        return PostgresControlStore(settings.database_url)
    return SQLiteControlStore(settings.store_path)


def build_rate_limiter(settings: Settings) -> RateLimiter:
    return RedisRateLimiter(settings.redis_url) if settings.redis_url else MemoryRateLimiter()


def build_cors(settings: Settings) -> CORSConfig | None:
    """None (no CORS headers, browsers refuse cross-origin calls) unless origins are listed."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],  # PATCH: the write API
        allow_headers=[
            "Authorization",
            "X-API-Key",
            "Content-Type",
            "X-Request-ID",
            "X-Aisle-User-Id",  # experiments assign by user or session (docs/events.md)
            "X-Aisle-Session-Id",
            "traceparent",
            "tracestate",
        ],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )


def build_stage(
    settings: Settings, llm: LLMClient | None, cache: Cache, *, tracer: trace.Tracer | None = None
) -> LLMStage:
    """Loads and validates every prompt and the eval gate: a broken one fails start-up here."""
    return LLMStage(
        llm,
        cache,
        load_prompts(settings.prompts_dir, dict(settings.prompt_pins)),
        LLMStageSettings(
            deadline_s=settings.llm_deadline_ms / 1000.0,
            candidates=settings.llm_candidates,
            max_attempts=settings.llm_max_attempts,
            cache_ttl_s=float(settings.llm_cache_ttl_s),
        ),
        gate=EvalGate.load(settings.llm_gate_file),
        breaker=CircuitBreaker(
            window=settings.breaker_window,
            min_calls=settings.breaker_min_calls,
            failure_rate=settings.breaker_failure_rate_pct / 100.0,
            open_s=float(settings.breaker_open_s),
        ),
        bulkhead=Bulkhead(settings.llm_max_in_flight),
        tracer=tracer,
    )


def build_retrieval(settings: Settings) -> Retrieval:
    fusion = Fusion(
        k=settings.fusion_k,
        dense_weight=settings.fusion_dense_weight,
        sparse_weight=settings.fusion_sparse_weight,
        depth=settings.fusion_depth,
    )
    return Retrieval(mode=settings.retrieval, fusion=fusion)


def build_ranking(settings: Settings, index: VectorIndex) -> RankingStage:
    """The learned ranking stage; without a loadable model it serves the retrieval order and every
    search response names why (`ranker.fallback`)."""
    contexts = CatalogContexts(index)
    unavailable = "ranker_disabled"
    if settings.ranker_model is not None:
        try:
            return RankingStage(
                LightGBMRanker.load(settings.ranker_model), contexts, depth=settings.ranker_depth
            )
        except RankerUnavailable as e:
            log.warning("ranker_unavailable", error=str(e))
            unavailable = "ranker_unavailable"
    if settings.type_boost > 0:  # no learned model: the product-type soft boost, if asked for
        return RankingStage(TypeBoost(settings.type_boost), contexts, depth=settings.ranker_depth)
    return RankingStage(None, contexts, depth=settings.ranker_depth, unavailable=unavailable)


async def build_deps(settings: Settings) -> Deps:
    embedder = await anyio.to_thread.run_sync(build_embedder, settings)
    return Deps(
        embedder=embedder,
        index=build_index(settings),
        llm=build_llm(settings),
        cache=build_cache(settings),
        store=build_store(settings),
    )


async def close_deps(deps: Deps) -> None:
    await deps.index.close()
    if deps.store is not None:
        await deps.store.close()
    if deps.llm is not None:
        await deps.llm.close()
    if deps.cache is not None:
        await deps.cache.close()


def _service(state: State) -> RecommendationService:
    service: RecommendationService = state.service
    return service


def _assistant(state: State) -> AssistantService:
    assistant: AssistantService = state.assistant
    return assistant


def _bundles(state: State) -> BundleService:
    bundles: BundleService = state.bundles
    return bundles


def _catalog_writes(state: State) -> CatalogWrites:
    writes: CatalogWrites = state.catalog_writes
    return writes


def _key_admin(state: State) -> KeyAdmin:
    keys: KeyAdmin = state.key_admin
    return keys


async def _open_store(settings: Settings, store: ControlStore, *, owned: bool) -> None:
    """Migrate (idempotent) and, for the store built from Settings, import complement-map files
    left by earlier releases (docs/decisions/0010)."""
    applied = await store.migrate()
    if applied:
        log.info("store_migrated", backend=getattr(store, "backend", "?"), versions=applied)
    if owned:
        imported = await import_complement_files(store, settings.complement_maps_dir)
        if imported:
            log.info("complement_files_imported", files=imported, directory=str(settings.complement_maps_dir))


def create_app(settings: Settings, deps: Deps | None = None, *, tracing: Tracing | None = None) -> Litestar:
    """`tracing` defaults to what Settings say (off unless an OTLP endpoint is configured); tests
    pass one built on an in-memory exporter."""
    telemetry = tracing or build_tracing(settings)
    metrics = Metrics(
        multiprocess_dir=settings.prometheus_multiproc_dir, max_catalogs=settings.metrics_max_catalogs
    )
    allowed: dict[str, bytes] = {}  # path template -> Allow, once the routes exist (app/api/allow.py)
    limits = BodyLimits(settings.max_body_bytes, settings.max_write_body_bytes, settings.max_json_depth)
    gate = Admission(
        settings.max_in_flight, settings.max_queue, settings.queue_timeout_ms / 1000.0, gauges(metrics)
    )
    write_gate = Admission(
        settings.max_writes_in_flight,
        settings.max_write_queue,
        settings.write_queue_timeout_ms / 1000.0,
        gauges(metrics, WRITE),
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Blocking work (embedding, Edge calls) runs in anyio's worker threads, 40 at once by default:
        # on a few cores, 40 CPU-bound threads only contend, for the cores and for the GIL the event
        # loop needs to deliver deadlines. A few threads, with the rest waiting their turn in order.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        owned = deps is None
        active = await build_deps(settings) if deps is None else deps
        cache = active.cache or MemoryCache()
        store = active.store or MemoryControlStore()
        limiter = build_rate_limiter(settings)
        try:
            stage = build_stage(settings, active.llm, cache, tracer=telemetry.tracer)
            await _open_store(settings, store, owned=owned)
            app.state.gate, app.state.key_admin = await open_gate(settings, store, limiter)
        except Exception:
            await limiter.close()
            if owned:
                await close_deps(active)
            raise
        ranking = build_ranking(settings, active.index)
        service = RecommendationService(
            active.embedder, active.index, stage, build_retrieval(settings), telemetry.tracer, ranking
        )
        await ranking.warm()
        app.state.service = service
        app.state.llm_stage = stage
        vocabularies = Vocabularies(active.index)
        app.state.assistant = AssistantService(service, active.index, stage, vocabularies=vocabularies)
        behaviour = app.state.behaviour = build_behaviour(settings, store, active.index, stage)
        app.state.bundles = BundleService(
            active.index,
            stage,
            store,
            vocabularies,
            fusion=service.retrieval.fusion,
            purchases=behaviour.purchases,
        )
        app.state.catalog_writes = CatalogWrites(
            active.embedder,
            active.index,
            store,
            model_id=embedding_model_id(settings),
            listeners=(vocabularies, ranking.contexts, *behaviour.catalog_listeners),
            embed_batch_size=settings.embed_batch_size,
            embed_concurrency=settings.write_embed_threads,
            max_delete_fraction=settings.ingest_max_delete_fraction,
            tracer=telemetry.tracer,
        )
        app.state.metrics = metrics
        app.state.cache_backend = str(getattr(cache, "backend", type(cache).__name__))
        log.info(
            "startup", settings=settings.redacted(), owned_deps=owned, llm_enabled=active.llm is not None
        )
        behaviour.start()  # models follow the event log; impressions flush; retention
        try:
            yield
        finally:
            await behaviour.stop()
            await limiter.close()
            if owned:
                await close_deps(active)
            if tracing is None:
                telemetry.shutdown()
            log.info("shutdown")

    app = Litestar(
        route_handlers=[
            CatalogController,
            CatalogWriteController,
            *PRODUCT_ROUTES,  # after CatalogController: they share its product path
            BehaviourController,
            KeysController,
            healthz,
            readyz,
            metrics_endpoint,
        ],
        lifespan=[lifespan],
        state=State({"body_limits": limits}),
        request_class=AisleRequest,
        logging_config=None,  # app/log.py owns logging: litestar's own loggers reach the JSON root handler
        request_max_body_size=max(limits.max_bytes, limits.max_write_bytes),  # the hard cap
        dependencies={
            "service": Provide(_service, sync_to_thread=False),
            "assistant": Provide(_assistant, sync_to_thread=False),
            "bundles": Provide(_bundles, sync_to_thread=False),
            "catalog_writes": Provide(_catalog_writes, sync_to_thread=False),
            "key_admin": Provide(_key_admin, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        guards=[guard],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            request_middleware(telemetry.tracer, metrics),
            allow_middleware(allowed),
            admission_middleware(gate, metrics, write_gate),
        ],
        cors_config=build_cors(settings),
        openapi_config=OpenAPIConfig(
            title="Aisle",
            version=package_version(),
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=SECURITY_COMPONENTS,
        ),
    )
    metrics.known_routes(frozenset(route.path_format for route in app.routes))
    allowed.update(route_methods(app))
    document(app)  # the served OpenAPI declares every response each route can give
    return app
