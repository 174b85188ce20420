"""Concurrent query embeddings go to the embedder together, each caller gets its own vector, and
neither a failing embedder nor a caller that leaves strands anyone (app/search/query_batch.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from app.domain.errors import EmbedderUnavailable
from app.search.query_batch import QueryBatcher
from tests.fakes import HashingEmbedder


class GatedEmbedder(HashingEmbedder):
    """Records each call's texts; the first call waits for `release` so others queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.fail = False

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        if len(self.batches) == 1:
            self.release.wait(5)
        if self.fail:
            raise EmbedderUnavailable("boom")
        return super().embed(texts)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_lone_query_is_embedded_at_once_and_matches_the_embedder() -> None:
    embedder = HashingEmbedder()
    assert await QueryBatcher(embedder).embed("usb cable") == embedder.embed(["usb cable"])[0]


async def test_queries_arriving_during_a_batch_go_together_in_the_next_one() -> None:
    embedder = GatedEmbedder()
    batcher = QueryBatcher(embedder)
    first = asyncio.create_task(batcher.embed("first"))
    await settle()
    rest = [asyncio.create_task(batcher.embed(t)) for t in ("a b", "b c", "c d")]
    await settle()
    embedder.release.set()
    vectors = await asyncio.gather(first, *rest)
    assert embedder.batches == [["first"], ["a b", "b c", "c d"]]
    assert vectors == HashingEmbedder().embed(["first", "a b", "b c", "c d"])


async def test_an_embedder_error_reaches_every_caller_of_the_batch() -> None:
    embedder = GatedEmbedder()
    embedder.fail = True
    batcher = QueryBatcher(embedder)
    first = asyncio.create_task(batcher.embed("first"))
    await settle()
    second = asyncio.create_task(batcher.embed("second"))
    embedder.release.set()
    for task in (first, second):
        with pytest.raises(EmbedderUnavailable):
            await task
    embedder.fail = False
    assert await batcher.embed("again")  # the batcher still works afterwards


async def test_a_caller_that_leaves_does_not_cost_the_others() -> None:
    embedder = GatedEmbedder()
    batcher = QueryBatcher(embedder)
    first = asyncio.create_task(batcher.embed("first"))
    await settle()
    leaving = asyncio.create_task(batcher.embed("leaving"))
    staying = asyncio.create_task(batcher.embed("staying"))
    await settle()
    leaving.cancel()
    embedder.release.set()
    await first
    assert await staying == HashingEmbedder().embed(["staying"])[0]
    assert embedder.batches == [["first"], ["staying"]]
