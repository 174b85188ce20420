"""Grounding: an LLM-written string reaches a shopper only if what it states is in the facts.

One mechanism for every string an LLM writes: the assistant's reply, the per-item reasons of
search/similar `explain`, of the assistant and of bundle slots, a bundle's rationale, and the
search text the assistant's LLM reads out of a conversation (`ground_query`). `Grounds.check`
returns the first check a text fails (CHECKS), or None when it is grounded:

- `length`: enough words, not too many characters for its kind (`Limits`);
- `markup`: no HTML tag, no `javascript:` or `data:` URL;
- `link`, `contact`: no URL, domain, e-mail address or phone number, unless the facts of the
  products it is about carry that very one;
- `prompt`: no instruction-like phrase ("ignore previous instructions", "system prompt");
- `price`: every amount is a price of the products (in their currency, within rounding: "$41"
  for 40.95), of a related product, or an amount the shopper named;
- `claim`: no commercial claim ("free shipping", "best price", "today only", "30% off", any
  percentage) the products' own facts do not make;
- `brand`: a catalog brand it names is the product's, a related product's or the shopper's;
- `model`: a model-number-like token ("WH-1000XM4") occurs in the facts or the shopper's words
  ("55-inch" also when the facts have 55);
- `number`: a number of two or more digits occurs there too: an invented spec ("40 hours of
  battery", "since 1995") is not a fact;
- `name`: a capitalised word inside a sentence (a name: "Bose SoundLink") occurs there too
  (an acronym may be spelled by the facts' words: "UHD" by "Ultra HD"), which catches products
  of brands the catalog does not even carry.

The facts of the products a string is about (`about`) license everything; the context (related
products, the shopper's words, the catalog's category names) licenses names, brands, model
numbers, numbers and amounts, never a link, a phone number or a claim: a shopper asking for
"free shipping" does not make it true. Quoting the system prompt is checked where every answer
passes, in the LLM stage (`quotes`). Templates that echo words they did not write pass them
through `plain` (app/domain/statements.py, which reads the parts of a text). Pure; no I/O.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.domain import statements as s
from app.domain.models import Product, ScoredProduct

CHECKS = (
    "length",
    "markup",
    "link",
    "contact",
    "prompt",
    "price",
    "claim",
    "brand",
    "model",
    "number",
    "name",
    "untraceable",  # a search text with words the shopper never used (ground_query)
)


@dataclass(frozen=True, slots=True)
class Limits:
    min_words: int  # words of two or more letters
    max_chars: int


REASON = Limits(1, 300)
RATIONALE = Limits(3, 400)
REPLY = Limits(3, 800)
QUERY = Limits(1, 200)


def product_text(p: Product) -> str:
    """Everything a product says about itself, as one text: what a string about it may state."""
    attributes = " ".join(f"{k.replace('_', ' ')} {v}" for k, v in p.attributes.items())
    return f"{p.id} {p.title} {p.brand} {p.category} {p.description} {attributes}"


class Facts:
    """Texts that license statements: their folded text, and, read from it when first asked for
    (most strings fail or pass on the first few checks), its word stems, numbers, compact tokens
    (letters and digits only, for model numbers), phone numbers and prices. A union (`a | b`)
    reads each of its parts once, however many strings are checked against it."""

    def __init__(self, text: str = "", prices: Iterable[tuple[float, str | None]] = ()) -> None:
        self.text = text
        self._given = tuple(prices)
        self._parts: tuple[Facts, ...] = ()

    @classmethod
    def of(cls, *texts: str, prices: Iterable[tuple[float, str | None]] = ()) -> Facts:
        """`prices` in a currency; an amount written in the texts licenses itself in any."""
        return cls(" ".join(" ".join(t.split()) for t in texts if t).casefold(), prices)

    @classmethod
    def products(cls, products: Iterable[Product]) -> Facts:
        products = list(products)
        return cls.of(
            *(product_text(p) for p in products),
            prices=[(round(p.price, 2), p.currency.upper()) for p in products if p.price is not None],
        )

    def __or__(self, other: Facts) -> Facts:
        union = Facts(f"{self.text} {other.text}".strip())
        union._parts = (*(self._parts or (self,)), *(other._parts or (other,)))
        return union

    @functools.cached_property
    def prices(self) -> tuple[tuple[float, str | None], ...]:
        """(amount, currency; None: any currency)."""
        if self._parts:
            return tuple(p for part in self._parts for p in part.prices)
        return (*self._given, *((a.value, None) for a in s.amounts(self.text)))

    @functools.cached_property
    def words(self) -> frozenset[str]:
        if self._parts:
            return frozenset().union(*(part.words for part in self._parts))
        return frozenset(s.stem(w) for w in set(s.WORD.findall(self.text)))

    @functools.cached_property
    def numbers(self) -> frozenset[float]:
        if self._parts:
            return frozenset().union(*(part.numbers for part in self._parts))
        return frozenset(s.numbers(self.text) | {a for a, _ in self.prices})

    @functools.cached_property
    def compact(self) -> str:
        if self._parts:
            return " ".join(part.compact for part in self._parts)
        return re.sub(r"[^0-9a-z ]", "", self.text)

    @functools.cached_property
    def phones(self) -> frozenset[str]:
        if self._parts:
            return frozenset().union(*(part.phones for part in self._parts))
        return frozenset(s.phones(self.text))


class BrandNames:
    """A catalog's brand names as word sequences, indexed by first word: the brands a text names
    are found in one pass over its words."""

    def __init__(self, brands: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for brand in dict.fromkeys(brands):
            words = tuple(w.casefold() for w in s.WORD.findall(brand))
            if words:
                self._by_first.setdefault(words[0], []).append((words, brand))

    def named(self, text: str, *, as_names: bool) -> set[str]:
        """The brands `text` names. With `as_names`, a single plain word counts only when it is
        written as a name ("Sharp", "SHARP"), so "a sharp picture" or "act now" do not name the
        brands Sharp and ACT; names of several words or with digits always count."""
        words = s.WORD.findall(text)
        folded = [w.casefold() for w in words]
        found: set[str] = set()
        for i, first in enumerate(folded):
            for name, brand in self._by_first.get(first, ()):
                if tuple(folded[i : i + len(name)]) != name:
                    continue
                plain_word = len(name) == 1 and words[i].isalpha() and not words[i][:1].isupper()
                if not (as_names and plain_word):
                    found.add(brand)
        return found

    @staticmethod
    def in_text(brand: str, text: str) -> bool:
        """Whether `text` (folded) names `brand` anywhere, in any case."""
        pattern = r"\W+".join(re.escape(w.casefold()) for w in s.WORD.findall(brand))
        return re.search(rf"(?<![^\W_]){pattern}(?![^\W_])", text) is not None


@functools.lru_cache(maxsize=16)
def brand_names(brands: tuple[str, ...]) -> BrandNames:
    """Built once per vocabulary (a catalog has thousands of brands)."""
    return BrandNames(brands)


def _price_ok(amount: s.Amount, prices: Sequence[tuple[float, str | None]]) -> bool:
    for price, currency in prices:
        if amount.currency is not None and currency is not None and amount.currency != currency:
            continue
        if abs(amount.value - price) < 0.005 or (
            not amount.cents and amount.value == math.floor(price + 0.5)
        ):
            return True
    return False


def _model_ok(token: str, evidence: Facts) -> bool:
    if re.sub(r"[^0-9a-z]", "", token.casefold()) in evidence.compact:
        return True
    value = s.measure(token)
    return value is not None and value in evidence.numbers


def _number_ok(raw: str, value: float, evidence: Facts) -> bool:
    """ "10,100" is ten thousand one hundred, or 10 and 100 in a list: either will do."""
    if value in evidence.numbers:
        return True
    parts = [s.number(p) for p in raw.split(",")]
    return len(parts) > 1 and all(p in evidence.numbers for p in parts)


def _name_ok(name: str, evidence: Facts) -> bool:
    if {s.stem(w) for w in s.WORD.findall(name)} - s.STOP - s.UNITS <= evidence.words:
        return True
    return s.acronym(name) and s.spelled_by(name.casefold(), evidence.text)


@dataclass(frozen=True, slots=True)
class Grounds:
    """What an LLM-written string may draw on besides the products it is about: `context` (related
    products, the shopper's words, the catalog's category names) and the catalog's `brands`."""

    context: Facts = field(default_factory=Facts)
    brands: BrandNames = field(default_factory=lambda: BrandNames(()))

    def check(self, text: str, about: Facts, limits: Limits, *, prose: bool = True) -> str | None:
        """The first check `text` fails (one of CHECKS), or None when everything it states is
        grounded in `about` or the context. `prose`: a sentence, where a brand that is also a
        plain word ("sharp") names the brand only when capitalised; a search text is not prose."""
        if len(text) > limits.max_chars or s.letter_words(text) < limits.min_words:
            return "length"
        if s.markup(text):
            return "markup"
        return self._own(text, about) or self._supported(text, about | self.context, prose=prose)

    def _own(self, text: str, about: Facts) -> str | None:
        """What only the products' own facts license: links, contacts, claims; and amounts."""
        if any(link.casefold() not in about.text for link in s.links(text)):
            return "link"
        if not s.phones(text) <= about.phones:
            return "contact"
        if s.instructions(text):
            return "prompt"
        amounts = s.amounts(text)
        if amounts and any(not _price_ok(a, [*about.prices, *self.context.prices]) for a in amounts):
            return "price"
        if any(claim not in about.text.replace(" %", "%") for claim in s.claims(text)):
            return "claim"
        return None

    def _supported(self, text: str, evidence: Facts, *, prose: bool) -> str | None:
        """What the facts or the context license: brands, model numbers, numbers, names."""
        if any(not BrandNames.in_text(b, evidence.text) for b in self.brands.named(text, as_names=prose)):
            return "brand"
        rest = s.without_contacts(text)
        if any(not _model_ok(token, evidence) for token in s.model_tokens(rest)):
            return "model"
        for raw, value in s.loose_numbers(rest):
            if len(re.sub(r"\D", "", raw)) >= 2 and not _number_ok(raw, value, evidence):
                return "number"
        if any(not _name_ok(name, evidence) for name in s.names(rest)):
            return "name"
        return None


def quotes(strings: Iterable[str], instructions: str) -> bool:
    """Whether any of `strings` repeats six words in a row of `instructions` (a system prompt):
    an answer that quotes its instructions was steered by the text it was given."""
    secret = s.shingles(instructions)
    return any(s.shingles(text) & secret for text in strings)


# The assistant's reply, a bundle's rationale -------------------------------------------------

_MARKER = re.compile(r"\[([^\[\]\s]{1,200})\]")


@dataclass(frozen=True, slots=True)
class Grounded:
    text: str
    cited: tuple[str, ...] = ()  # ids the text cites, in order
    failed: str | None = None  # the check it failed (CHECKS); None: grounded


def ground_reply(
    reply: str, items: Sequence[ScoredProduct], grounds: Grounds, limits: Limits = REPLY
) -> Grounded:
    """The text with its [id] markers replaced by the titles of returned items (unknown ones
    removed, never shown), checked against the returned items' facts."""
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
    failed = grounds.check(text, Facts.products(by_id.values()), limits)
    return Grounded(text, tuple(dict.fromkeys(cited)), failed)


# Per-item reasons ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reasons:
    """An answer's per-item reasons: the grounded ones, and for each other one the check it failed
    (the caller shows its deterministic reason instead)."""

    text: dict[str, str] = field(default_factory=dict)
    ungrounded: dict[str, str] = field(default_factory=dict)


def ground_reasons(
    raw: Mapping[str, str], products: Mapping[str, Product], grounds: Grounds, limits: Limits = REASON
) -> Reasons:
    """Each reason checked against the facts of the one product it explains."""
    kept: dict[str, str] = {}
    ungrounded: dict[str, str] = {}
    for pid, reason in raw.items():
        if pid not in products:
            continue  # not asked about: the parsers drop these already
        failed = grounds.check(reason, Facts.products([products[pid]]), limits)
        if failed is None:
            kept[pid] = reason
        else:
            ungrounded[pid] = failed
    return Reasons(kept, ungrounded)


# What the LLM reads out of a conversation --------------------------------------------------


def ground_query(text: str, said: str, grounds: Grounds, limits: Limits = QUERY) -> str | None:
    """The check a search text read out of a conversation fails, or None: the usual checks with
    the shopper's words as the facts, and every content word traceable to the shopper's words
    (stemmed) or to the context (the catalog's category names): a reading, not a rewrite."""
    words = Facts.of(said)
    failed = grounds.check(text, words, limits, prose=False)
    if failed is not None:
        return failed
    known = words.words | grounds.context.words
    content = [w for w in s.WORD.findall(text.casefold()) if w not in s.STOP]
    if not content or any(s.stem(w) not in known for w in content):
        return "untraceable"
    return None
