"""Complement maps: which categories complete an anchor's category, by source.

- `merchandiser`: managed through the API (PUT /v1/catalogs/{c}/complements), validated against
  the catalog's real categories (`validate_map`);
- `learned`: computed from data: the catalog's own accessories that fit its devices (priors.py,
  at every ingest) or real outfits (which fashion categories are worn together, here), both
  ranked by lift: `aisle complements learn`;
- the curated defaults (defaults/), and the request's own `slots` and the LLM's proposal, are
  the slot planner's other sources (planner.py). A map is a value (app/domain/complements.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from app.domain.complements import ComplementMap, ComplementSource
from app.domain.errors import InvalidRequest
from app.domain.models import filter_key

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


def learn_from_outfits(
    outfits: Iterable[Iterable[str]], *, min_count: int = 5, top: int = 6
) -> ComplementMap:
    """Category Y complements X when real outfits with X hold Y more often than outfits at large:
    lift(X, Y) = P(X and Y) / (P(X) P(Y)) > 1 over outfits, with at least `min_count` outfits
    holding both; highest lift first. (Ranked by how often they are worn together, shoes, bags
    and tops came first for everything: common, so rarely particular to X; docs/bundles.md.)"""
    single: Counter[str] = Counter()
    joint: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    for outfit in outfits:
        categories = {filter_key(c) for c in outfit}
        total += 1
        single.update(categories)
        for a in categories:
            for b in categories - {a}:
                joint[a][b] += 1
    out = {}
    for a, counts in sorted(joint.items()):
        scored = [(n * total / (single[a] * single[b]), n, b) for b, n in counts.items() if n >= min_count]
        kept = [b for lift, _, b in sorted(scored, key=lambda x: (-x[0], -x[1], x[2])) if lift > 1.0]
        if kept:
            out[a] = tuple(kept[:top])
    return ComplementMap("learned", out, "outfit co-occurrence, ranked by lift")


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
