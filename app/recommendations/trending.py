"""Trending: decayed popularity per catalog and per category.

Every event adds its type's weight (a purchase says more than a view) times its forward-decay
weight to the item's score, and to the item's score within its category when the event carried
one. Read at `now`, with a short half-life (a day by default) this is "what shoppers are engaging
with lately"; with a long one it tends to plain popularity.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.domain.events import EventType
from app.recommendations.decay import ForwardDecay

DEFAULT_WEIGHTS: Mapping[str, float] = {"view": 1.0, "click": 1.0, "add_to_cart": 3.0, "purchase": 5.0}


@dataclass(frozen=True, slots=True)
class TrendingSettings:
    half_life_s: float = 86400.0
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


class Trending:
    def __init__(self, settings: TrendingSettings = TrendingSettings(), origin: float = 0.0) -> None:
        self.settings = settings
        self._decay = ForwardDecay(settings.half_life_s, origin)
        self._scores: dict[str, float] = {}
        self._by_category: dict[str, dict[str, float]] = {}

    def add(self, item: str, type_: EventType, at: float, category: str | None = None) -> None:
        if self._decay.needs_rebase(at):
            self._rescale(self._decay.rebase(at))
        w = self._decay.weight(at)
        w *= self.settings.weights.get(type_, 1.0)
        self._scores[item] = self._scores.get(item, 0.0) + w
        if category:
            scores = self._by_category.setdefault(category, {})
            scores[item] = scores.get(item, 0.0) + w

    def _rescale(self, factor: float) -> None:
        for scores in (self._scores, *self._by_category.values()):
            for key in list(scores):
                scores[key] *= factor
                if scores[key] < 1e-12:
                    del scores[key]  # decayed to nothing: forget it

    def top(
        self, now: float, limit: int, categories: Iterable[str] = (), exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The `limit` highest scores read at `now`, in the given categories (keys) or overall."""
        wanted = list(categories)
        if wanted:
            pool: dict[str, float] = {}
            for c in wanted:
                pool.update(self._by_category.get(c, {}))
        else:
            pool = self._scores
        skip = set(exclude)
        factor = self._decay.factor(now)
        best = heapq.nlargest(
            limit, ((k, v) for k, v in pool.items() if k not in skip), key=lambda kv: (kv[1], kv[0])
        )
        return [(k, v * factor) for k, v in best]

    def __len__(self) -> int:
        return len(self._scores)
