"""Does an accessory fit a device? Read from the accessory's own compatibility statement.

Icecat accessories carry `compatibility` ("HP LaserJet 9000/9040/9050/M9040"), and some
`compatible_products`. A device is named when one of its model tokens (a title token with a
digit: "M9040dn", "5000ps", "EOS-5D") matches a token of that text, exactly or as a prefix of at
least 3 characters either way ("9040" names "9040dn"). Tokens that are quantities ("8GB", "10W",
"2.0", "1") never count. An accessory with no statement is `None` (unknown), not a misfit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.domain.models import Product

COMPATIBILITY_KEYS = ("compatibility", "compatible_products")
_SPLIT = re.compile(r"[\s,;/()&+|]+")
_QUANTITY = re.compile(
    r"^\d+([.,]\d+)?(gb|tb|mb|kb|w|mm|cm|m|v|mah|wh|hz|khz|mhz|ghz|in|inch|\"|x|p|pcs|pc|ml|g|kg|ppm|dpi|bit)?$"
)
_MIN_PREFIX = 3


def model_tokens(text: str) -> set[str]:
    """Model-number-like tokens: letters and/or digits with at least one digit, not a quantity."""
    out = set()
    for raw in _SPLIT.split(text.casefold()):
        token = raw.strip(".-_:'\"")
        if len(token) < 2 or not any(c.isdigit() for c in token) or _QUANTITY.match(token):
            continue
        out.add(token)
        if "-" in token:  # "eos-5d" also as "eos5d"
            out.add(token.replace("-", ""))
    return out


def compatibility_text(product: Product) -> str | None:
    parts = [
        str(product.attributes[k]) for k in COMPATIBILITY_KEYS if isinstance(product.attributes.get(k), str)
    ]
    return " ".join(parts) if parts else None


def _match(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= _MIN_PREFIX and long.startswith(short) and any(c.isdigit() for c in short)


def tokens_name(statement_tokens: Iterable[str], device_tokens: Iterable[str]) -> bool:
    device = list(device_tokens)
    return any(_match(s, d) for s in statement_tokens for d in device)


def fits(accessory: Product, device: Product) -> bool | None:
    """True if the accessory's statement names the device, False if it names only other devices,
    None if it makes no statement (or the device has no model token to recognise it by)."""
    statement = compatibility_text(accessory)
    if statement is None:
        return None
    device_tokens = model_tokens(device.title)
    if not device_tokens:
        return None
    return tokens_name(model_tokens(statement), device_tokens)
