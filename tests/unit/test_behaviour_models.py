"""The behavioural models as pure functions: forward decay, co-occurrence (support, cosine, lift,
decay, bounds), trending (per category, decay), V-SKNN, and how behaviour and content blend."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.events import Event
from app.recommendations.blend import Candidate, blend, evidence_weight, fill, source_of_items
from app.recommendations.cooccurrence import CoOccurrence, CoOccurrenceSettings
from app.recommendations.decay import ForwardDecay
from app.recommendations.model import BehaviourModel
from app.recommendations.sknn import SessionKNN, SessionKNNSettings
from app.recommendations.trending import Trending, TrendingSettings

DAY = 86400.0
NOW = 1_767_225_600.0  # 2026-01-01: real epoch times, far from the origin 0


def test_forward_decay_halves_per_half_life_and_rebases_without_changing_readings() -> None:
    decay = ForwardDecay(DAY, NOW)
    total = decay.weight(NOW) + decay.weight(NOW - DAY)  # 1 now, 1 a day ago
    assert total * decay.factor(NOW) == pytest.approx(1.5)
    assert total * decay.factor(NOW + DAY) == pytest.approx(0.75)
    far = NOW + 100 * DAY
    assert decay.needs_rebase(far)
    scale = decay.rebase(far)
    assert total * scale * decay.factor(far) == pytest.approx(1.5 * 2.0**-100)
    assert not decay.needs_rebase(far)
    with pytest.raises(ValueError, match="positive"):
        ForwardDecay(0, NOW)


def test_weights_never_overflow_from_the_epoch_origin() -> None:
    c = CoOccurrence(CoOccurrenceSettings(half_life_s=3600.0, min_support=1.0))
    t = Trending(TrendingSettings(half_life_s=60.0))
    for n in range(3):
        c.add("b", f"i{n}", NOW + n)
        t.add(f"i{n}", "view", NOW + n)
        t.add(f"i{n}", "view", NOW + 365 * DAY)  # a year later: rebases again
    assert [n.item_id for n in c.neighbours(["i0"], NOW, 10)] == ["i2", "i1"]  # the later pair weighs more
    assert all(math.isfinite(s) for _, s in t.top(NOW + 365 * DAY, 3))


def test_cooccurrence_needs_support_and_normalises_by_cosine() -> None:
    c = CoOccurrence(CoOccurrenceSettings(min_support=2.0))
    # camera+bag in 3 baskets; camera+card in 1; bag is in 2 more baskets with other things
    for b in range(3):
        c.add(f"o{b}", "camera", NOW)
        c.add(f"o{b}", "bag", NOW)
    c.add("o9", "camera", NOW)
    c.add("o9", "card", NOW)
    for b in range(2):
        c.add(f"x{b}", "bag", NOW)
        c.add(f"x{b}", "strap", NOW)
    found = c.neighbours(["camera"], NOW, 10)
    assert [n.item_id for n in found] == ["bag"]  # card: 1 basket < min support 2
    assert found[0].support == pytest.approx(3.0)
    assert found[0].score == pytest.approx(3 / math.sqrt(4 * 5))  # camera in 4 baskets, bag in 5
    c.add("o0", "bag", NOW)  # an item counts once per basket
    assert c.neighbours(["camera"], NOW, 10)[0].support == pytest.approx(3.0)
    assert c.neighbours(["camera"], NOW, 10, exclude=["bag"]) == []
    assert c.neighbours(["unknown"], NOW, 10) == []


def test_lift_favours_the_specific_partner_over_the_popular_one() -> None:
    settings = CoOccurrenceSettings(min_support=1.0, measure="lift")
    c = CoOccurrence(settings)
    for b in range(20):  # "cable" is in every basket
        c.add(f"b{b}", "cable", NOW)
    for b in range(2):
        c.add(f"b{b}", "tripod", NOW)
        c.add(f"b{b}", "lens", NOW)
    ranked = [n.item_id for n in c.neighbours(["tripod"], NOW, 10)]
    assert ranked == ["lens", "cable"]


def test_old_cooccurrences_decay_below_the_minimum_support() -> None:
    c = CoOccurrence(CoOccurrenceSettings(half_life_s=DAY, min_support=1.5))
    for b in range(2):
        c.add(f"o{b}", "a", NOW)
        c.add(f"o{b}", "b", NOW)
    assert [n.item_id for n in c.neighbours(["a"], NOW, 5)] == ["b"]  # support 2
    assert c.neighbours(["a"], NOW + DAY, 5) == []  # support 1 a day later


def test_cooccurrence_memory_is_bounded() -> None:
    c = CoOccurrence(
        CoOccurrenceSettings(min_support=0.0, max_neighbours=5, max_baskets=10, max_basket_items=4)
    )
    for n in range(40):
        c.add("big", f"i{n}", NOW)  # one huge basket pairs only its newest items
    for b in range(50):
        c.add(f"b{b}", "x", NOW)
        c.add(f"b{b}", f"y{b}", NOW)
    assert len(c._baskets) <= 10
    assert all(len(row) <= 10 for row in c._pairs.values())  # pruned back to 5 when past 2 x 5
    assert len(c._baskets["b49"]) == 2


def test_trending_by_type_weight_decay_and_category() -> None:
    t = Trending(TrendingSettings(half_life_s=DAY))
    t.add("old-hit", "purchase", NOW - 5 * DAY, "shoes")  # 5 x 2^-5
    t.add("socks", "view", NOW, "socks")
    t.add("boots", "view", NOW, "shoes")
    t.add("boots", "add_to_cart", NOW, "shoes")
    top = t.top(NOW, 10)
    assert [i for i, _ in top] == ["boots", "socks", "old-hit"]
    assert top[0][1] == pytest.approx(4.0)
    assert [i for i, _ in t.top(NOW, 10, categories=["shoes"])] == ["boots", "old-hit"]
    assert [i for i, _ in t.top(NOW, 10, categories=["shoes"], exclude=["boots"])] == ["old-hit"]
    assert t.top(NOW, 10, categories=["hats"]) == []
    assert t.top(NOW + DAY, 1)[0][1] == pytest.approx(2.0)


def test_session_knn_votes_by_similar_recent_sessions() -> None:
    knn = SessionKNN(SessionKNNSettings(k=10, sample=100))
    for s in range(5):  # tent sessions go on to sleeping bags
        for item in ("tent", "stove", "sleeping-bag"):
            knn.add(f"camp{s}", item)
    for s in range(3):  # tent then socks, rarer
        for item in ("tent", "socks"):
            knn.add(f"odd{s}", item)
    scores = knn.recommend(["tent", "stove"], 5)
    assert [i for i, _ in scores.scores][:2] == ["sleeping-bag", "socks"]
    assert scores.neighbours == 8
    assert all(i not in ("tent", "stove") for i, _ in scores.scores)
    assert knn.recommend([], 5).scores == []
    assert knn.recommend(["never-seen"], 5).neighbours == 0


def test_session_knn_weighs_the_newest_item_most_and_skips_its_own_session() -> None:
    knn = SessionKNN()
    knn.add("a", "old")
    knn.add("a", "x")
    knn.add("b", "new")
    knn.add("b", "y")
    ranked = [i for i, _ in knn.recommend(["old", "new"], 5).scores]
    assert ranked == ["y", "x"]  # "new" is the query's most recent item
    knn.add("me", "old")
    knn.add("me", "mine")
    assert "mine" not in [i for i, _ in knn.recommend(["old"], 5, own="me").scores]


def test_session_knn_memory_is_bounded() -> None:
    knn = SessionKNN(SessionKNNSettings(max_sessions=3, max_session_items=2, sample=2))
    for s in range(10):
        for item in ("a", "b", "c"):
            knn.add(f"s{s}", item)
    assert len(knn) == 3
    assert all(len(v) <= 2 for v in knn._sessions.values())
    assert knn.recommend(["c"], 5).neighbours <= 2


def test_fill_puts_evidence_first_and_says_where_items_came_from() -> None:
    events = [("e1", 0.9), ("e2", 0.5)]
    content = [("e2", 0.99), ("c1", 0.98), ("c2", 0.97)]
    filled = fill(events, content, 3)
    assert [c.item_id for c in filled.ranked] == ["e1", "e2", "c1"]
    assert filled.source == "blend"
    assert fill(events, content, 2).source == "events"
    assert fill([], content, 2).source == "content"
    assert fill([], [], 2).ranked == []


def test_blend_weighs_behaviour_by_evidence() -> None:
    events = [("e1", 1.0), ("shared", 0.5)]
    content = [("c1", 1.0), ("shared", 0.9)]
    assert evidence_weight(0) == 0.0
    assert evidence_weight(10) == pytest.approx(0.5)
    assert evidence_weight(90) == pytest.approx(0.9)
    strong = blend(events, content, 0.95, 4)
    assert strong.ranked[0].item_id == "e1"
    weak = blend(events, content, 0.05, 4)
    assert weak.ranked[0].item_id == "c1"
    assert blend(events, content, 0.5, 4).ranked[0].item_id == "shared"  # both lists agree
    assert blend(events, content, 0.0, 4).source == "content"
    assert blend(events, content, 1.0, 4).source == "events"
    assert source_of_items([Candidate("a", 1, True), Candidate("b", 1, False)]) == "blend"


def test_the_model_routes_each_event_type() -> None:
    at = datetime.fromtimestamp(NOW, UTC)

    def e(n: int, kind: str, item: str, session: str, order: str | None = None) -> Event:
        return Event(f"e{n}", kind, item, session, at + timedelta(seconds=n), order_id=order, category="c")  # type: ignore[arg-type]

    m = BehaviourModel()
    for n, (kind, item, session, order) in enumerate(
        [
            ("view", "a", "s1", None),
            ("view", "b", "s1", None),
            ("view", "a", "s2", None),
            ("view", "b", "s2", None),
            ("purchase", "a", "s1", "o1"),
            ("purchase", "c", "s9", "o1"),  # same order, other session: still one basket
            ("add_to_cart", "d", "s1", None),
        ]
    ):
        m.add(e(n, kind, item, session, order))
    now = NOW + 60
    assert [n.item_id for n in m.viewed_with(["a"], now, 5)] == ["b"]
    assert [n.item_id for n in m.bought_with(["a"], now, 5)] == ["c"]
    assert {i for i, _ in m.trending.top(now, 10)} == {"a", "b", "c", "d"}
    assert m.categories == {"a": "c", "b": "c", "c": "c", "d": "c"}
    assert m.events == 7
