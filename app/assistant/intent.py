"""A search intent and the catalog vocabulary it is validated against.

Whoever produces the intent (the LLM or the deterministic parser), it can only name categories and
brands the catalog really has (`Vocabulary`, read from the index's facets), and it can never name a
catalog: the catalog comes from the URL and nothing in a conversation can change it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from app.domain.errors import LLMInvalidOutput, LLMUngrounded
from app.domain.grounding import Facts, Grounds, brand_names, ground_query
from app.domain.models import Filters
from app.domain.vocabulary import Vocabulary, mentioned
from app.llm.output import extract_json

Sort = Literal["relevance", "price_asc", "price_desc"]
SORTS: tuple[Sort, ...] = ("relevance", "price_asc", "price_desc")
MAX_QUERY_CHARS = 200
MAX_ATTRIBUTES = 8


@dataclass(frozen=True, slots=True)
class Intent:
    query: str = ""
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    exclude_brands: tuple[str, ...] = ()
    price_min: float | None = None
    price_max: float | None = None
    attributes: tuple[str, ...] = ()
    sort: Sort = "relevance"
    relaxed: tuple[str, ...] = field(default=())  # constraints dropped because nothing matched

    @property
    def search_text(self) -> str:
        words = [self.query, *(a for a in self.attributes if a.casefold() not in self.query.casefold())]
        return " ".join(w for w in words if w).strip()

    def filters(self) -> Filters:
        return Filters(
            category=self.categories,
            brand=self.brands,
            price_min=self.price_min,
            price_max=self.price_max,
            in_stock=True,
            exclude_brand=self.exclude_brands,
        )

    def without_categories(self) -> Intent:
        return replace(self, categories=(), relaxed=(*self.relaxed, "category"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.search_text,
            "filters": {
                k: v
                for k, v in {
                    "category": list(self.categories),
                    "brand": list(self.brands),
                    "exclude_brand": list(self.exclude_brands),
                    "price_min": self.price_min,
                    "price_max": self.price_max,
                }.items()
                if v not in (None, [])
            },
            "sort": self.sort,
            **({"relaxed": list(self.relaxed)} if self.relaxed else {}),
        }


def _names(raw: object, known: Vocabulary, kind: Literal["category", "brand"]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    lookup = known.category if kind == "category" else known.brand
    found = (lookup(v) for v in raw if isinstance(v, str))
    return tuple(dict.fromkeys(v for v in found if v is not None))


def _price(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0 <= value < 1e9 else None


_ATTRIBUTE = re.compile(r"^[\w][\w .+/&-]{0,39}$")


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def conversation_numbers(text: str) -> list[float]:
    return [float(n.replace(",", ".")) for n in _NUMBER.findall(text.replace(",000", "000"))]


def _grounded_price(value: float | None, numbers: Iterable[float]) -> float | None:
    """A price the conversation supports: within 25% of a number someone said (around $50 -> 40..60;
    cheaper than the $45.00 shown -> 44.99), else None: small models invent budgets."""
    if value is None:
        return None
    return value if any(abs(value - n) <= 0.25 * n + 0.01 for n in numbers) else None


def intent_from_llm(
    text: str,
    known: Vocabulary,
    *,
    numbers: Iterable[float] = (),
    brands: Iterable[str] | None = None,
    said: str | None = None,
) -> Intent:
    """Read the LLM's intent strictly: categories must be the catalog's, brands the catalog's and
    named in the conversation (`brands`, when given), prices supported by `numbers` (what the
    shopper said, the prices the assistant showed); anything else is dropped, and any other field
    (a `catalog`, say) is ignored. With `said` (the shopper's own words), the search text must be
    a reading of them (app/domain/grounding.py:ground_query), else the intent is ungrounded and the
    parser's reading is used; an attribute that is not is dropped."""
    data = extract_json(text)
    if not isinstance(data, dict):
        raise LLMInvalidOutput("the intent is not a JSON object")
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise LLMInvalidOutput('the intent has no "query" text')
    query = " ".join(query.split())[:MAX_QUERY_CHARS]
    # The catalog's category names count as the shopper's words: "speakers" for "something to
    # play music outside" is a reading, not an invention.
    grounds = Grounds(Facts.of(*known.categories), brand_names(known.brands))
    if said is not None:
        failed = ground_query(query, said, grounds)
        if failed is not None:
            raise LLMUngrounded(
                "ungrounded_intent", failed, f"the search text is not the shopper's ({failed})"
            )
    numbers = list(numbers)
    low = _grounded_price(_price(data.get("price_min")), numbers)
    high = _grounded_price(_price(data.get("price_max")), numbers)
    if low is not None and high is not None and low > high:
        low, high = high, low
    sort = data.get("sort")
    attributes = data.get("attributes")
    named = None if brands is None else set(brands)
    wanted = tuple(b for b in _names(data.get("brands"), known, "brand") if named is None or b in named)
    excluded = tuple(
        b
        for b in _names(data.get("exclude_brands"), known, "brand")
        if b not in wanted and (named is None or b in named)
    )
    return Intent(
        query=query,
        categories=_names(data.get("categories"), known, "category"),
        brands=wanted,
        exclude_brands=excluded,
        price_min=low,
        price_max=high,
        attributes=tuple(
            dict.fromkeys(
                " ".join(a.split())
                for a in (attributes if isinstance(attributes, list) else [])
                if isinstance(a, str)
                and _ATTRIBUTE.match(a.strip())
                and (said is None or ground_query(a, said, grounds) is None)
            )
        )[:MAX_ATTRIBUTES],
        sort=sort if sort in SORTS else "relevance",
    )


def mentioned_brands(text: str, known: Vocabulary) -> list[tuple[int, int, str]]:
    """(start, end, brand) of every brand named in `text` under any of its names, longest first
    where two overlap ("case logic" wins over "case")."""
    names = known.brand_names()
    found: list[tuple[int, int, str]] = []
    for position, name in sorted(mentioned(text, names), key=lambda m: -len(m[1])):
        end = position + len(name)
        if all(end <= s or position >= e for s, e, _ in found):
            found.append((position, end, names[name]))
    return sorted(found)


def brand_hints(text: str, known: Vocabulary, limit: int = 20) -> list[str]:
    """The catalog brands a conversation names: what the intent prompt lists for the LLM."""
    return list(dict.fromkeys(brand for _, _, brand in mentioned_brands(text, known)))[:limit]
