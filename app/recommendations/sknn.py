"""Session-based k-nearest neighbours, the V-SKNN variant (Ludewig & Jannach, "Evaluation of
session-based recommendation algorithms", 2018): simple, strong on e-commerce sessions, and it
updates with every event.

The model keeps recent sessions (the items each touched, in order of last touch) and, per item,
the sessions that touched it most recently. For a query session s (its items, oldest first):

1. candidate neighbours: the most recent sessions that share an item with s, at most `sample`;
2. similarity: sum over the items shared of a position weight, the query's most recent item
   weighing 1 and older ones linearly less (V-SKNN's "vector" weighting), divided by the square
   root of the neighbour's length (cosine-like: a long session does not match everything);
3. the `k` most similar neighbours vote for each of their items with their similarity.

Items already in the query session are not recommended. Bounded memory: `max_sessions` sessions
(LRU), a session's newest `max_session_items` items, `sample` sessions per item.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionKNNSettings:
    k: int = 100
    sample: int = 500
    max_sessions: int = 100_000
    max_session_items: int = 50


@dataclass(frozen=True, slots=True)
class SessionScores:
    scores: list[tuple[str, float]]  # best first
    neighbours: int  # sessions that voted: the evidence behind the scores


class SessionKNN:
    def __init__(self, settings: SessionKNNSettings = SessionKNNSettings()) -> None:
        self.settings = settings
        self._sessions: OrderedDict[str, list[str]] = OrderedDict()
        self._item_sessions: dict[str, deque[str]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: str, item: str) -> None:
        items = self._sessions.get(session)
        if items is None:
            items = self._sessions[session] = []
            if len(self._sessions) > self.settings.max_sessions:
                self._sessions.popitem(last=False)  # its keys in _item_sessions go stale: skipped
        else:
            self._sessions.move_to_end(session)
        if item in items:
            items.remove(item)  # touched again: now its most recent item
        else:
            recent = self._item_sessions.get(item)
            if recent is None:
                recent = self._item_sessions[item] = deque(maxlen=self.settings.sample)
            recent.append(session)
        items.append(item)
        if len(items) > self.settings.max_session_items:
            del items[0]

    def _candidates(self, query: Sequence[str], own: str | None) -> list[str]:
        """Up to `sample` recent sessions sharing an item with the query, the query's newest item's
        sessions first."""
        seen: dict[str, None] = {}
        for item in reversed(query):
            for session in reversed(self._item_sessions.get(item, ())):
                if session != own and session in self._sessions:
                    seen[session] = None
                    if len(seen) >= self.settings.sample:
                        return list(seen)
        return list(seen)

    def recommend(
        self, query: Sequence[str], limit: int, *, own: str | None = None, exclude: Iterable[str] = ()
    ) -> SessionScores:
        """`query`: the session's items, oldest first; `own`: its own key, never its neighbour."""
        items = list(dict.fromkeys(reversed(query)))[::-1]  # distinct, in order of last touch
        if not items:
            return SessionScores([], 0)
        weights = {item: (pos + 1) / len(items) for pos, item in enumerate(items)}
        similarities = []
        for session in self._candidates(items, own):
            members = self._sessions[session]
            shared = sum(weights.get(m, 0.0) for m in members)
            if shared > 0:
                similarities.append((shared / math.sqrt(len(members)), session))
        neighbours = heapq.nlargest(self.settings.k, similarities)
        skip = set(items) | set(exclude)
        scores: dict[str, float] = {}
        for sim, session in neighbours:
            for m in self._sessions[session]:
                if m not in skip:
                    scores[m] = scores.get(m, 0.0) + sim
        best = heapq.nlargest(limit, scores.items(), key=lambda kv: (kv[1], kv[0]))
        return SessionScores(best, len(neighbours))
