"""How behaviour and content are put together, and what the response says about it (`source`).

- `fill` (item-to-item: bought/viewed together): the behavioural neighbours first, in their order,
  then content neighbours (vector similarity) fill what is left. A pair that passed the minimum
  support is evidence; similarity is a guess, so it never outranks evidence.
- `blend` (sessions and users): weighted reciprocal-rank fusion of the session-k-NN list and the
  content list, score = a / (k + rank_events) + (1 - a) / (k + rank_content), ranks from 1, where
  the events' weight `a` grows with the evidence: n / (n + n0) for n neighbour sessions that voted
  (no neighbours: content alone; many: behaviour dominates). An experiment can pin `a`.

`source` is "events" when every item came from behaviour, "content" when every item came from
vectors (cold start), "blend" when both contributed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.events import Source

RRF_K = 10.0
EVIDENCE_HALF = 10.0  # neighbour sessions at which behaviour and content weigh the same


@dataclass(frozen=True, slots=True)
class Candidate:
    item_id: str
    score: float
    from_events: bool  # behaviour proposed it (perhaps content too)


@dataclass(frozen=True, slots=True)
class Blended:
    ranked: list[Candidate]  # best first

    @property
    def source(self) -> Source:
        return source_of_items(self.ranked)


def source_of(from_events: int, from_content: int) -> Source:
    if from_events and from_content:
        return "blend"
    return "events" if from_events else "content"


def source_of_items(items: Sequence[Candidate]) -> Source:
    behaviour = sum(1 for c in items if c.from_events)
    return source_of(behaviour, len(items) - behaviour)


def fill(events: Sequence[tuple[str, float]], content: Sequence[tuple[str, float]], limit: int) -> Blended:
    ranked = [Candidate(item, score, True) for item, score in events[:limit]]
    seen = {c.item_id for c in ranked}
    for item, score in content:
        if len(ranked) >= limit:
            break
        if item not in seen:
            ranked.append(Candidate(item, score, False))
            seen.add(item)
    return Blended(ranked)


def evidence_weight(neighbours: int) -> float:
    return neighbours / (neighbours + EVIDENCE_HALF) if neighbours > 0 else 0.0


def blend(
    events: Sequence[tuple[str, float]],
    content: Sequence[tuple[str, float]],
    weight: float,
    limit: int,
) -> Blended:
    """`weight`: the events' share, 0..1 (0: content only; 1: events only)."""
    scores: dict[str, float] = {}
    origin: dict[str, set[str]] = {}
    for share, ranked, name in ((weight, events, "events"), (1.0 - weight, content, "content")):
        if share <= 0:
            continue
        for rank, (item, _) in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + share / (RRF_K + rank)
            origin.setdefault(item, set()).add(name)
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return Blended([Candidate(item, score, "events" in origin[item]) for item, score in best])
