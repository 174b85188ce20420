"""A/B tests: assignment is deterministic and stable (same unit, same variant, on any instance and
after a restart), follows the weights, and is independent between experiments; experiments are
validated; the report's statistics (Wilson intervals, two-proportion z-test) and how impressions
and attributed events become per-variant rates."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from app.adapters.memory_store import MemoryControlStore
from app.domain.errors import AlreadyExists, InvalidRequest, NotFound
from app.domain.events import AttributedEvent, Event, Impression, ImpressionGroup
from app.domain.experiments import Experiment, Variant, assign, bucket, validate_experiment
from app.experiments.report import build, render
from app.experiments.service import Experiments
from app.experiments.stats import Rate, two_proportion_test, wilson

T0 = datetime(2026, 3, 1, tzinfo=UTC)
AB = (Variant("control", rerank="none"), Variant("llm", rerank="llm"))


def test_assignment_is_a_pure_function_of_experiment_and_unit() -> None:
    first = [assign("rerank-test", AB, f"user{n}").name for n in range(2000)]
    again = [assign("rerank-test", AB, f"user{n}").name for n in range(2000)]
    assert first == again  # stable: no state, the same on every replica and after restarts
    # pinned values: a change to the hash would silently re-shuffle running experiments
    assert [assign("rerank-test", AB, u).name for u in ("alice", "bob", "carol", "dave")] == [
        "llm",
        "control",
        "llm",
        "llm",
    ]
    assert 0.0 <= bucket("x", "y") < 1.0


def test_assignment_follows_the_weights_and_is_independent_between_experiments() -> None:
    weighted = (Variant("a", 1.0), Variant("b", 3.0))
    counts = Counter(assign("weights", weighted, f"u{n}").name for n in range(20_000))
    assert counts["b"] / 20_000 == pytest.approx(0.75, abs=0.015)
    one = [assign("first", AB, f"u{n}").name for n in range(4000)]
    two = [assign("second", AB, f"u{n}").name for n in range(4000)]
    both_llm = sum(1 for a, b in zip(one, two, strict=True) if a == b == "llm")
    assert both_llm / 4000 == pytest.approx(0.25, abs=0.03)  # no correlation between experiments


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"variants": (Variant("only"),)}, "variants"),
        ({"variants": (Variant("a"), Variant("a"))}, "variants"),
        ({"variants": (Variant("a"), Variant("B!"))}, "variants[1].name"),
        ({"variants": (Variant("a"), Variant("b", weight=0))}, "variants[1].weight"),
        ({"variants": (Variant("a"), Variant("b", blend=1.5))}, "variants[1].blend"),
        ({"variants": (Variant("a"), Variant("b", rerank="always"))}, "variants[1].rerank"),  # type: ignore[arg-type]
        ({"routes": ()}, "routes"),
        ({"routes": ("assistant",)}, "routes"),
    ],
)
def test_experiments_are_validated(changes: dict[str, object], field: str) -> None:
    import dataclasses

    base = Experiment("shop", "rerank-test", "user", AB, ("search",), T0)
    with pytest.raises(InvalidRequest) as raised:
        validate_experiment(dataclasses.replace(base, **changes))  # type: ignore[arg-type]
    assert raised.value.field == field


def test_wilson_interval_and_the_two_proportion_test() -> None:
    r = wilson(50, 1000)
    assert r.value == 0.05
    assert (round(r.low, 4), round(r.high, 4)) == (0.0381, 0.0653)  # textbook values
    assert wilson(0, 10).low == 0.0
    assert wilson(0, 0) == Rate(0, 0, 0.0, 1.0)
    same = two_proportion_test(wilson(50, 1000), wilson(52, 1000))
    assert not same.significant()
    better = two_proportion_test(wilson(50, 1000), wilson(90, 1000))
    assert better.z > 0
    assert better.significant()
    assert better.p_value == pytest.approx(0.000464, rel=0.05)
    assert two_proportion_test(wilson(0, 0), wilson(1, 2)).p_value == 1.0


def _impression(rid: str, variant: str, items: tuple[str, ...] = ("a", "b")) -> Impression:
    return Impression("shop", rid, "search", "vector", items, T0, "rr", variant)


def test_the_report_counts_each_impression_once_per_outcome_on_items_it_showed() -> None:
    r1, r2, r3 = _impression("r1", "control"), _impression("r2", "llm"), _impression("r3", "llm")
    counts = {
        ImpressionGroup("search", "vector", "rr", "control"): 2,
        ImpressionGroup("search", "vector", "rr", "llm"): 2,
        ImpressionGroup("similar", "llm", None, None): 5,
    }
    attributed = [
        AttributedEvent(r1, "click", "a"),
        AttributedEvent(r1, "click", "b"),  # a second click: still one clicked impression
        AttributedEvent(r1, "purchase", "zzz"),  # not shown by r1: not its conversion
        AttributedEvent(r2, "click", "a"),
        AttributedEvent(r2, "purchase", "a"),
        AttributedEvent(r3, "add_to_cart", "b"),
    ]
    report = build(counts, attributed, {"rr": ["control", "llm"]})
    routes = {row.label: row for row in report.by_route}
    assert set(routes) == {"search / vector", "similar / llm"}
    assert routes["search / vector"].impressions == 4
    assert routes["search / vector"].rates["click"].successes == 2
    control, llm = report.experiments["rr"]
    assert (control.label, control.impressions, control.rates["click"].value) == ("control", 2, 0.5)
    assert control.rates["purchase"].successes == 0
    assert (
        llm.rates["click"].successes,
        llm.rates["add_to_cart"].successes,
        llm.rates["purchase"].successes,
    ) == (
        1,
        1,
        1,
    )
    assert control.versus_control == {}
    assert set(llm.versus_control) == {"click", "add_to_cart", "purchase"}
    text = render(report)
    assert "experiment rr" in text
    assert "p = " in text


async def test_the_service_creates_assigns_and_reports() -> None:
    store = MemoryControlStore()
    clock = [T0]
    tick = [0.0]
    service = Experiments(store, store, cache_s=10, clock=lambda: clock[0], monotonic=lambda: tick[0])
    await service.create("shop", "rr", "session", AB, ["search", "similar"])
    with pytest.raises(AlreadyExists, match="search"):
        await service.create("shop", "other", "user", AB, ["search"])  # one experiment per route
    await service.create("shop", "recs", "user", AB, ["recommendations"])
    assert await service.assign("shop", "search", user_id="u1", session_id=None) is None  # no session id
    got = await service.assign("shop", "search", user_id=None, session_id="s1")
    assert got is not None
    assert got.experiment == "rr"
    assert got.variant == assign("rr", AB, "s1")
    assert await service.assign("outlet", "search", user_id="u", session_id="s") is None
    assert await service.assign("shop", "bundles", user_id="u", session_id="s") is None
    await service.stop("shop", "rr")
    assert await service.assign("shop", "search", user_id=None, session_id="s1") is None
    with pytest.raises(NotFound):
        await service.stop("shop", "nope")

    await store.record_impressions([_impression("q1", "control"), _impression("q2", "llm")])
    await store.append_events("shop", [Event("e1", "click", "a", "s", T0, request_id="q2")])
    report = await service.report("shop", name="rr")
    assert [row.label for row in report.experiments["rr"]] == ["control", "llm"]
    assert report.experiments["rr"][1].rates["click"].successes == 1
    with pytest.raises(NotFound):
        await service.report("shop", name="nope")
    clock[0] = T0 + timedelta(days=30)
    assert (await service.report("shop", days=14)).by_route == []  # outside the window


def test_assignment_cache_expires() -> None:
    store = MemoryControlStore()
    tick = [0.0]
    service = Experiments(store, store, cache_s=10, monotonic=lambda: tick[0])
    assert asyncio.run(service.assign("shop", "search", user_id="u", session_id=None)) is None
    asyncio.run(store.add_experiment(Experiment("shop", "late", "user", AB, ("search",), T0)))
    assert asyncio.run(service.assign("shop", "search", user_id="u", session_id=None)) is None  # cached
    tick[0] = 11.0
    assert asyncio.run(service.assign("shop", "search", user_id="u", session_id=None)) is not None
