"""Admission control over HTTP: past the in-flight limit and the queue, a fast 503 + Retry-After,
counted; probes are never queued; the gate itself hands slots on in order and survives clients
that leave while waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from litestar.testing import TestClient

from app.api.admission import Admission
from app.domain.models import Product
from app.main import Deps, create_app
from app.settings import Settings
from embeddings.ingest import ingest
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.e2e
SEARCH = ("/v1/catalogs/shop/search", {"query": "speaker"})


class GatedEmbedder(HashingEmbedder):
    """Holds every embed call until the test opens the gate: requests stay in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.entered.release()
        self.gate.wait(10)
        return super().embed(texts)


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@contextmanager
def served(embedder: HashingEmbedder, **limits: int) -> Iterator[TestClient]:  # type: ignore[type-arg]
    index = InMemoryVectorIndex()
    asyncio.run(ingest([Product(id="a", title="speaker")], "shop", HashingEmbedder(), index, model_id="m"))
    with TestClient(create_app(Settings(**limits), Deps(embedder, index))) as client:  # type: ignore[arg-type]
        yield client


def test_beyond_in_flight_and_queue_requests_get_a_fast_503_and_probes_still_answer() -> None:
    embedder = GatedEmbedder()
    with (
        served(embedder, max_in_flight=1, max_queue=1, queue_timeout_ms=10_000) as client,
        ThreadPoolExecutor(2) as pool,  # the test client's calls block: concurrent ones need threads
    ):
        first = pool.submit(client.post, SEARCH[0], json=SEARCH[1])
        until(lambda: embedder.entered.acquire(blocking=False))
        second = pool.submit(client.post, SEARCH[0], json=SEARCH[1])  # waits in the queue
        until(lambda: "aisle_http_queued 1.0" in client.get("/metrics").text)

        refused = client.post(SEARCH[0], json=SEARCH[1])
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "overloaded"
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        assert client.get("/healthz").status_code == 200  # not queued behind the load
        assert client.get("/readyz").status_code == 200
        text = client.get("/metrics").text
        assert 'aisle_http_rejected_total{reason="queue_full"} 1.0' in text
        assert "aisle_http_in_flight 1.0" in text

        embedder.gate.set()
        assert first.result().status_code == 200
        assert second.result().status_code == 200


def test_a_request_queued_past_the_timeout_is_refused() -> None:
    embedder = GatedEmbedder()
    with (
        served(embedder, max_in_flight=1, max_queue=5, queue_timeout_ms=50) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(client.post, SEARCH[0], json=SEARCH[1])
        until(lambda: embedder.entered.acquire(blocking=False))
        late = client.post(SEARCH[0], json=SEARCH[1])
        assert late.status_code == 503
        assert 'aisle_http_rejected_total{reason="queue_timeout"} 1.0' in client.get("/metrics").text
        embedder.gate.set()
        assert first.result().status_code == 200


async def test_slots_pass_to_waiters_in_order_and_a_leaving_waiter_frees_its_place() -> None:
    gate = Admission(limit=1, queue=3, timeout_s=5.0)
    assert await gate.acquire() is None
    order: list[str] = []

    async def wait(name: str) -> None:
        assert await gate.acquire() is None
        order.append(name)

    a = asyncio.create_task(wait("a"))
    b = asyncio.create_task(wait("b"))
    leaver = asyncio.create_task(wait("leaver"))
    await asyncio.sleep(0.01)
    assert gate.queued == 3
    assert await gate.acquire() == "queue_full"
    leaver.cancel()
    await asyncio.sleep(0.01)
    assert gate.queued == 2
    gate.release()
    await a
    gate.release()
    await b
    gate.release()
    assert order == ["a", "b"]
    assert gate.active == 0
    assert gate.queued == 0


async def _thread_tokens() -> float:
    import anyio.to_thread

    return anyio.to_thread.current_default_thread_limiter().total_tokens


def test_blocking_work_runs_on_a_bounded_number_of_threads() -> None:
    """anyio's default 40 threads of CPU-bound embedding on a few cores starved the event loop,
    which delivers deadlines: the LLM stage overran its 2 s budget under load."""
    with served(HashingEmbedder(), worker_threads=3) as client, client.portal() as portal:
        assert portal.call(_thread_tokens) == 3


class WriteGatedEmbedder(GatedEmbedder):
    """Holds only the embedding of products titled "slow ...": catalog writes stay in flight while
    searches embed at once."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if any("slow" in text for text in texts):
            return super().embed(texts)
        return HashingEmbedder.embed(self, texts)


def test_catalog_writes_have_their_own_pool_so_searches_are_not_refused() -> None:
    embedder = WriteGatedEmbedder()
    limits = {"max_in_flight": 1, "max_queue": 0, "max_writes_in_flight": 1, "max_write_queue": 0}
    upsert = ("/v1/catalogs/shop/products", [{"id": "w1", "title": "slow widget"}])
    with served(embedder, **limits) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, upsert[0], json=upsert[1])
        until(lambda: embedder.entered.acquire(blocking=False))  # the write holds its slot

        for _ in range(3):  # the query pool's one slot is free: the write does not hold it
            assert client.post(SEARCH[0], json=SEARCH[1]).status_code == 200
        refused = client.post(upsert[0], json=[{"id": "w2", "title": "slow gadget"}])
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "overloaded"
        text = client.get("/metrics").text
        assert 'aisle_http_rejected_total{reason="write_queue_full"} 1.0' in text
        assert 'aisle_http_rejected_total{reason="queue_full"} 0.0' in text
        assert "aisle_http_write_in_flight 1.0" in text

        embedder.gate.set()
        assert first.result().status_code == 200
        assert client.post(upsert[0], json=[{"id": "w2", "title": "slow gadget"}]).status_code == 200
        assert "aisle_http_write_in_flight 0.0" in client.get("/metrics").text
