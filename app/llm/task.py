"""An LLM task and its answer: the values every caller of `LLMStage.run` speaks.

A use case builds a `Task` (which prompt, its values, how to read the answer, what identifies the
answer in the cache) and gets an `Answer` back: the validated value, or None and the reason in
`usage.fallback`; the caller then keeps its own non-LLM result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.domain.llm import LLMUsage

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Task(Generic[T]):
    """One question for the LLM.

    - `prompt`: the prompt name (prompts/<name>/), also the task's name in its usage record;
    - `values`: the template's variables;
    - `parse`: reads and validates the answer text against what the task was built from
      (candidate ids, the catalog's vocabulary, the budget); raises `LLMInvalidOutput`;
    - `key`: what identifies the answer in the cache besides the prompt version and the model;
    - `enums` / `max_items`: constraints on the answer schema (app/llm/prompts.py), so a server
      with structured output cannot name anything else.
    """

    prompt: str
    values: Mapping[str, str]
    parse: Callable[[str], T]
    key: tuple[object, ...]
    enums: Mapping[str, Sequence[str]] = field(default_factory=dict)
    max_items: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    value: T | None
    usage: LLMUsage

    @property
    def fallback(self) -> str | None:
        return self.usage.fallback
