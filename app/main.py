"""The composition root: `create_app(settings, deps=None)`.

Adapters are built in the Litestar lifespan from Settings (nothing happens at import time) and
closed on shutdown. Tests and the eval runner pass ready-made `Deps` (fakes or real adapters);
whoever builds a dependency closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio.to_thread
import structlog
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.qdrant_server_index import QdrantServerIndex
from app.adapters.sentence_transformer_embedder import SentenceTransformerEmbedder
from app.api.errors import EXCEPTION_HANDLERS
from app.api.request_log import canonical_log_middleware
from app.api.routes import CatalogController, healthz, readyz
from app.domain.service import RecommendationService
from app.ports import Embedder, VectorIndex
from app.settings import Settings

log = structlog.get_logger("aisle")


@dataclass(frozen=True, slots=True)
class Deps:
    embedder: Embedder
    index: VectorIndex


def build_embedder(settings: Settings, *, threads: int | None = None) -> SentenceTransformerEmbedder:
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


async def build_deps(settings: Settings) -> Deps:
    embedder = await anyio.to_thread.run_sync(build_embedder, settings)
    return Deps(embedder=embedder, index=build_index(settings))


def _service(state: State) -> RecommendationService:
    service: RecommendationService = state.service
    return service


def create_app(settings: Settings, deps: Deps | None = None) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = deps is None
        active = await build_deps(settings) if deps is None else deps
        app.state.service = RecommendationService(active.embedder, active.index)
        log.info("startup", settings=settings.redacted(), owned_deps=owned)
        try:
            yield
        finally:
            if owned:
                await active.index.close()
            log.info("shutdown")

    return Litestar(
        route_handlers=[CatalogController, healthz, readyz],
        lifespan=[lifespan],
        dependencies={"service": Provide(_service, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[canonical_log_middleware],
        openapi_config=OpenAPIConfig(
            title="Aisle", version="0.1.0", path="/schema", render_plugins=[SwaggerRenderPlugin()]
        ),
    )
