"""Search values shared by the use cases, the LLM stage and the edge: how a text query becomes
candidates, how an LLM may re-rank them, and what a search returns with its stage timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from app.domain.llm import CacheState, LLMUsage
from app.domain.models import ScoredProduct

RerankMode = Literal["none", "llm", "auto"]
RetrievalMode = Literal["dense", "hybrid", "lexical"]
Ranking = Literal["llm", "vector"]


def normalize_query(text: str) -> str:
    """Collapse whitespace; the model is case-aware enough that case is kept."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Timings:
    embed_ms: float = 0.0
    search_ms: float = 0.0
    llm_ms: float = 0.0
    total_ms: float = 0.0
    rank_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "embed": round(self.embed_ms, 3),
            "search": round(self.search_ms, 3),
            "rank": round(self.rank_ms, 3),
            "llm": round(self.llm_ms, 3),
            "total": round(self.total_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class RetrievalResult:
    items: list[ScoredProduct]
    timings: Timings = field(default_factory=Timings)
    ranking: Ranking = "vector"
    reasons: dict[str, str] = field(default_factory=dict)
    llm: tuple[LLMUsage, ...] = ()  # the LLM step, when it was asked for: one record
    ranker: str | None = None  # the learned ranking model that ordered the candidates, if any
    ranker_fallback: str | None = None  # why it did not (app/ranking/stage.py)

    @property
    def fallback(self) -> str | None:
        return next((u.fallback for u in self.llm if u.fallback is not None), None)

    @property
    def cache(self) -> CacheState | None:
        return next((u.cache for u in self.llm if u.cache is not None), None)

    @property
    def llm_calls(self) -> int:
        return sum(u.calls for u in self.llm)

    @property
    def llm_tokens(self) -> int:
        return sum(u.tokens for u in self.llm)
