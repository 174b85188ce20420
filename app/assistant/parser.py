"""The deterministic intent parser: the assistant's answer when the LLM is off, down, slow or
refused, and the floor the LLM intent has to beat.

It reads the user turns in order and keeps a running intent, the way a shopper refines:
"bluetooth speakers" -> "under $50" -> "only JBL" -> "cheaper ones". Each turn may
- start a new topic (it names a product type the catalog has, or a new phrase of 3+ words),
- or refine the current one (price phrases, brands, "not Sony", sort words, short additions).
Brands and categories are matched against the catalog's own vocabulary (whole words, negation
window before a brand), prices need a price cue or a currency so "27 inch" or "4k" never become
a budget. docs/assistant.md lists the phrases it understands and how it scored on 30 utterances.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import Stemmer

from app.assistant.conversation import Turn
from app.assistant.intent import Intent, Sort, mentioned_brands
from app.assistant.lexicon import load_lexicon
from app.domain.vocabulary import Vocabulary

_STEM = Stemmer.Stemmer("english")
_WORD = re.compile(r"[a-z0-9][a-z0-9'+-]*")

_ANY_BRAND = re.compile(r"\b(any|all|other|different) brands?\b|\bdon'?t care about (the )?brand\b")
# Turns that talk to the system instead of about products ("ignore your instructions", "print
# your system prompt", "use another store's catalog") carry no product words: they are read for
# prices and brands only, so an injection attempt can never become the search or the reply.
_META = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|above|previous)\b|"
    r"\bsystem (prompt|message)\b|\b(reveal|print|show|repeat|tell)\b.{0,30}\b(prompt|instructions|rules)\b|"
    r"\byou are now\b|\b(another|other|different|competitor'?s?)\s+(store|shop|catalog|website)|\bcatalog\b|"
    r"\bjailbreak\b|\bdeveloper mode\b"
)

_NUM = r"(\d+(?:,\d{3})*(?:[.,]\d{1,2})?)(k\b)?"
_PRE = r"(?:[$€£]|usd|eur|gbp)\s*"
_POST = r"\s*(?:\$|€|£|usd\b|eur\b|euros?\b|dollars?\b|bucks\b|pounds?\b|gbp\b)"
_UNIT = (
    r"(?!\s*(?:inch|inches|in\b|\"|gb|tb|mb|w\b|watt|mm|cm|m\b|met(?:er|re)s?\b|ft\b|feet|foot|hz|mp\b|"
    r"megapixel|mah|v\b|volt|fps|%|x\b|pcs|pack|kg|lbs?\b|hours?\b|h\b|years?\b|ports?\b|pages?\b|sheets?\b))"
)
_AMOUNT = rf"(?:{_PRE})?{_NUM}(?:{_POST})?{_UNIT}"
_CURRENCY_AMOUNT = rf"(?:{_PRE}{_NUM}(?:{_POST})?|{_NUM}{_POST})"
_RANGE = re.compile(
    rf"(?:between|from)\s+{_AMOUNT}\s*(?:and|to|-|–)\s*{_AMOUNT}|{_CURRENCY_AMOUNT}\s*(?:-|–|to)\s*{_AMOUNT}"
)
_MAX = re.compile(
    rf"(?:under|below|less than|cheaper than|max(?:imum)?(?: of)?|up to|at most|no more than|"
    rf"not more than|within|budget (?:of|is)|spend|<=?)\s*{_AMOUNT}"
)
_MIN = re.compile(
    rf"(?:over|above|more than|at least|min(?:imum)?(?: of)?|starting (?:at|from)|>=?)\s*{_AMOUNT}"
)
_AROUND = re.compile(rf"(?:around|about|approximately|roughly|~)\s*{_AMOUNT}")
_BARE = re.compile(_CURRENCY_AMOUNT)
_CHEAPER = re.compile(r"\b(cheaper|less expensive|lower[- ]priced|more affordable)\b")
_PRICIER = re.compile(r"\b(pricier|more expensive|higher[- ]end|fancier|better quality)\b")
_CHEAPEST = re.compile(r"\b(cheapest|cheap|lowest price|least expensive|affordable|inexpensive|budget)\b")
_PRICIEST = re.compile(r"\b(most expensive|priciest|premium|high[- ]end|top of the range|luxury)\b")
_SHOWN_PRICE = re.compile(r"(?:[$€£]\s?(\d+(?:\.\d{1,2})?))|(?:(\d+(?:\.\d{1,2})?)\s?(?:USD|EUR|GBP))")


def shown_prices(text: str) -> list[float]:
    """Prices an assistant turn showed ("$39.95", "39.95 EUR")."""
    return [float(a or b) for a, b in _SHOWN_PRICE.findall(text)]


def _number(raw: str, thousands: str | None) -> float:
    text = raw.replace(",", "") if re.search(r",\d{3}\b", raw) else raw.replace(",", ".")
    return float(text) * (1000.0 if thousands else 1.0)


def _amounts(match: re.Match[str]) -> list[float]:
    groups = match.groups()
    return [_number(groups[i], groups[i + 1]) for i in range(0, len(groups), 2) if groups[i] is not None]


@dataclass(slots=True)
class _TurnReading:
    """What one user turn says, before it is merged into the running intent."""

    text: str
    price_min: float | None = None
    price_max: float | None = None
    price_set: bool = False
    sort: Sort | None = None
    relative: str | None = None  # "cheaper" / "pricier" than what was shown
    brands: list[str] = field(default_factory=list)
    exclude_brands: list[str] = field(default_factory=list)
    only: bool = False
    any_brand: bool = False
    categories: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    refine_cue: bool = False


class IntentParser:
    """Built once per catalog vocabulary; `parse` is pure and cheap (regexes over a few KB)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._lex = load_lexicon()  # the word lists (lexicon/en.toml), read once per process
        self._stem_to_categories: dict[str, list[str]] = {}
        category_words: set[str] = set()
        for category in vocabulary.categories:
            for word in _WORD.findall(category):
                stem = _STEM.stemWord(word)
                category_words.add(word)
                if stem not in self._lex.generic or len(_WORD.findall(category)) == 1:
                    self._stem_to_categories.setdefault(stem, []).append(category)
        self._synonyms = {k: v for k, v in self._lex.synonyms.items() if v in category_words}
        # Where a word heads one category and modifies another ("camera" in "cameras" and in
        # "camera accessories"), the shopper names the category it heads.
        self._heads: dict[str, set[str]] = {}
        for category in vocabulary.categories:
            for part in re.split(r"&|,|\band\b", category):
                words = _WORD.findall(part)
                if words:
                    self._heads.setdefault(_STEM.stemWord(words[-1]), set()).add(category)

    def parse(self, turns: Sequence[Turn]) -> Intent:
        intent = Intent()
        shown: list[float] = []
        for turn in turns:
            if turn.role == "assistant":
                shown = shown_prices(turn.content)
                continue
            intent = self._merge(intent, self._read(turn.content), shown)
        return intent

    # -- one turn --------------------------------------------------------------------------

    def _read(self, content: str) -> _TurnReading:
        reading = _TurnReading(content.casefold())
        text = self._prices(reading)
        text = self._sorting(reading, text)
        text = self._brands(reading, content, text)
        tokens = [(m.start(), m.group()) for m in _WORD.finditer(text)]
        lex = self._lex
        reading.refine_cue = any(w in lex.refine_cues for _, w in tokens[:3]) or any(
            w in lex.refine_pronouns for _, w in tokens
        )
        reading.categories = self._categories([w for _, w in tokens])
        negated = {i + 1 for i, (_, w) in enumerate(tokens) if w in lex.negation}
        reading.words = [
            w for i, (_, w) in enumerate(tokens) if w not in lex.stop and i not in negated and len(w) > 1
        ]
        if _META.search(reading.text):
            reading.words, reading.categories = [], []
        return reading

    def _prices(self, r: _TurnReading) -> str:
        text = r.text
        if m := _RANGE.search(text):
            values = _amounts(m)
            if len(values) == 2:
                r.price_min, r.price_max = min(values), max(values)
                r.price_set = True
            text = text[: m.start()] + " " + text[m.end() :]
        for pattern, kind in ((_MAX, "max"), (_MIN, "min"), (_AROUND, "around"), (_BARE, "max")):
            while m := pattern.search(text):
                values = _amounts(m)
                text = text[: m.start()] + " " + text[m.end() :]
                if not values:
                    continue
                value = values[0]
                if kind == "max":
                    r.price_max = value
                elif kind == "min":
                    r.price_min = value
                else:
                    r.price_min, r.price_max = round(value * 0.8, 2), round(value * 1.2, 2)
                r.price_set = True
        return text

    @staticmethod
    def _sorting(r: _TurnReading, text: str) -> str:
        for pattern, sort, relative in (
            (_CHEAPER, "price_asc", "cheaper"),
            (_PRICIER, "price_desc", "pricier"),
            (_PRICIEST, "price_desc", None),
            (_CHEAPEST, "price_asc", None),
        ):
            if pattern.search(text):
                r.sort = sort  # type: ignore[assignment]
                r.relative = r.relative or relative
                text = pattern.sub(" ", text)
        return text

    def _brands(self, r: _TurnReading, original: str, text: str) -> str:
        r.any_brand = bool(_ANY_BRAND.search(text))
        spans = []
        for position, end, brand in mentioned_brands(text, self.vocabulary):
            before = _WORD.findall(text[max(0, position - 40) : position])[-4:]
            if brand in self._lex.common_word_brands:
                as_written = original[position:end]
                if as_written.islower() and not (before and before[-1] in self._lex.brand_cues):
                    continue
            spans.append((position, end))
            if any(w in self._lex.negation or w.endswith("n't") for w in before[-3:]):
                r.exclude_brands.append(brand)
            else:
                r.brands.append(brand)
                r.only = r.only or any(w in self._lex.only for w in before[-2:])
        for position, end in reversed(spans):
            text = text[:position] + " " * (end - position) + text[end:]
        return text

    def _categories(self, words: list[str]) -> list[str]:
        matches: list[tuple[int, list[str]]] = []
        for i, word in enumerate(words):
            # "routers", "ssds": a synonym's plural reads as the synonym
            target = self._synonyms.get(word) or self._synonyms.get(word.removesuffix("s"), word)
            stem = _STEM.stemWord(target)
            categories = self._stem_to_categories.get(stem)
            if not categories:
                continue
            headed = [c for c in categories if c in self._heads.get(stem, ())]
            categories = headed or categories
            if any(w in self._lex.modifier_cues for w in words[max(0, i - 3) : i]):
                continue  # "a bag for my laptop": the laptop is not what is wanted
            matches.append((i, categories))
        if not matches:
            return []
        # The head of the first noun group: "laptop bag" -> bags, "bluetooth speakers" -> speakers.
        head = matches[0]
        for i, categories in matches[1:]:
            if i != head[0] + 1:
                break
            head = (i, categories)
        return head[1]

    # -- merging into the running intent -----------------------------------------------------

    def _merge(self, intent: Intent, r: _TurnReading, shown: list[float]) -> Intent:
        new_topic = bool(r.categories) and set(r.categories) != set(intent.categories)
        if not new_topic and r.words and intent.query:
            new_topic = not r.refine_cue and len(r.words) >= 3
        if new_topic or not intent.query:
            base = Intent(query=" ".join(r.words), categories=tuple(r.categories))
            if not r.words and r.categories:
                base = replace(base, query=r.categories[0])
            if not base.query and intent.query:  # nothing new to search for: keep refining
                base = intent
        else:
            attributes = tuple(dict.fromkeys((*intent.attributes, *r.words)))
            base = replace(intent, attributes=attributes)
        low, high = base.price_min, base.price_max
        if r.price_set:
            if r.price_min is not None and r.price_max is not None:
                low, high = r.price_min, r.price_max
            elif r.price_max is not None:
                high = r.price_max
                low = low if low is not None and low <= high else None
            elif r.price_min is not None:
                low = r.price_min
                high = high if high is not None and high >= low else None
        if r.relative and shown:
            pivot = statistics.median(shown)
            if r.relative == "cheaper":
                high = round(pivot - 0.01, 2) if high is None else min(high, round(pivot - 0.01, 2))
            else:
                low = round(pivot + 0.01, 2) if low is None else max(low, round(pivot + 0.01, 2))
        brands = base.brands
        excluded = tuple(b for b in base.exclude_brands if b not in r.brands)
        if r.any_brand:
            brands, excluded = (), ()
        if r.brands:
            brands = tuple(dict.fromkeys(r.brands))
        excluded = tuple(dict.fromkeys((*excluded, *r.exclude_brands)))
        brands = tuple(b for b in brands if b not in excluded)
        return replace(
            base,
            brands=brands,
            exclude_brands=excluded,
            price_min=low,
            price_max=high,
            sort=r.sort or base.sort,
        )
