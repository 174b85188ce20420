"""Item-to-item co-occurrence, time-decayed and normalised: the model behind bought-together (items
in one order) and viewed-together (items in one session).

Counts are kept incrementally as events arrive: when item j joins basket b, every item k already in
b gets pair(j, k) += w (w: the event's forward-decay weight, decay.py), j's basket count += w. A
basket counts an item once. Scores are read at query time:

- cosine: pair(j, k) / sqrt(n(j) n(k)), the share of baskets two items have in common, which does
  not favour items merely because they are popular (the default);
- lift: pair(j, k) N / (n(j) n(k)), how much likelier k is in j's baskets than in any basket;
  strong for rare pairs, so it needs a higher minimum support.

A pair below `min_support` (decayed baskets that contain both, read now) is noise and never scored.
Memory is bounded: open baskets are an LRU of `max_baskets`, a basket pairs its newest
`max_basket_items`, and an item keeps its `max_neighbours` strongest pairs (pruned at twice that).
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from app.recommendations.decay import ForwardDecay

Measure = Literal["cosine", "lift"]


@dataclass(frozen=True, slots=True)
class CoOccurrenceSettings:
    half_life_s: float = 30 * 86400.0
    min_support: float = 2.0
    measure: Measure = "cosine"
    max_basket_items: int = 30
    max_neighbours: int = 200
    max_baskets: int = 200_000


@dataclass(frozen=True, slots=True)
class Neighbour:
    item_id: str
    score: float
    support: float  # decayed baskets holding both, read now (summed over the query items)


class CoOccurrence:
    def __init__(self, settings: CoOccurrenceSettings = CoOccurrenceSettings(), origin: float = 0.0) -> None:
        self.settings = settings
        self._decay = ForwardDecay(settings.half_life_s, origin)
        self._baskets: OrderedDict[str, list[str]] = OrderedDict()
        self._pairs: dict[str, dict[str, float]] = {}
        self._items: dict[str, float] = {}
        self._total = 0.0  # decayed number of baskets

    @property
    def items(self) -> int:
        return len(self._items)

    def add(self, basket: str, item: str, at: float) -> None:
        if self._decay.needs_rebase(at):
            self._rescale(self._decay.rebase(at))
        w = self._decay.weight(at)
        members = self._baskets.get(basket)
        if members is None:
            members = self._baskets[basket] = []
            self._total += w
            if len(self._baskets) > self.settings.max_baskets:
                self._baskets.popitem(last=False)
        else:
            self._baskets.move_to_end(basket)
        if item in members:
            return
        self._items[item] = self._items.get(item, 0.0) + w
        for other in members[-self.settings.max_basket_items :]:
            self._bump(item, other, w)
            self._bump(other, item, w)
        members.append(item)
        if len(members) > self.settings.max_basket_items * 2:
            del members[: -self.settings.max_basket_items]

    def _bump(self, a: str, b: str, w: float) -> None:
        row = self._pairs.get(a)
        if row is None:
            row = self._pairs[a] = {}
        row[b] = row.get(b, 0.0) + w
        cap = self.settings.max_neighbours
        if len(row) > 2 * cap:
            self._pairs[a] = dict(heapq.nlargest(cap, row.items(), key=lambda kv: kv[1]))

    def _rescale(self, factor: float) -> None:
        self._total *= factor
        for key in self._items:
            self._items[key] *= factor
        for row in self._pairs.values():
            for key in row:
                row[key] *= factor

    def _score(self, pair: float, a: float, b: float) -> float:
        if a <= 0 or b <= 0:
            return 0.0
        if self.settings.measure == "lift":
            return pair * self._total / (a * b)
        return pair / math.sqrt(a * b)

    def neighbours(
        self, items: Sequence[str], now: float, limit: int, exclude: Iterable[str] = ()
    ) -> list[Neighbour]:
        """The items that co-occur with `items`, best first: scores summed over the query items."""
        factor = self._decay.factor(now)
        skip = set(items) | set(exclude)
        scores: dict[str, float] = {}
        support: dict[str, float] = {}
        for q in dict.fromkeys(items):
            row = self._pairs.get(q)
            if not row:
                continue
            nq = self._items.get(q, 0.0)
            for k, pair in row.items():
                if k in skip or pair * factor < self.settings.min_support:
                    continue
                scores[k] = scores.get(k, 0.0) + self._score(pair, nq, self._items.get(k, 0.0))
                support[k] = support.get(k, 0.0) + pair * factor
        best = heapq.nlargest(limit, scores.items(), key=lambda kv: (kv[1], kv[0]))
        return [Neighbour(k, s, support[k]) for k, s in best]
