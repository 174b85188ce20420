"""Keeps the LLM's reply to what Aisle really returned.

The reply prompt asks the model to cite products as [id]. A reply is accepted only if, after
replacing known [id] markers with the product's title and dropping unknown ones:
- every catalog brand it names is a returned item's brand or one the shopper named,
- every model-number-like token (letters and digits, "WH-1000XM4") occurs in a returned item or
  the conversation,
- every price it states is a returned item's price or one the shopper named,
- every capitalised word inside a sentence (a name: "Bose SoundLink Flex") occurs in a returned
  item or the conversation, which catches products from brands the catalog does not even carry,
- it does not quote the system prompt (6-word shingles).
and it has at least three words. Otherwise `ground_reply` returns None and the caller uses the templated reply. Checking the whole
reply before streaming it is why reply tokens are released after validation (docs/decisions/0008).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.models import ScoredProduct
from app.domain.vocabulary import mentioned

MAX_REPLY_CHARS = 800
_MARKER = re.compile(r"\[([^\[\]\s]{1,200})\]")
_MODEL_TOKEN = re.compile(r"(?<![\w/-])(?=[\w/-]*\d)(?=[\w/-]*[a-zA-Z])[a-zA-Z0-9][\w/-]{2,}(?![\w/-])")
_MONEY = re.compile(
    r"(?:[$€£]\s?(\d+(?:[.,]\d{1,2})?))|(?:(\d+(?:[.,]\d{1,2})?)\s?(?:USD|EUR|GBP|dollars|euros))"
)
_WORDS = re.compile(r"[a-z0-9]+")
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)(?<![\w-])([A-Z][\w-]+)")
_SHINGLE = 6
_MIN_WORDS = 3


@dataclass(frozen=True, slots=True)
class Grounded:
    text: str
    cited: tuple[str, ...]  # ids the reply cites, in order


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORDS.findall(text.casefold())
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def _amount(a: str, b: str) -> float:
    return round(float((a or b).replace(",", ".")), 2)


def ground_reply(
    reply: str,
    items: Sequence[ScoredProduct],
    *,
    brands: Sequence[str],
    conversation: str,
    secrets: Sequence[str] = (),
) -> Grounded | None:
    by_id = {i.product.id: i.product for i in items}
    cited: list[str] = []

    def resolve(m: re.Match[str]) -> str:
        pid = m.group(1)
        if pid in by_id:
            cited.append(pid)
            return by_id[pid].title
        return ""  # an invented or foreign id is removed, never shown

    text = " ".join(_MARKER.sub(resolve, reply).split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    if len(re.findall(r"[^\W\d_]{2,}", text)) < _MIN_WORDS or len(text) > MAX_REPLY_CHARS:
        return None  # "12345" or an empty string is not an answer
    evidence = " ".join(
        f"{p.id} {p.title} {p.brand} {p.description} {' '.join(str(v) for v in p.attributes.values())}"
        for p in by_id.values()
    )
    allowed_brands = {b for _, b in mentioned(evidence + " " + conversation, brands)}
    if any(b not in allowed_brands for _, b in mentioned(text, brands)):
        return None
    known_tokens = evidence.casefold() + " " + conversation.casefold()
    if any(t.casefold() not in known_tokens for t in _MODEL_TOKEN.findall(text)):
        return None
    words = set(_WORDS.findall(known_tokens))
    if any(not set(_WORDS.findall(name.casefold())) <= words for name in _NAME.findall(text)):
        return None
    prices = {round(p.price, 2) for p in by_id.values() if p.price is not None}
    prices |= {_amount(a, b) for a, b in _MONEY.findall(conversation)}
    if any(_amount(a, b) not in prices for a, b in _MONEY.findall(text)):
        return None
    reply_shingles = _shingles(text)
    if any(reply_shingles & _shingles(secret) for secret in secrets):
        return None
    return Grounded(text, tuple(dict.fromkeys(cited)))
