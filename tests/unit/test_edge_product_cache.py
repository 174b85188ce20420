"""The Edge adapter's decoded-product cache: hits skip the fetch, writes invalidate, and a fill
that raced a write is not kept (app/adapters/edge_products.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.adapters.edge_products import PointKey, ProductCache


def payload(pid: str, title: str = "t") -> dict[str, Any]:
    return {"product_id": pid, "title": title, "content_hash": f"h-{pid}"}


class Store:
    def __init__(self) -> None:
        self.payloads: dict[PointKey, dict[str, Any]] = {1: payload("a"), 2: payload("b")}
        self.fetched: list[list[PointKey]] = []

    def fetch(self, ids: list[PointKey]) -> list[tuple[PointKey, Mapping[str, Any]]]:
        self.fetched.append(ids)
        return [(i, self.payloads[i]) for i in ids if i in self.payloads]


def titles(entries: list[Any]) -> list[str | None]:
    return [e[0].title if e is not None else None for e in entries]


def test_hits_are_served_without_fetching_and_misses_in_one_call() -> None:
    cache, store = ProductCache(), Store()
    first = cache.lookup("c", [1, 2], store.fetch)
    assert [(e[0].id, e[1]) for e in first if e] == [("a", "h-a"), ("b", "h-b")]
    cache.lookup("c", [2, 1], store.fetch)
    assert store.fetched == [[1, 2]]


def test_forget_makes_the_next_lookup_fetch_again_and_missing_ids_are_none() -> None:
    cache, store = ProductCache(), Store()
    cache.lookup("c", [1, 2], store.fetch)
    store.payloads[1] = payload("a", "renamed")
    del store.payloads[2]
    cache.forget("c", [1, 2])
    assert titles(cache.lookup("c", [1, 2], store.fetch)) == ["renamed", None]


def test_a_fill_that_raced_a_write_is_not_kept() -> None:
    cache, store = ProductCache(), Store()

    def racing(ids: list[PointKey]) -> list[tuple[PointKey, Mapping[str, Any]]]:
        rows = store.fetch(ids)  # read the old payload, then a write lands before the fill
        cache.forget("c", ids)
        return rows

    assert titles(cache.lookup("c", [1], racing)) == ["t"]  # this request still gets an answer
    cache.lookup("c", [1], store.fetch)
    assert store.fetched == [[1], [1]]  # but the possibly stale entry was not cached


def test_capacity_evicts_the_oldest_and_catalogs_are_separate() -> None:
    cache, store = ProductCache(capacity=2), Store()
    cache.lookup("c", [1], store.fetch)
    cache.lookup("other", [1], store.fetch)  # the same point id in another catalog: its own entry
    cache.lookup("c", [1], store.fetch)
    cache.lookup("c", [2], store.fetch)  # evicts c's 1, the oldest filled
    cache.lookup("other", [1], store.fetch)
    cache.lookup("c", [1], store.fetch)
    assert store.fetched == [[1], [1], [2], [1]]


def test_capacity_bounds_every_catalog_together() -> None:
    """The bound is the process's, not each catalog's: many catalogs do not multiply it."""
    cache, store = ProductCache(capacity=3), Store()
    for n in range(10):
        cache.lookup(f"catalog-{n}", [1, 2], store.fetch)
    assert len(cache) == 3
    cache.lookup("catalog-9", [1, 2], store.fetch)  # the newest stay
    assert len(store.fetched) == 10
    cache.lookup("catalog-0", [1], store.fetch)  # the oldest went
    assert len(store.fetched) == 11
    cache.forget("catalog-9")
    cache.forget("catalog-0", [1])
    assert len(cache) == 0
