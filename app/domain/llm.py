"""Values that cross the `LLMClient` port: a chat request with an optional JSON schema, and the
answer's text with its token usage. Vendor-free, so fakes and the OpenAI adapter speak the same."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
CacheState = Literal["hit", "miss"]  # whether an LLM answer came from the cache


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class LLMRequest:
    messages: tuple[ChatMessage, ...]
    schema_name: str
    json_schema: Mapping[str, Any] | None
    max_tokens: int
    timeout_s: float
    temperature: float = 0.0


@dataclass(frozen=True, slots=True)
class LLMResponse:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """How one LLM task ended and what it cost: the one record every use case returns for each
    LLM task it ran (a search's re-rank/explain step counts as one), and the one thing the edge
    turns into metrics and log totals. `fallback` is None when the task's answer was used (all of
    it: `ungrounded_reason` when some of its strings were replaced). `ungrounded` names the
    grounding check each LLM-written string that was not shown failed (app/domain/grounding.py)."""

    task: str
    fallback: str | None = None
    cache: CacheState | None = None
    llm_ms: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ungrounded: tuple[str, ...] = ()

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
