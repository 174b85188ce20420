"""A conversation as the assistant receives it, and the limits that keep one request bounded.

Limits are checked before anything runs (no model, no LLM), so an oversized conversation is a
clear 422 and never a slow request. Only user and assistant turns are accepted: a caller cannot
smuggle in a system turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.domain.errors import InvalidRequest

Speaker = Literal["user", "assistant"]

MAX_TURNS = 20
MAX_TURN_CHARS = 2000
MAX_TOTAL_CHARS = 8000


@dataclass(frozen=True, slots=True)
class Turn:
    role: Speaker
    content: str


def validate_conversation(turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """The conversation, whitespace-normalised, or InvalidRequest naming the broken limit."""
    if not turns:
        raise InvalidRequest("messages", "send at least one user message")
    if len(turns) > MAX_TURNS:
        raise InvalidRequest("messages", f"at most {MAX_TURNS} messages per request (got {len(turns)})")
    total = 0
    out = []
    for n, turn in enumerate(turns):
        if turn.role not in ("user", "assistant"):
            raise InvalidRequest(f"messages[{n}].role", "must be 'user' or 'assistant'")
        text = " ".join(turn.content.split())
        if len(text) > MAX_TURN_CHARS:
            raise InvalidRequest(f"messages[{n}].content", f"must be at most {MAX_TURN_CHARS} characters")
        total += len(text)
        out.append(Turn(turn.role, text))
    if total > MAX_TOTAL_CHARS:
        raise InvalidRequest("messages", f"at most {MAX_TOTAL_CHARS} characters in all (got {total})")
    if out[-1].role != "user":
        raise InvalidRequest("messages", "the last message must be the user's")
    if not out[-1].content:
        raise InvalidRequest("messages", "the last user message is empty")
    return tuple(out)


def transcript(turns: Sequence[Turn], max_chars: int = 4000) -> str:
    """The conversation as the LLM reads it, newest turns kept when it must be cut."""
    lines: list[str] = []
    used = 0
    for turn in reversed(turns):
        line = f"{'Shopper' if turn.role == 'user' else 'Assistant'}: {turn.content}"
        if used + len(line) > max_chars and lines:
            break
        lines.append(line[:max_chars])
        used += len(line)
    return "\n".join(reversed(lines))
