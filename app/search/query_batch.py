"""Query embeddings of concurrent requests, batched into one embedder call (issue #19).

No added wait: a query arriving while no batch runs is embedded at once, alone; queries arriving
while `in_flight` batches run queue up and go together in the next one. Under load this halves the
embedder's CPU per query (ONNX int8 on the full-catalog queries: 1.37 ms alone, 0.69 ms in batches
of 8) and makes one worker-thread hop per batch instead of one per request (the hop was the
largest GIL-held cost left, docs/performance.md). The embedder releases the GIL, so a batch runs
beside the event loop on another core.

A caller that goes away (cancelled: client gone, deadline) only drops its own future; an embedder
error reaches every caller of that batch.
"""

from __future__ import annotations

import asyncio

import anyio.to_thread

from app.ports import Embedder

MAX_BATCH = 32


class QueryBatcher:
    def __init__(self, embedder: Embedder, *, in_flight: int = 1, max_batch: int = MAX_BATCH) -> None:
        self._embedder = embedder
        self._in_flight = in_flight
        self._max_batch = max_batch
        self._pending: list[tuple[str, asyncio.Future[list[float]]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while they run

    async def embed(self, text: str) -> list[float]:
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._running < self._in_flight:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[str, asyncio.Future[list[float]]]] = []
        try:
            while self._pending:
                batch = [(t, f) for t, f in self._pending[: self._max_batch] if not f.done()]
                del self._pending[: self._max_batch]
                if batch:
                    await self._run(batch)
        except BaseException:  # cancelled (shutdown): no caller may wait for ever
            for _, future in batch + self._pending:
                future.cancel()
            self._pending.clear()
            raise
        finally:
            self._running -= 1

    async def _run(self, batch: list[tuple[str, asyncio.Future[list[float]]]]) -> None:
        try:
            vectors = await anyio.to_thread.run_sync(self._embedder.embed, [t for t, _ in batch])
        except Exception as e:  # the embedder's error is every caller's in this batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(vector)
