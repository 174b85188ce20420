"""Keeps every catalog's behavioural model in step with the event store: models that update as
events arrive (docs/events.md says why incremental, not a scheduled training job).

Each process tails the store's append order (`events_after(seq)`) and feeds new events to its
models: every replica reads the same shared log, so every replica converges on the same models,
whichever replica received an event. A process nudges its own follower after it commits a batch,
so its models see the batch within milliseconds; other replicas see it within
`AISLE_EVENTS_REFRESH_MS`. On start the follower replays what the store retains.

A catalog deleted through this process is forgotten (`catalog_changed`): the store deletes its
events with it, so neither a catch-up nor a replay brings its model back, and a catalog recreated
under the name starts with no behaviour. Other replicas drop theirs at their next restart.

Models are plain Python objects guarded by one lock: applying events and answering queries both
run in worker threads, so neither ever blocks the event loop, and a query never sees a half-applied
event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio
import anyio.to_thread
import structlog

from app.domain.catalog_changes import CatalogChange
from app.domain.errors import AisleError
from app.domain.events import StoredEvent
from app.ports import EventStore
from app.recommendations.model import BehaviourModel, ModelSettings

T = TypeVar("T")
log = structlog.get_logger("aisle.events")
CHUNK = 2000  # events read per store call
LOCK_CHUNK = 250  # events applied per hold of the models' lock


class ModelFollower:
    def __init__(self, store: EventStore, settings: ModelSettings | None = None) -> None:
        self._store = store
        self._settings = settings or ModelSettings()
        self._models: dict[str, BehaviourModel] = {}
        self._lock = threading.Lock()
        self._catching_up = anyio.Lock()
        self._wake = anyio.Event()
        self.seq = 0  # the last event applied

    def nudge(self) -> None:
        """Something was committed: catch up now rather than at the next interval."""
        self._wake.set()

    def _apply(self, batch: Sequence[StoredEvent]) -> None:
        for start in range(0, len(batch), LOCK_CHUNK):  # queries wait for one slice, not a replay
            with self._lock:
                for stored in batch[start : start + LOCK_CHUNK]:
                    model = self._models.get(stored.catalog)
                    if model is None:
                        model = self._models[stored.catalog] = BehaviourModel(self._settings)
                    try:
                        model.add(stored.event)
                    except Exception:  # a bug must not stop the models at this event forever: skip it
                        log.exception("model_update_failed", seq=stored.seq, catalog=stored.catalog)
                    self.seq = stored.seq

    async def catch_up(self) -> int:
        """Applies every event committed since the last call; how many."""
        applied = 0
        async with self._catching_up:
            while True:
                batch = await self._store.events_after(self.seq, CHUNK)
                if batch:
                    await anyio.to_thread.run_sync(self._apply, batch)
                    applied += len(batch)
                if len(batch) < CHUNK:
                    return applied

    async def run(self, interval_s: float, min_gap_s: float = 0.05) -> None:
        """Forever (until cancelled): catch up, then wait for a nudge or the interval."""
        start = time.perf_counter()
        replayed = await self._catch_up_logged()
        log.info("models_replayed", events=replayed, seconds=round(time.perf_counter() - start, 3))
        while True:
            with anyio.move_on_after(interval_s):
                await self._wake.wait()
            self._wake = anyio.Event()
            await anyio.sleep(min_gap_s)  # let a burst of batches land: one catch-up for all of them
            await self._catch_up_logged()

    async def _catch_up_logged(self) -> int:
        try:
            return await self.catch_up()
        except AisleError as e:  # the store is down: the models stay as they are, retried later
            log.warning("models_catch_up_failed", error=str(e))
            return 0

    async def catalog_changed(self, change: CatalogChange) -> None:
        """A `CatalogListener`: a catalog created or dropped has no model. Waits for a catch-up
        under way (it may hold events read before the store deleted them)."""
        if not change.catalog_replaced:
            return
        async with self._catching_up:
            await anyio.to_thread.run_sync(self._forget, change.catalog)

    def _forget(self, catalog: str) -> None:
        with self._lock:
            self._models.pop(catalog, None)

    async def read(self, catalog: str, query: Callable[[BehaviourModel], T]) -> T | None:
        """`query` on the catalog's model, under the lock, in a worker thread; None without one."""

        def locked() -> T | None:
            with self._lock:
                model = self._models.get(catalog)
                return None if model is None else query(model)

        return await anyio.to_thread.run_sync(locked)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {catalog: m.events for catalog, m in self._models.items()}
