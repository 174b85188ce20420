"""The event, impression and experiment part of `MemoryControlStore` (tests, the eval runner):
the same contract as the SQL tables (tests/integration/test_event_store_contract.py)."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from datetime import datetime

from app.domain.errors import AlreadyExists
from app.domain.events import AttributedEvent, Event, Impression, ImpressionGroup, StoredEvent
from app.domain.experiments import Experiment


class MemoryEventTables:
    def __init__(self) -> None:
        self._events: list[StoredEvent] = []
        self._event_ids: set[tuple[str, str]] = set()
        self._seq = 0
        self._impressions: dict[tuple[str, str], Impression] = {}
        self._experiments: dict[tuple[str, str], Experiment] = {}

    async def append_events(self, catalog: str, events: Sequence[Event]) -> int:
        stored = 0
        for e in events:
            if (catalog, e.event_id) in self._event_ids:
                continue
            self._event_ids.add((catalog, e.event_id))
            self._seq += 1
            self._events.append(StoredEvent(self._seq, catalog, e))
            stored += 1
        return stored

    async def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        start = bisect.bisect_right(self._events, seq, key=lambda s: s.seq)  # kept in seq order
        return self._events[start : start + limit]

    async def recent_events(
        self, catalog: str, *, session_id: str | None = None, user_id: str | None = None, limit: int = 50
    ) -> list[StoredEvent]:
        if session_id is not None:
            mine = [s for s in self._events if s.catalog == catalog and s.event.session_id == session_id]
        elif user_id is not None:
            mine = [s for s in self._events if s.catalog == catalog and s.event.user_id == user_id]
        else:
            return []
        mine.sort(key=lambda s: (s.event.at, s.seq))
        return mine[-limit:] if limit > 0 else []

    async def prune_events(self, before: datetime) -> int:
        kept = [s for s in self._events if s.event.at >= before]
        pruned = len(self._events) - len(kept)
        self._events = kept
        self._event_ids = {(s.catalog, s.event.event_id) for s in kept}
        return pruned

    def _forget_catalog(self, catalog: str) -> None:
        """The catalog's events, impressions and experiments (`delete_catalog`)."""
        self._events = [s for s in self._events if s.catalog != catalog]
        self._event_ids = {k for k in self._event_ids if k[0] != catalog}
        self._impressions = {k: i for k, i in self._impressions.items() if k[0] != catalog}
        self._experiments = {k: e for k, e in self._experiments.items() if k[0] != catalog}

    async def record_impressions(self, impressions: Sequence[Impression]) -> None:
        for i in impressions:
            self._impressions.setdefault((i.catalog, i.request_id), i)

    async def get_impressions(self, catalog: str, request_ids: Sequence[str]) -> list[Impression]:
        found = (self._impressions.get((catalog, r)) for r in dict.fromkeys(request_ids))
        return [i for i in found if i is not None]

    def _shown(self, catalog: str, since: datetime, until: datetime) -> list[Impression]:
        return [i for i in self._impressions.values() if i.catalog == catalog and since <= i.at < until]

    async def impression_counts(
        self, catalog: str, since: datetime, until: datetime
    ) -> dict[ImpressionGroup, int]:
        counts: dict[ImpressionGroup, int] = {}
        for i in self._shown(catalog, since, until):
            group = ImpressionGroup(i.shown_by, i.ranking, i.experiment, i.variant)
            counts[group] = counts.get(group, 0) + 1
        return counts

    async def attributed_events(
        self, catalog: str, since: datetime, until: datetime
    ) -> list[AttributedEvent]:
        shown = {i.request_id: i for i in self._shown(catalog, since, until)}
        out = [
            AttributedEvent(shown[s.event.request_id], s.event.type, s.event.item_id)
            for s in self._events
            if s.catalog == catalog and s.event.request_id in shown
        ]
        return sorted(out, key=lambda a: a.impression.at)  # stable: events in seq order

    async def prune_impressions(self, before: datetime) -> int:
        old = [k for k, i in self._impressions.items() if i.at < before]
        for k in old:
            del self._impressions[k]
        return len(old)

    async def add_experiment(self, experiment: Experiment) -> None:
        key = (experiment.catalog, experiment.name)
        if key in self._experiments:
            raise AlreadyExists(f"experiment {experiment.name!r} exists in catalog {experiment.catalog!r}")
        self._experiments[key] = experiment

    async def list_experiments(self, catalog: str | None = None) -> list[Experiment]:
        found = [e for e in self._experiments.values() if catalog is None or e.catalog == catalog]
        return sorted(found, key=lambda e: (e.catalog, e.created_at, e.name))

    async def stop_experiment(self, catalog: str, name: str, at: datetime) -> bool:
        e = self._experiments.get((catalog, name))
        if e is None:
            return False
        if e.stopped_at is None:
            self._experiments[(catalog, name)] = dataclasses.replace(e, stopped_at=at)
        return True
