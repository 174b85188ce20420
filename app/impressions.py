"""What responses showed, recorded for attribution (shared by the edge, which records, the event
collection, which attributes, and the experiments report, which reads the store).

Recording must not slow a search down: `record` only appends to a buffer and to a bounded map of
recent impressions (so an event arriving at this process moments later is attributed without a
store read); `flush`, called every `AISLE_IMPRESSIONS_FLUSH_MS` and at shutdown, writes the buffer
in one transaction. The price: a crash loses up to one interval of impressions (never an
acknowledged event). If the store is down the buffer is kept, up to `max_buffer`, then the oldest
are dropped and counted (`dropped`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import anyio
import structlog

from app.domain.errors import AisleError
from app.domain.events import Impression
from app.ports import ImpressionStore

log = structlog.get_logger("aisle.events")


class ImpressionLog:
    def __init__(self, store: ImpressionStore, *, max_buffer: int = 50_000, recent: int = 100_000) -> None:
        self._store = store
        self._max_buffer = max_buffer
        self._recent_cap = recent
        self._buffer: list[Impression] = []
        self._recent: OrderedDict[tuple[str, str], Impression] = OrderedDict()
        self._flushing = anyio.Lock()
        self.dropped = 0

    def record(self, impression: Impression) -> None:
        key = (impression.catalog, impression.request_id)
        if key in self._recent:
            return  # the first record stays (a client re-sent its X-Request-ID)
        self._recent[key] = impression
        if len(self._recent) > self._recent_cap:
            self._recent.popitem(last=False)
        self._buffer.append(impression)
        if len(self._buffer) > self._max_buffer:
            excess = len(self._buffer) - self._max_buffer
            del self._buffer[:excess]
            self.dropped += excess

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def flush(self) -> int:
        """Writes what is buffered; how many. A store failure keeps them for the next flush."""
        async with self._flushing:
            batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                await self._store.record_impressions(batch)
            except AisleError as e:
                self._buffer = batch + self._buffer
                log.warning("impressions_flush_failed", error=str(e), pending=len(self._buffer))
                return 0
            return len(batch)

    async def run(self, interval_s: float) -> None:
        while True:
            await anyio.sleep(interval_s)
            await self.flush()

    async def lookup(self, catalog: str, request_ids: Sequence[str]) -> dict[str, Impression]:
        """The impressions of these request ids: this process's recent ones, then the store's."""
        found: dict[str, Impression] = {}
        missing = []
        for rid in dict.fromkeys(request_ids):
            hit = self._recent.get((catalog, rid))
            if hit is not None:
                found[rid] = hit
            else:
                missing.append(rid)
        if missing:
            for i in await self._store.get_impressions(catalog, missing):
                found[i.request_id] = i
        return found
