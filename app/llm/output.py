"""What goes to the LLM about each candidate, and the strict reading of what comes back.

Parsing is defensive (code fences, prose around the JSON) but validation is strict: ids must be
candidates, duplicates are dropped, an answer with no usable id is a failure, reasons only for ids
that were asked about. The stage then merges the valid part with the vector order. What a reason
may say is grounding's business (app/domain/grounding.py), which bounds its length too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from app.domain.errors import LLMInvalidOutput
from app.domain.models import ScoredProduct

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_FACT_ATTRIBUTES = 3


def compact_facts(items: Sequence[ScoredProduct], description_chars: int = 120) -> str:
    """One JSON object per line with only what a ranking needs: bounded tokens per candidate."""
    lines = []
    for n, item in enumerate(items, start=1):
        p = item.product
        facts: dict[str, Any] = {"id": p.id, "title": p.title[:200]}
        if p.brand:
            facts["brand"] = p.brand
        if p.category:
            facts["category"] = p.category
        if p.price is not None:
            facts["price"] = f"{p.price:.2f} {p.currency}"
        if p.description and p.description != p.title:
            facts["description"] = p.description[:description_chars]
        attributes = {k: v for k, v in p.attributes.items() if isinstance(v, str) and len(v) <= 40}
        if attributes:
            facts["attributes"] = dict(list(attributes.items())[:_FACT_ATTRIBUTES])
        lines.append(f"{n}. {json.dumps(facts, ensure_ascii=False)}")
    return "\n".join(lines)


def extract_json(text: str) -> Any:
    """The JSON object in an answer: bare, fenced, or surrounded by prose."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise LLMInvalidOutput("the answer holds no JSON object")


def answer_strings(text: str) -> list[str]:
    """Every string value of the answer's JSON (keys left out): what the model wrote. The whole
    text when it holds no JSON."""
    try:
        data = extract_json(text)
    except LLMInvalidOutput:
        return [text]
    strings: list[str] = []
    stack = [data]
    while stack:  # a loop, not recursion: the answer's nesting is the model's choice
        value = stack.pop()
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return strings


def parse_ranking(text: str, candidate_ids: Sequence[str]) -> list[str]:
    """Valid, de-duplicated candidate ids in the LLM's order (possibly fewer than the candidates)."""
    data = extract_json(text)
    raw = data.get("ranking") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise LLMInvalidOutput('the answer has no "ranking" list')
    allowed = set(candidate_ids)
    ranked: list[str] = []
    for entry in raw:
        pid = entry.get("id") if isinstance(entry, dict) else entry
        if isinstance(pid, int | str) and str(pid) in allowed and str(pid) not in ranked:
            ranked.append(str(pid))
    if not ranked:
        raise LLMInvalidOutput("the ranking names no candidate id")
    return ranked


def parse_reasons(text: str, asked_ids: Sequence[str]) -> dict[str, str]:
    data = extract_json(text)
    raw = data.get("reasons") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        raise LLMInvalidOutput('the answer has no "reasons" list')
    allowed = set(asked_ids)
    reasons: dict[str, str] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        pid, reason = entry.get("id"), entry.get("reason")
        if not isinstance(pid, int | str) or not isinstance(reason, str):
            continue
        pid, reason = str(pid), " ".join(reason.split())
        if pid in allowed and pid not in reasons and reason:
            reasons[pid] = reason
    if not reasons:
        raise LLMInvalidOutput("the answer explains no listed product")
    return reasons


def merge_ranking(items: Sequence[ScoredProduct], ranked_ids: Sequence[str]) -> list[ScoredProduct]:
    """The LLM's order first; candidates it left out follow in vector order."""
    by_id = {i.product.id: i for i in items}
    head = [by_id[i] for i in ranked_ids if i in by_id]
    placed = {i.product.id for i in head}
    return head + [i for i in items if i.product.id not in placed]
