"""Complement maps: which categories complete an anchor's category, from three sources.

- `merchandiser`: managed through the API (PUT /v1/catalogs/{c}/complements) or a config file,
  validated against the catalog's real categories;
- `learned`: computed from co-occurrence data, e.g. Icecat accessories' compatibility statements
  (which accessory categories name devices of which categories) or real outfits (which fashion
  categories are worn together): `aisle complements learn`;
The request's own `slots` and the LLM's proposal are the other two sources of the slot planner
(planner.py). A map is a value (app/domain/complements.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from app.bundles.compatibility import compatibility_text, model_tokens
from app.domain.complements import ComplementMap, ComplementSource
from app.domain.errors import InvalidRequest
from app.domain.models import Product, filter_key

MAX_SLOTS_PER_CATEGORY = 20


def validate_map(
    raw: object, categories: Iterable[str], source: ComplementSource, provenance: str = ""
) -> ComplementMap:
    """A map whose every category is one of the catalog's, or InvalidRequest naming the bad entry."""
    known = {filter_key(c) for c in categories}
    if not isinstance(raw, Mapping):
        raise InvalidRequest("complements", "must be an object: category -> [complement categories]")
    out: dict[str, tuple[str, ...]] = {}
    for anchor, slots in raw.items():
        key = filter_key(str(anchor))
        if key not in known:
            raise InvalidRequest(f"complements.{anchor}", "is not a category of this catalog")
        if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots):
            raise InvalidRequest(f"complements.{anchor}", "must be a list of category names")
        if len(slots) > MAX_SLOTS_PER_CATEGORY:
            raise InvalidRequest(f"complements.{anchor}", f"at most {MAX_SLOTS_PER_CATEGORY} complements")
        keys = [filter_key(s) for s in slots]
        unknown = [s for s, k in zip(slots, keys, strict=True) if k not in known]
        if unknown:
            raise InvalidRequest(f"complements.{anchor}", f"not categories of this catalog: {unknown}")
        if key in keys:
            raise InvalidRequest(f"complements.{anchor}", "a category cannot complement itself")
        out[key] = tuple(dict.fromkeys(keys))
    return ComplementMap(source, out, provenance)


def _ranked(
    pairs: Mapping[str, Counter[str]], min_count: int, top: int, min_share: float = 0.1
) -> dict[str, tuple[str, ...]]:
    """Per anchor, the `top` strongest complements seen at least `min_count` times and at least
    `min_share` as often as the strongest one (drops the long tail of coincidental matches)."""
    out = {}
    for anchor, counts in sorted(pairs.items()):
        ranked = counts.most_common(top)
        if not ranked:
            continue
        floor = max(min_count, min_share * ranked[0][1])
        kept = tuple(c for c, n in ranked if n >= floor)
        if kept:
            out[anchor] = kept
    return out


_GENERIC = {"", "other", "accessories"}  # too vague to plan a slot for, or to anchor one


def _distinctive(token: str) -> bool:
    """Learning needs tokens that name one model line: "m9040", "5000ps", "1320" (4+ digits) yes;
    "10", "145" (a number that many titles share) no."""
    has_letter = any(c.isalpha() for c in token)
    return (has_letter and len(token) >= 3) or (token.isdigit() and len(token) >= 4)


def _prefixes(token: str) -> list[str]:
    """A title token and its distinctive prefixes of at least 2/3 of its length, so "M404" in a
    statement meets "M404dn" in a title (learning is stricter than `fits`: at catalog scale,
    short prefixes collide)."""
    shortest = max(4, -(-2 * len(token) // 3))
    return [token[:n] for n in range(shortest, len(token) + 1) if _distinctive(token[:n])] or (
        [token] if _distinctive(token) else []
    )


def learn_from_compatibility(
    products: Sequence[Product], *, min_count: int = 2, top: int = 6
) -> ComplementMap:
    """Accessory category X complements device category Y when accessories of X state that they
    fit products of Y (exact model-token matches against the catalog's own titles)."""
    by_token: dict[str, set[int]] = defaultdict(set)
    for n, p in enumerate(products):
        for token in model_tokens(p.title):
            for prefix in _prefixes(token):
                by_token[prefix].add(n)
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    for accessory in products:
        statement = compatibility_text(accessory)
        if statement is None or filter_key(accessory.category) in _GENERIC:
            continue
        named: set[int] = set()
        for token in model_tokens(statement):
            if _distinctive(token):
                named |= by_token.get(token, set())
        device_categories = {
            filter_key(products[n].category) for n in named if products[n].id != accessory.id
        }
        for category in device_categories - {filter_key(accessory.category), *_GENERIC}:
            pairs[category][filter_key(accessory.category)] += 1
    for anchor in list(pairs):
        for generic in _GENERIC:
            pairs[anchor].pop(generic, None)
    return ComplementMap("learned", _ranked(pairs, min_count, top), "accessory compatibility statements")


def learn_from_outfits(
    outfits: Iterable[Iterable[str]], *, min_count: int = 5, top: int = 6
) -> ComplementMap:
    """Category Y complements X when they are worn together in real outfits; ranked by how often
    an outfit with X also has Y."""
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    for outfit in outfits:
        categories = {filter_key(c) for c in outfit}
        for a in categories:
            for b in categories - {a}:
                pairs[a][b] += 1
    return ComplementMap("learned", _ranked(pairs, min_count, top), "outfit co-occurrence")


def read_outfits(path: Path) -> list[set[str]]:
    """Pinterest "complete the look" style TSV: a header line, then one row per outfit item whose
    first column is the outfit's image signature and last column the item's category label."""
    outfits: dict[str, set[str]] = defaultdict(set)
    with path.open(encoding="utf-8") as f:
        next(f, None)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[-1].strip():
                outfits[parts[0]].add(parts[-1].strip())
    return list(outfits.values())
