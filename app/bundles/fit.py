"""Does an accessory fit a device, and why? Pure functions over the two products.

Strongest first:

- `statement`: the accessory's own compatibility statement names the device (compatibility.py:
  one of the device's model tokens, "M9040dn", matched in `compatibility`);
- `model`: the accessory's title or description names the device's model: a model key of the
  device, an alphanumeric model number of 4+ characters ("D7160", "P2055d") or its series word
  with the number that follows it ("Photosmart 735", "EOS 500D"), found in the accessory's text
  ("AC-Adapter PhotoSmart D7160", "Replacement Lamp for P5260E"); a key that the text names with
  a letter suffix ("P2055dn") or without one ("P2055") counts, a different number does not;
- `series`: the accessory names the device's series word ("for Dell Latitude", "iPAQ") but no
  model of it;
- `kind`: the accessory's text names the device's kind ("camera case", "notebook battery");
- `brand`: the accessory is the device's brand, or says it is made for that brand
  (`brand_compatibility`).

Model and series matches need the brands to agree (the same brand, or the device's brand named
in the accessory's text or brand compatibility): model numbers collide across makers. A
statement or a model match is a verified fit (`verified`); series, kind and brand are affinities.
`misfit` is the hard constraint: the accessory's statement names other devices only, or its text
names another model of the device's own series ("battery for Photosmart M407" for a Photosmart 735).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from app.bundles.compatibility import compatibility_text, fits
from app.domain.models import Product, filter_key

FitKind = Literal["statement", "model", "series", "kind", "brand"]
STRENGTH: dict[FitKind, int] = {"statement": 5, "model": 4, "series": 3, "kind": 2, "brand": 1}
# Makers of the devices above: an accessory of one of them, or naming one, is for its devices.
MAKERS = frozenset(
    [
        "acer",
        "apple",
        "asus",
        "brother",
        "canon",
        "casio",
        "dell",
        "epson",
        "fujifilm",
        "hp",
        "kodak",
        "konica",
        "kyocera",
        "lenovo",
        "lexmark",
        "lg",
        "minolta",
        "nikon",
        "oki",
        "olympus",
        "panasonic",
        "pentax",
        "ricoh",
        "samsung",
        "sharp",
        "sony",
        "toshiba",
        "xerox",
    ]
)
# What an accessory's text calls a device of these categories ("camera bag", "notebook battery").
KIND_WORDS: dict[str, tuple[str, ...]] = {
    "cameras": ("camera", "cameras", "camcorder", "camcorders", "dslr"),
    "printers & scanners": ("printer", "printers", "scanner", "scanners", "mfp"),
    "laptops": ("notebook", "notebooks", "laptop", "laptops", "ultrabook"),
    "phones": ("phone", "phones", "smartphone", "smartphones", "mobile"),
    "tablets & e-readers": ("tablet", "tablets", "ipad", "e-reader", "pda"),
    "tv & video": ("tv", "tvs", "television", "projector", "projectors"),
    "monitors": ("monitor", "monitors", "display", "displays"),
    "desktops & workstations": ("desktop", "desktops", "workstation", "workstations"),
    "servers": ("server", "servers"),
}
VERIFIED: frozenset[FitKind] = frozenset({"statement", "model"})

_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
QUANTITY = re.compile(
    r"^\d+([.,]\d+)?(gb|tb|mb|kb|w|mm|cm|m|v|mah|wh|hz|khz|mhz|ghz|in|inch|x|p|pcs|pc|ml|g|kg|ppm|dpi|bit|mp|"
    r"ft|nm|ms|lm|k|th|rd|nd|st|gen)?$|^\d+in\d+$"  # "2in1" is no model either
)
_NAME_WORDS = 5  # a title names its product in the first few words after the brand
_MIN_KEY = 4
_MAX_SUFFIX = 3  # "P2055" names "P2055dn"; "P2055dnx2" is no variant of it
# Words that open a title's name part but are no series: kinds, qualities, common marketing words.
_NOT_SERIES_WORDS = (
    "the digital camera compact camcorder notebook laptop printer scanner tablet smartphone mobile "
    "phone smart pro plus mini wireless black white silver grey gray blue red new original "
    "compatible replacement genuine for with and universal standard high capacity series color colour"
)
_NOT_SERIES = frozenset(_NOT_SERIES_WORDS.split())


@dataclass(frozen=True, slots=True)
class Fit:
    kind: FitKind
    evidence: str  # what matched: a model key, a series word, a brand

    @property
    def verified(self) -> bool:
        return self.kind in VERIFIED


@functools.lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text.casefold()))


def _is_model_number(token: str) -> bool:
    flat = token.replace("-", "")
    return (
        len(flat) >= _MIN_KEY
        and any(c.isdigit() for c in flat)
        and any(c.isalpha() for c in flat)
        and not QUANTITY.match(flat)
    )


def _is_number(token: str) -> bool:
    """A model number after a series word: "735" (Photosmart 735), "5d", "m407"; not a quantity
    ("8gb") nor a short count ("2")."""
    flat = token.replace("-", "")
    if flat.isdigit():
        return 3 <= len(flat) <= 6
    return any(c.isdigit() for c in flat) and not QUANTITY.match(flat) and len(flat) <= 8


def _name_part(device: Product) -> tuple[str, ...]:
    """The title's words that name the product: after the brand, before the specs."""
    tokens = _tokens(device.title)
    brand = _tokens(device.brand)
    if brand and tokens[: len(brand)] == brand:
        tokens = tokens[len(brand) :]
    return tokens[:_NAME_WORDS]


def series_word(device: Product) -> str | None:
    for token in _name_part(device):
        if token.isalpha() and len(token) >= 3 and token not in _NOT_SERIES:
            return token
        if any(c.isdigit() for c in token):
            return None  # the model number came first: no series word before it
    return None


def model_keys(device: Product) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """(model numbers, (series word, number) pairs) that name this device."""
    return _model_keys(device.title, device.brand)


@functools.lru_cache(maxsize=4096)
def _model_keys(title: str, brand: str) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    name = _name_part(Product("", title, brand))
    numbers = frozenset(t.replace("-", "") for t in name if _is_model_number(t))
    pairs = frozenset(
        (a, b.replace("-", ""))
        for a, b in pairwise(name)
        if a.isalpha() and len(a) >= 2 and a not in _NOT_SERIES and _is_number(b)
    )
    return numbers, pairs


def _variant(named: str, key: str) -> bool:
    """`named` (in the accessory's text) names model `key`: the same, or one with a short letter
    suffix more or less ("P2055" ~ "P2055d" ~ "P2055dn")."""
    if named == key:
        return True
    short, long = (named, key) if len(named) < len(key) else (key, named)
    rest = long[len(short) :]
    return (
        len(short) >= _MIN_KEY
        and long.startswith(short)
        and rest.isalpha()
        and len(rest) <= _MAX_SUFFIX
        and any(c.isdigit() for c in short)
    )


def _text(accessory: Product) -> str:
    return " ".join(
        x for x in (accessory.title, accessory.description, compatibility_text(accessory) or "") if x
    )


def _brands_agree(accessory: Product, device: Product, tokens: Sequence[str]) -> bool:
    brand = filter_key(device.brand)
    if not brand:
        return False
    if filter_key(accessory.brand) == brand:
        return True
    said = accessory.attributes.get("brand_compatibility")
    if isinstance(said, str) and brand in filter_key(said):
        return True
    words = _tokens(device.brand)
    return bool(words) and any(tokens[n : n + len(words)] == words for n in range(len(tokens)))


def _cased(device: Product, key: str) -> str:
    """The words of the device's title a key was made from, as the title writes them."""
    words = device.title.split()
    flat = [re.sub(r"[^a-z0-9]", "", w.casefold()) for w in words]
    parts = key.split(" ")
    for n in range(len(flat) - len(parts) + 1):
        if flat[n : n + len(parts)] == parts:
            return " ".join(words[n : n + len(parts)])
    return key


def _series_before(flat: Sequence[str], n: int) -> str | None:
    """The word that a list of numbers at `n` follows: "designjet" for "DesignJet 5000/5500"."""
    for token in reversed(flat[max(n - 4, 0) : n]):
        if token.isalpha():
            return token
        if not _is_number(token):
            return None
    return None


def _other_series(before: str | None, series: str | None) -> bool:
    """The word before a number names a series that is not the device's ("Designjet 5500" is no
    LaserJet 5500n)."""
    return (
        series is not None
        and before is not None
        and before != series
        and len(before) >= 3
        and before not in _NOT_SERIES
    )


def _model_match(tokens: Sequence[str], device: Product) -> str | None:
    numbers, pairs = model_keys(device)
    flat = [t.replace("-", "") for t in tokens]
    series = series_word(device)
    for n, token in enumerate(flat):
        for key in numbers:
            if _variant(token, key) and not _other_series(_series_before(flat, n), series):
                return key
    for a, b in pairwise(flat):
        for series, number in pairs:
            if (a == series and _variant(b, number)) or f"{a}{b}" == f"{series}{number}":
                return f"{series} {number}"
    return None


def _other_model_of_series(tokens: Sequence[str], device: Product) -> bool:
    """The text names the device's series followed by a model number that is not the device's."""
    series = series_word(device)
    if series is None:
        return False
    numbers, pairs = model_keys(device)
    mine = numbers | {n for s, n in pairs if s == series}
    if not mine:
        return False
    flat = [t.replace("-", "") for t in tokens]
    named = [b for a, b in pairwise(flat) if a == series and _is_number(b)]
    return bool(named) and not any(_variant(n, m) for n in named for m in mine)


def _another_makers(accessory: Product, device: Product, tokens: Sequence[str]) -> bool:
    """The accessory is another device maker's, or names one ("Canon eyecup", "replaces Canon
    NB-7L" for an HP camera): for its kind, not for this device."""
    mine = filter_key(device.brand)
    if filter_key(accessory.brand) in MAKERS and filter_key(accessory.brand) != mine:
        return True
    return any(t in MAKERS and t != mine for t in tokens)


def fit(accessory: Product, device: Product) -> Fit | None:
    """The strongest reason the accessory goes with the device, or None."""
    if fits(accessory, device) is True:
        return Fit("statement", device.title)
    tokens = _tokens(_text(accessory))
    agree = _brands_agree(accessory, device, tokens)
    if agree:
        key = _model_match(tokens, device)
        if key is not None:
            return Fit("model", _cased(device, key))
        series = series_word(device)
        if series is not None and series in tokens and not _other_model_of_series(tokens, device):
            return Fit("series", _cased(device, series))
    kind = next((w for w in KIND_WORDS.get(filter_key(device.category), ()) if w in tokens), None)
    if kind is not None and not _another_makers(accessory, device, tokens):
        return Fit("kind", kind)
    if filter_key(accessory.brand) == filter_key(device.brand) and device.brand:
        return Fit("brand", device.brand)
    said = accessory.attributes.get("brand_compatibility")
    if isinstance(said, str) and device.brand and filter_key(device.brand) in filter_key(said):
        return Fit("brand", device.brand)
    return None


def fit_terms(devices: Iterable[Product]) -> str | None:
    """Words to look up accessories that may name these devices (a lexical query): their model
    numbers as written and without a letter suffix, and the numbers a statement lists them by."""
    words: list[str] = []
    for device in devices:
        numbers, pairs = model_keys(device)
        words += sorted(numbers) + sorted(n.rstrip("abcdefghijklmnopqrstuvwxyz") for n in numbers)
        words += sorted(n for _, n in pairs)
        words += [t for t in _name_part(device) if any(c.isdigit() for c in t)]
    kept = [w for w in dict.fromkeys(words) if len(w.replace("-", "")) >= 3 and not QUANTITY.match(w)]
    return " ".join(kept) or None


def misfit(accessory: Product, devices: Iterable[Product]) -> bool:
    """The accessory says it is for other devices than every one of these: its statement names
    none of them, or its text names another model of each one's series."""
    tokens = _tokens(_text(accessory))
    verdicts = []
    for device in devices:
        found = fit(accessory, device)
        if found is not None and found.verified:
            return False
        verdicts.append(fits(accessory, device) is False or _other_model_of_series(tokens, device))
    return bool(verdicts) and all(verdicts)


def strongest(accessory: Product, devices: Sequence[Product]) -> Fit | None:
    found = [f for d in devices if (f := fit(accessory, d)) is not None]
    return max(found, key=lambda f: STRENGTH[f.kind], default=None)
