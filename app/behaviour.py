"""Part of the composition root (app/main.py calls it): builds and runs the behavioural use cases:
event collection, recommendations, experiments, and the impression log between them, over the
control-plane store and the vector index.

Three background loops run for the app's lifetime: the model follower (models follow the event
log), the impression flusher, and retention (prunes events and impressions hourly). Stopping
cancels them and flushes the impressions still buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import structlog

from app.bundles.signals import CoPurchase
from app.domain.catalog_changes import CatalogListener
from app.domain.errors import AisleError
from app.domain.models import ScoredProduct
from app.domain.search import RerankMode
from app.events.known import KnownItems
from app.events.service import EventCollector
from app.experiments.service import Experiments
from app.impressions import ImpressionLog
from app.llm.stage import LLMStage
from app.ports import ControlStore, VectorIndex
from app.recommendations.cooccurrence import CoOccurrenceSettings
from app.recommendations.follower import ModelFollower
from app.recommendations.model import BOUGHT, VIEWED, ModelSettings
from app.recommendations.service import RecommendationsService
from app.recommendations.trending import TrendingSettings
from app.search.rerank import Reranked, rerank_and_explain
from app.settings import Settings

log = structlog.get_logger("aisle.events")
PRUNE_EVERY_S = 3600.0


def model_settings(settings: Settings) -> ModelSettings:
    co_life = max(settings.cooccurrence_half_life_days, 1e-3) * 86400.0

    def co(base: CoOccurrenceSettings) -> CoOccurrenceSettings:
        return CoOccurrenceSettings(co_life, base.min_support, base.measure)

    return ModelSettings(
        bought=co(BOUGHT),
        viewed=co(VIEWED),
        trending=TrendingSettings(max(settings.trending_half_life_h, 1e-3) * 3600.0),
    )


@dataclass(frozen=True, slots=True)
class _LLMStep:
    """The search use case's re-rank/explain step as the recommendations' `RankStep`."""

    stage: LLMStage

    async def __call__(
        self, query: str, items: list[ScoredProduct], *, rerank: RerankMode, explain: bool, limit: int
    ) -> Reranked:
        return await rerank_and_explain(self.stage, query, items, rerank=rerank, explain=explain, limit=limit)


@dataclass(frozen=True, slots=True)
class _CoPurchases:
    """The recommendations' co-purchase statistics as the bundles' `PurchaseSignals`."""

    recommendations: RecommendationsService

    async def co_purchased(self, catalog: str, item_ids: Sequence[str], limit: int) -> list[CoPurchase]:
        found = await self.recommendations.co_purchased(catalog, item_ids, limit)
        return [CoPurchase(item, category, score) for item, category, score in found]


@dataclass(slots=True)
class Behaviour:
    settings: Settings
    store: ControlStore
    collector: EventCollector
    recommendations: RecommendationsService
    experiments: Experiments
    impressions: ImpressionLog
    follower: ModelFollower
    known: KnownItems
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def catalog_listeners(self) -> tuple[CatalogListener, ...]:
        """What catalog writes must tell: the ids events are checked against, the models."""
        return (self.known, self.follower)

    @property
    def purchases(self) -> _CoPurchases:
        return _CoPurchases(self.recommendations)

    def start(self) -> None:
        s = self.settings
        self._tasks = [
            asyncio.create_task(self.follower.run(s.events_refresh_ms / 1000.0), name="aisle-models"),
            asyncio.create_task(
                self.impressions.run(s.impressions_flush_ms / 1000.0), name="aisle-impressions"
            ),
            asyncio.create_task(self._retention(), name="aisle-retention"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.impressions.flush()

    async def prune(self) -> tuple[int, int]:
        """Deletes events and impressions past the retention; (events, impressions) deleted."""
        before = datetime.now(UTC) - timedelta(days=self.settings.events_retention_days)
        return await self.store.prune_events(before), await self.store.prune_impressions(before)

    async def _retention(self) -> None:
        while True:
            try:
                events, impressions = await self.prune()
                if events or impressions:
                    log.info("events_pruned", events=events, impressions=impressions)
            except AisleError as e:
                log.warning("events_prune_failed", error=str(e))
            await anyio.sleep(PRUNE_EVERY_S)


def build_behaviour(
    settings: Settings, store: ControlStore, index: VectorIndex, stage: LLMStage
) -> Behaviour:
    follower = ModelFollower(store, model_settings(settings))
    impressions = ImpressionLog(store)
    known = KnownItems(index)
    collector = EventCollector(
        store,
        known,
        impressions=impressions,
        on_stored=follower.nudge,
        retention=timedelta(days=settings.events_retention_days),
    )
    recommendations = RecommendationsService(
        index, store, follower, _LLMStep(stage), depth=stage.candidate_depth
    )
    return Behaviour(
        settings, store, collector, recommendations, Experiments(store, store), impressions, follower, known
    )
