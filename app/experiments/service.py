"""The experiments use case: create, list and stop A/B tests; assign a request to a variant; report.

Assignment reads the catalog's active experiments from a short cache (`cache_s`: a new or stopped
experiment reaches every replica within it) and hashes the request's unit (user or session id,
app/domain/experiments.py): no state is written per shopper. At most one active experiment per
catalog and route, so a request is in at most one experiment and the report's comparisons are not
confounded by another running on the same traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from app.domain.errors import AlreadyExists, InvalidRequest, NotFound
from app.domain.events import ShownBy
from app.domain.experiments import Assignment, Experiment, Unit, Variant, assign, validate_experiment
from app.domain.models import validate_catalog_name
from app.experiments.report import Report, build
from app.ports import ExperimentStore, ImpressionStore

MAX_ACTIVE = 20  # active experiments in all: each variant is a metrics label value


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Experiments:
    def __init__(
        self,
        experiments: ExperimentStore,
        impressions: ImpressionStore,
        *,
        cache_s: float = 10.0,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = experiments
        self._impressions = impressions
        self._cache_s = cache_s
        self._clock = clock
        self._monotonic = monotonic
        self._active: list[Experiment] = []
        self._loaded_at: float | None = None

    async def create(
        self, catalog: str, name: str, unit: Unit, variants: Sequence[Variant], routes: Sequence[ShownBy]
    ) -> Experiment:
        validate_catalog_name(catalog)
        experiment = validate_experiment(
            Experiment(catalog, name, unit, tuple(variants), tuple(dict.fromkeys(routes)), self._clock())
        )
        everything = await self._store.list_experiments()
        if any(e.catalog == catalog and e.name == name for e in everything):
            raise AlreadyExists(f"experiment {name!r} exists in catalog {catalog!r} (names are never reused)")
        active = [e for e in everything if e.active]
        if len(active) >= MAX_ACTIVE:
            raise InvalidRequest("name", f"{MAX_ACTIVE} experiments are running; stop one first")
        for e in active:
            clash = set(e.routes) & set(experiment.routes)
            if e.catalog == catalog and clash:
                raise AlreadyExists(
                    f"experiment {e.name!r} already runs on {sorted(clash)} in catalog {catalog!r}; stop it first"
                )
        await self._store.add_experiment(experiment)
        self._loaded_at = None
        return experiment

    async def stop(self, catalog: str, name: str) -> None:
        if not await self._store.stop_experiment(catalog, name, self._clock()):
            raise NotFound(f"experiment {name!r} does not exist in catalog {catalog!r}")
        self._loaded_at = None

    async def list_all(self, catalog: str | None = None) -> list[Experiment]:
        return await self._store.list_experiments(catalog)

    async def active(self) -> list[Experiment]:
        """Every running experiment, from a cache at most `cache_s` old."""
        now = self._monotonic()
        if self._loaded_at is None or now - self._loaded_at >= self._cache_s:
            self._active = [e for e in await self._store.list_experiments() if e.active]
            self._loaded_at = now
        return self._active

    async def assign(
        self, catalog: str, route: ShownBy, *, user_id: str | None, session_id: str | None
    ) -> Assignment | None:
        """The request's variant in the catalog's experiment on this route; None when there is
        none or the request does not carry the experiment's unit."""
        for e in await self.active():
            if e.catalog == catalog and route in e.routes:
                unit = user_id if e.unit == "user" else session_id
                return Assignment(e.name, assign(e.name, e.variants, unit)) if unit else None
        return None

    async def report(self, catalog: str, *, days: float = 14.0, name: str | None = None) -> Report:
        """Online metrics over the last `days`: by route and ranking, and per variant of `name`
        (or of every experiment the catalog has run)."""
        until = self._clock() + timedelta(seconds=1)
        since = until - timedelta(days=days)
        experiments = await self._store.list_experiments(catalog)
        if name is not None:
            experiments = [e for e in experiments if e.name == name]
            if not experiments:
                raise NotFound(f"experiment {name!r} does not exist in catalog {catalog!r}")
        counts = await self._impressions.impression_counts(catalog, since, until)
        attributed = await self._impressions.attributed_events(catalog, since, until)
        return build(counts, attributed, {e.name: [v.name for v in e.variants] for e in experiments})
