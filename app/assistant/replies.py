"""Templated replies and reasons: the assistant's words when the LLM is not used or its reply
was not grounded. Built only from the intent and the returned items, so they are grounded by
construction; the search text they echo is the shopper's words (or the LLM's reading of them),
passed through `plain` so no link, phone number or amount they hold is ever repeated."""

from __future__ import annotations

from collections.abc import Sequence

from app.assistant.intent import Intent
from app.domain.models import Product, ScoredProduct
from app.domain.money import money
from app.domain.statements import plain

_SHOWN_IN_REPLY = 3


def _display(name: str) -> str:
    return name if any(c.isupper() for c in name) else name.title()


def constraint_phrase(intent: Intent, currency: str = "USD") -> str:
    parts = []
    if intent.brands:
        parts.append("from " + " or ".join(_display(b) for b in intent.brands))
    if intent.exclude_brands:
        parts.append("not from " + " or ".join(_display(b) for b in intent.exclude_brands))
    low, high = intent.price_min, intent.price_max
    if low is not None and high is not None:
        parts.append(f"between {money(low, currency)} and {money(high, currency)}")
    elif high is not None:
        parts.append(f"under {money(high, currency)}")
    elif low is not None:
        parts.append(f"over {money(low, currency)}")
    if intent.sort == "price_asc":
        parts.append("lowest price first")
    elif intent.sort == "price_desc":
        parts.append("highest price first")
    return (" " + ", ".join(parts)) if parts else ""


def _label(p: Product) -> str:
    return f"{p.title} ({money(p.price, p.currency)})" if p.price is not None else p.title


def template_reply(intent: Intent, items: Sequence[ScoredProduct]) -> str:
    currency = items[0].product.currency if items else "USD"
    what = plain(intent.search_text) or "products"
    constraints = constraint_phrase(intent, currency)
    if not items:
        return (
            f"I couldn't find any {what}{constraints} in this shop. "
            "Try a wider price range, another brand or different words."
        )
    shown = [_label(i.product) for i in items[:_SHOWN_IN_REPLY]]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    count = len(items)
    relaxed = " (no exact category match, so I looked more widely)" if "category" in intent.relaxed else ""
    noun = "match" if count == 1 else "matches"
    return f"I found {count} {noun} for {what}{constraints}{relaxed}. Top picks: {listed}."


def template_reason(intent: Intent, item: ScoredProduct) -> str:
    p = item.product
    wanted = plain(intent.search_text)
    facts = [f"matches “{wanted}”"] if wanted else []
    if intent.brands and p.brand:
        facts.append(f"by {p.brand}")
    if p.price is not None and (intent.price_max is not None or intent.sort == "price_asc"):
        within = f", within your {money(intent.price_max, p.currency)} limit" if intent.price_max else ""
        facts.append(f"{money(p.price, p.currency)}{within}")
    if p.category:
        facts.append(p.category)
    text = "; ".join(facts)
    return text[:1].upper() + text[1:] if text else p.title
