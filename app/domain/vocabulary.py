"""A catalog's vocabulary: its real categories and brands, as filter keys, most common first.

Read from the index's facets (app/vocabularies.py caches it per catalog); LLM output (the
assistant's intent, a bundle's slots) is validated against it, so a model can never name a
category or brand the catalog does not carry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.models import filter_key

_EVERYDAY = {
    "case", "origin", "black", "blue", "green", "red", "white", "smart", "power", "digital", "general",
    "international", "united", "best", "home", "office", "micro", "mini", "fast", "sound",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Vocabulary:
    categories: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()

    def category(self, name: str) -> str | None:
        key = filter_key(name)
        return key if key in self.categories else None

    def brand(self, name: str) -> str | None:
        key = filter_key(name)
        return key if key in self.brands else None

    def brand_names(self) -> dict[str, str]:
        """Every way a shopper may write a brand -> the brand: the full name, the name without
        a ".com", and the first word of a multi-word name when it is distinctive and unambiguous
        ("kingston" -> "kingston technology", "tripp" -> "tripp lite")."""
        names = {b: b for b in self.brands}
        firsts: dict[str, list[str]] = {}
        for brand in self.brands:
            if brand.endswith(".com"):
                names.setdefault(brand.removesuffix(".com"), brand)
            words = brand.split()
            if len(words) > 1 and len(words[0]) >= 4 and words[0] not in _EVERYDAY:
                firsts.setdefault(words[0], []).append(brand)
        for first, brands in firsts.items():
            if len(brands) == 1:
                names.setdefault(first, brands[0])
        return names


def mentioned(text: str, names: Iterable[str]) -> list[tuple[int, str]]:
    """(position, name) of every vocabulary name that appears in `text` as whole words."""
    folded = text.casefold()
    out = []
    for name in names:
        for m in re.finditer(rf"(?<![\w]){re.escape(name)}(?![\w])", folded):
            out.append((m.start(), name))
    return sorted(out)
