"""Query understanding: which of the catalog's product types (categories) a query asks for.

Built from the catalog's own vocabulary, in two layers, so it works for any catalog:
1. **Names.** Every word of every category name ("headphones & headsets" -> headphone, headset),
   Snowball-stemmed so plurals match ("speakers" and "speaker" share a stem), plus a short list of
   shopper synonyms and irregular plurals (mouse -> mice, tv -> television...), each used only when
   its target word really occurs in one of the catalog's category names.
2. **Titles.** Words the catalog's titles use almost only within one category (at least
   `MIN_TITLES` titles, `MIN_SHARE` of them in that category): "tripod" or "toner" name a type even
   when no category is called that.
English product phrases are head-final ("laptop case" is a case, "phone charger" a charger), so
the last query word that names a type decides. docs/evals.md has the measured precision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.domain.lexical import terms
from app.ranking.stats import CatalogStats

MIN_TITLES = 8
MIN_SHARE = 0.6
_GENERIC = {"other", "accessori", "and", "servic", "system", "suppli", "product", "item", "compon", "comput"}
_SPLIT = re.compile(r"[^a-z0-9]+")

# shopper word -> a word that may occur in a category name (used only if it does)
SYNONYMS: Mapping[str, Sequence[str]] = {
    "mouse": ("mice",),
    "notebook": ("laptops",),
    "ultrabook": ("laptops",),
    "chromebook": ("laptops",),
    "macbook": ("laptops",),
    "earbuds": ("headphones",),
    "earphones": ("headphones",),
    "headset": ("headsets", "headphones"),
    "television": ("tv",),
    "tv": ("tv", "television"),
    "smartphone": ("phones",),
    "iphone": ("phones",),
    "mobile": ("phones",),
    "ereader": ("e-readers",),
    "kindle": ("e-readers",),
    "ipad": ("tablets",),
    "smartwatch": ("smartwatches",),
    "watch": ("smartwatches", "watches"),
    "display": ("monitors",),
    "screen": ("monitors",),
    "ssd": ("storage",),
    "hdd": ("storage",),
    "drive": ("storage",),
    "stick": ("storage",),
    "card": ("storage",),
    "ram": ("memory",),
    "cpu": ("processors",),
    "router": ("networking",),
    "wifi": ("networking",),
    "ups": ("ups",),
    "charger": ("power",),
    "backpack": ("bags",),
    "sleeve": ("bags",),
    "soundbar": ("speakers",),
    "radio": ("audio",),
    "cartridge": ("ink",),
    "pc": ("desktops",),
    "desktop": ("desktops",),
    "webcam": ("cameras",),
    "camcorder": ("cameras",),
    "stand": ("mounts",),
    "bracket": ("mounts",),
    "cord": ("cables",),
    "battery": ("batteries",),
    "aa": ("batteries",),
    "aaa": ("batteries",),
    "printer": ("printers",),
}


def _stem_words(text: str) -> list[str]:
    return terms(" ".join(w for w in _SPLIT.split(text.lower()) if w))


@dataclass(frozen=True, slots=True)
class Detection:
    category: str  # the catalog's category, as a filter key
    source: str  # "name" or "title"
    term: str  # the query word (stemmed) that decided


class ProductTypes:
    def __init__(self, categories: Sequence[str], title_terms: Mapping[str, str] | None = None) -> None:
        by_stem: dict[str, str] = {}
        for category in categories:  # most products first: a shared word goes to the bigger category
            for stem in _stem_words(category):
                if stem not in _GENERIC and not stem.isdigit():
                    by_stem.setdefault(stem, category)
        for word, targets in SYNONYMS.items():
            (stem,) = terms(word) or ("",)
            if not stem or stem in by_stem:
                continue
            for target in targets:
                hit = next((c for t in _stem_words(target) if (c := by_stem.get(t))), None)
                if hit is not None:
                    by_stem[stem] = hit
                    break
        self._names = by_stem
        self._titles = dict(title_terms or {})

    @classmethod
    def from_stats(cls, stats: CatalogStats) -> ProductTypes:
        """Names from the catalog's categories; title words from `stats.title_category`."""
        counts = stats.title_category
        totals = np.asarray(counts.sum(axis=0)).ravel()
        best = np.asarray(counts.argmax(axis=0)).ravel()
        top = np.asarray(counts.max(axis=0).todense()).ravel()
        words = {col: term for term, col in stats.vocab.items()}
        title_terms = {
            words[int(col)]: stats.categories[int(best[col])]
            for col in np.flatnonzero((totals >= MIN_TITLES) & (top >= MIN_SHARE * np.maximum(totals, 1)))
        }
        return cls(stats.categories, title_terms)

    def detect(self, query_terms: Sequence[str]) -> Detection | None:
        """`query_terms` as `app.domain.lexical.terms` makes them; the last naming word decides."""
        for stem in reversed(query_terms):
            if stem in self._names:
                return Detection(self._names[stem], "name", stem)
        for stem in reversed(query_terms):
            if stem in self._titles:
                return Detection(self._titles[stem], "title", stem)
        return None
