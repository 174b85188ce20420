"""Admission control: at most `limit` requests handled at once per worker, at most `queue` more
waiting (each for at most `timeout_s`); anything beyond is answered at once with 503 and
`Retry-After`, and counted (`aisle_http_rejected_total{reason}`).

Without it every request that arrives is started: at 200 concurrent clients the worker's threads
and event loop were shared 200 ways, p99 reached 9-14 s and the LLM stage overran its deadline
(cancellation is delivered by the same starved loop). Bounding the work in progress keeps the
admitted requests' latency, and a fast 503 tells a load balancer or client to go elsewhere.

Routes whose handler says `opt={"admission": False}` (health, readiness, metrics) bypass it: a
probe must not be refused, or queued behind the very load it should report on.

Routes whose handler says `opt={"admission": "write"}` (the catalog writes) take their slot from a
second, smaller pool: a bulk upsert holds its slot for as long as it waits for the write-embedding
thread (20-110 s per 1,000 rows), so sharing one pool, a handful of concurrent writes made every
search a 503. Writes refused by their own pool are counted as `write_queue_full` /
`write_queue_timeout`; searches keep their pool whatever the writes do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from app.api.dto import ErrorBody
from app.observability.metrics import Metrics

RETRY_AFTER_S = 1


class Admission:
    """A FIFO gate: `acquire` returns None once the caller holds a slot, or why it was refused;
    whoever holds a slot calls `release` exactly once (a freed slot passes straight to the oldest
    waiter)."""

    def __init__(
        self,
        limit: int,
        queue: int,
        timeout_s: float,
        on_change: Callable[[int, int], None] | None = None,
    ) -> None:
        self._limit = limit
        self._queue = queue
        self._timeout_s = timeout_s
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_change = on_change or (lambda _active, _queued: None)

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> str | None:
        try:
            return await self._acquire()
        finally:
            self._on_change(self.active, len(self._waiters))

    async def _acquire(self) -> str | None:
        if self.active < self._limit and not self._waiters:
            self.active += 1
            return None
        if len(self._waiters) >= self._queue:
            return "queue_full"
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        self._on_change(self.active, len(self._waiters))
        try:
            async with asyncio.timeout(self._timeout_s):
                await slot
            return None
        except TimeoutError:
            if self._abandon(slot):
                return None  # handed a slot in the same instant: keep it
            return "queue_timeout"
        except asyncio.CancelledError:  # the client left while waiting
            if self._abandon(slot):
                self.release()
            raise

    def _abandon(self, slot: asyncio.Future[None]) -> bool:
        """Leave the queue; True when a slot was already handed to this waiter."""
        if slot.done() and not slot.cancelled():
            return True
        slot.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(slot)
        return False

    def release(self) -> None:
        while self._waiters:
            slot = self._waiters.popleft()
            if not slot.done():
                slot.set_result(None)  # the slot moves on; `active` is unchanged
                self._on_change(self.active, len(self._waiters))
                return
        self.active -= 1
        self._on_change(self.active, len(self._waiters))


WRITE = "write"  # opt={"admission": WRITE}: the route's slot comes from the write pool


def _admission_class(scope: Scope) -> object:
    """The handler's `opt["admission"]`: False (exempt), WRITE, or None (the query pool)."""
    handler = scope.get("route_handler")
    return None if handler is None else handler.opt.get("admission")


async def _reject(send: Send, reason: str) -> None:
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    structlog.contextvars.bind_contextvars(error="overloaded", rejected=reason)
    body = msgspec.json.encode(
        ErrorBody(
            error="overloaded",
            message=f"server is at capacity ({reason}); retry after {RETRY_AFTER_S} s",
            request_id=str(request_id) if request_id else None,
        )
    )
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
        ],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def gauges(metrics: Metrics, pool: str | None = None) -> Callable[[int, int], None]:
    """The in-flight and queued gauges of the query pool, or (pool=WRITE) of the write pool."""
    in_flight, queued_gauge = (
        (metrics.http_write_in_flight, metrics.http_write_queued)
        if pool == WRITE
        else (metrics.http_in_flight, metrics.http_queued)
    )

    def update(active: int, queued: int) -> None:
        in_flight.set(active)
        queued_gauge.set(queued)

    return update


def admission_middleware(
    gate: Admission, metrics: Metrics, writes: Admission | None = None
) -> Callable[[ASGIApp], ASGIApp]:
    """`gate` admits every route but the exempt ones and, when `writes` is given, the write-class
    routes, which it admits instead."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            kind = _admission_class(scope) if scope["type"] == ScopeType.HTTP else False
            if kind is False:
                await app(scope, receive, send)
                return
            pool, prefix = (writes, f"{WRITE}_") if kind == WRITE and writes is not None else (gate, "")
            refused = await pool.acquire()
            if refused is not None:
                metrics.observe_rejected(prefix + refused)
                await _reject(send, prefix + refused)
                return
            try:
                await app(scope, receive, send)
            finally:
                pool.release()

        return middleware

    return factory
