"""What a text states, read in parts: links, phone numbers, amounts of money, commercial claims,
instruction-like phrases, model numbers, numbers and names. The patterns grounding reads an
LLM-written string with (app/domain/grounding.py judges each part against the facts); pure
functions, no I/O.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

WORD = re.compile(r"[^\W_]+")
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")
_MARKUP = re.compile(r"<\s*/?\s*[a-z!][^>]*>|\b(?:javascript|data|vbscript)\s*:", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.\S+|\b(?:mailto|tel|sms):\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A bare domain: common and abused top-level domains only, so "e.g." or "2.1" are not domains.
_DOMAIN = re.compile(
    r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|info|biz|io|co|shop|store|online|site|xyz|top|app|example|link|click|ly|uk|de"
    r"|ru|cn|eu|fr|nl|es|ca|au|jp|tk|ws|cc|gg|su|zip|mov)(?![\w-])",
    re.IGNORECASE,
)
# "555-0199", "(555) 010-0199", "+1 555 010 0199", "1-800-265-1844": groups of digits with
# separators, ending in four; a part number ("44059105") or a list ("75 100 200") is not one.
_PHONE = re.compile(
    r"(?<![\w.,])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?(?:\d{2,4}[ .-]){1,3}\d{4}(?![\w]|[.,]\d)"
)
_PHONE_DIGITS = 7
_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_MONEY = re.compile(
    rf"(?P<symbol>[$€£])\s?(?P<a1>{_AMOUNT})"
    rf"|\b(?P<code1>USD|EUR|GBP|CHF)\s?(?P<a2>{_AMOUNT})"
    rf"|(?<![\w.,])(?P<a3>{_AMOUNT})\s?(?P<code2>USD|EUR|GBP|CHF|dollars?|euros?|pounds?|bucks)\b",
    re.IGNORECASE,
)
_MONEY_HINT = re.compile(r"[$€£]|usd|eur|gbp|chf|dollar|pound|buck", re.IGNORECASE)
_CURRENCIES = {
    "$": "USD", "€": "EUR", "£": "GBP", "usd": "USD", "eur": "EUR", "gbp": "GBP", "chf": "CHF",
    "dollar": "USD", "dollars": "USD", "bucks": "USD", "euro": "EUR", "euros": "EUR",
    "pound": "GBP", "pounds": "GBP",
}  # fmt: skip
_PERCENT = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
# Commercial claims: the shop's to make, never a model's (a product's facts may still make one).
_CLAIMS = re.compile(
    r"\bfree (?:shipping|delivery|postage|returns?|gifts?|trial)\b|\bbest[- ]?(?:price|deal|value|sell\w*)\b"
    r"|\btoday\b|\btonight\b|\blimited[- ]time\b|\bonly (?:\w+ )?left\b"
    r"|\bact now\b|\bhurry\b|\bbuy now\b|\border now\b|\bcall (?:now|us)\b|\bon sale\b|\bsale price\b"
    r"|\bdiscount\w*|\bcoupon\w*|\bpromo\w*|\bclearance\b|\bdeals?\b|\boff (?:today|now|the price)\b"
    r"|\bsave (?:up to )?(?:[$€£\d]|big\b)|\bmoney[- ]back\b|\bguarantee\w*|#\s?1\b|\bnumber one\b"
    r"|\btop[- ]rated\b|\baward[- ]winning\b|\bwhile (?:stocks?|supplies) last\b|\bexclusive offer\b",
    re.IGNORECASE,
)
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget) (?:all |any |the |your |my )?(?:previous |prior |above |earlier )?"
    r"(?:instructions|rules|prompts?)\b|\bsystem (?:prompt|message)\b|\bmy instructions\b|\bas an ai\b"
    r"|\byou are now\b|\bdeveloper mode\b|\bjailbreak|<\|[a-z_]+\|>|\[/?inst\]",
    re.IGNORECASE,
)
_MODEL_TOKEN = re.compile(r"(?<![\w/-])(?=[\w/-]*\d)(?=[\w/-]*[a-zA-Z])[a-zA-Z0-9][\w/-]{2,}(?![\w/-])")
_MEASURE = re.compile(r"(\d+(?:[.,]\d+)?)-?([a-z]+)")  # "55-inch", "16gb", "65w": a number, a unit
_NUMBER = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)(?!\w)")
_ANY_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)(?<![\w-])([A-Z][\w-]+)")
_ACRONYM = re.compile(r"[A-Z]{2,5}")
_SHINGLE = 6

# Words that name nothing: function words, and unit symbols written capitalised ("100 Hz").
STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "for",
        "with",
        "without",
        "to",
        "in",
        "on",
        "at",
        "by",
        "from",
        "my",
        "me",
        "i",
        "we",
        "you",
        "your",
        "our",
        "some",
        "any",
        "this",
        "that",
        "these",
        "those",
        "is",
        "are",
        "be",
        "it",
        "its",
        "as",
        "please",
        "want",
        "need",
        "looking",
        "show",
        "find",
        "get",
        "give",
    ]
)
UNITS = frozenset(
    "hz khz mhz ghz kb mb gb tb mbps gbps w kw wh mah v mm cm kg lb oz dpi ppm rpm db nm ms".split()  # noqa: SIM905
)


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude English stem, enough to match "speakers" with "speaker" or "charging" with
    "charge": plural and -ing/-ed endings."""
    w = word.casefold()
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("ches", "shes", "sses", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    if len(w) > 5 and w.endswith("ing"):
        return w[:-3]
    if len(w) > 4 and w.endswith("ed"):
        return w[:-2]
    return w


def letter_words(text: str) -> int:
    """How many words of two or more letters `text` has."""
    return len(_LETTER_WORD.findall(text))


def number(raw: str) -> float | None:
    """ "1,299.00" -> 1299.0, "19,99" -> 19.99."""
    thousands = re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw)
    try:
        value = float(raw.replace(",", "") if thousands else raw.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numbers(text: str) -> set[float]:
    """Every number written in `text`, wherever it stands ("55\"", "3840 x 2160", "-40 - 60"),
    and every run of digits in it ("802.3ab" has 802.3, 802 and 3; "52.5x29.7 mm" has 52)."""
    found = {number(m) for m in _ANY_NUMBER.findall(text)} | {float(d) for d in re.findall(r"\d+", text)}
    return {n for n in found if n is not None and math.isfinite(n)}


def markup(text: str) -> bool:
    return _MARKUP.search(text) is not None


def links(text: str) -> list[str]:
    """URLs, bare domains and e-mail addresses, trailing punctuation left out."""
    found = [m.group() for p in (_URL, _EMAIL, _DOMAIN) for m in p.finditer(text)]
    return [link.rstrip(".,;:!?)") for link in found]


def phones(text: str) -> set[str]:
    """The digits of every phone-number-like run (seven digits or more, with separators)."""
    out: set[str] = set()
    if not _PHONE.search(text):
        return out  # most texts have none: no need to blank out their amounts
    for m in _PHONE.finditer(_masked(text, _MONEY)):  # "$11040.95" is no phone number
        digits = re.sub(r"\D", "", m.group())
        if len(digits) >= _PHONE_DIGITS:
            out.add(digits)
    return out


def instructions(text: str) -> bool:
    """Whether `text` talks like a prompt ("ignore previous instructions", "system prompt")."""
    return _INSTRUCTIONS.search(text) is not None


@dataclass(frozen=True, slots=True)
class Amount:
    value: float
    currency: str | None  # None: no currency said ("50 bucks" is USD; "50" alone is no amount)
    cents: bool  # written with cents ("$40.95"), so it must match to the cent


def amounts(text: str) -> list[Amount]:
    """Every amount of money written in `text`: "$40.95", "€12", "12.00 USD", "50 dollars"."""
    out: list[Amount] = []
    if not _MONEY_HINT.search(text):
        return out  # no currency sign or word: no amount (the full pattern is slow on long texts)
    for m in _MONEY.finditer(text):
        raw = m.group("a1") or m.group("a2") or m.group("a3")
        unit = m.group("symbol") or m.group("code1") or m.group("code2") or ""
        value = number(raw)
        if value is not None:
            out.append(Amount(value, _CURRENCIES.get(unit.casefold()), bool(re.search(r"[.,]\d{1,2}$", raw))))
    return out


def claims(text: str) -> list[str]:
    """Commercial claims ("free shipping", "best price", "today only", "#1") and percentages
    ("30% off", "100% cotton"), folded: a product's facts may make them, a model may not."""
    found = [m.group().casefold() for m in _CLAIMS.finditer(text)]
    return found + [re.sub(r"\s", "", m.group().casefold()) for m in _PERCENT.finditer(text)]


def _masked(text: str, *patterns: re.Pattern[str]) -> str:
    for pattern in patterns:
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text


def without_links(text: str) -> str:
    """`text` with its links, e-mail addresses and phone numbers blanked out (amounts kept)."""
    return _masked(_masked(text, _URL, _EMAIL, _DOMAIN), _PHONE)


def without_contacts(text: str) -> str:
    """`text` with its links, e-mail addresses, amounts, percentages and phone numbers blanked
    out (same length, so positions and sentence starts are kept)."""
    return _masked(_masked(text, _URL, _EMAIL, _DOMAIN, _MONEY, _PERCENT), _PHONE)


def model_tokens(text: str) -> list[str]:
    """Tokens of letters and digits that read like a model number ("WH-1000XM4", "55-inch")."""
    return list(_MODEL_TOKEN.findall(text))


def measure(token: str) -> float | None:
    """The number of a number-and-unit token ("55-inch" -> 55), else None."""
    m = _MEASURE.fullmatch(token.casefold())
    return number(m.group(1)) if m else None


def loose_numbers(text: str) -> list[tuple[str, float]]:
    """(as written, value) of the numbers standing on their own, model numbers left out."""
    rest = _masked(text, _MODEL_TOKEN)
    return [(raw, value) for raw in _NUMBER.findall(rest) if (value := number(raw)) is not None]


def names(text: str) -> list[str]:
    """Capitalised words inside a sentence (a sentence's first word is no name)."""
    return list(_NAME.findall(text))


def acronym(name: str) -> bool:
    return _ACRONYM.fullmatch(name) is not None


def spelled_by(acronym: str, text: str) -> bool:
    """Whether consecutive words of `text` spell `acronym` by first letters or whole short words
    ("uhd" in "4k ultra hd", "psu" in "power supply unit")."""
    words = WORD.findall(text)
    for start in range(len(words)):
        rest, i = acronym, start
        while rest and i < len(words):
            word = words[i]
            if len(word) <= len(rest) and rest.startswith(word):
                rest = rest[len(word) :]
            elif word[0] == rest[0]:
                rest = rest[1:]
            else:
                break
            i += 1
        if not rest:
            return True
    return False


def shingles(text: str) -> set[tuple[str, ...]]:
    """Every run of six words: two texts sharing one, one quotes the other."""
    words = re.findall(r"[a-z0-9]+", text.casefold())
    return {tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


def plain(text: str) -> str:
    """`text` without links, e-mail addresses, phone numbers or amounts of money: what a template
    may echo of words it did not write (the shopper's, or an LLM's reading of them)."""
    return " ".join(without_contacts(text).split()).strip(" ,;:-")
