"""Category-pair priors learned from a whole catalog: which accessory categories complete which
device categories, ranked by lift.

Every (accessory, device) pair that verifiably fits (fit.py: the accessory's statement or its
text names the device's model) counts once for (device category Y, accessory category X). The
map keeps, per Y, the categories X with at least `min_count` fitting accessories whose lift is
above 1, highest lift first:

    lift(Y, X) = P(X | an accessory fits a Y) / P(X | an accessory fits anything)

Raw counts ranked ink & toner first for nearly every device (most accessories that state
compatibility are printer consumables); lift asks which accessories are *particular* to Y.

`learn_from_catalog` is pure and over any sequence of products; `relearn` reads everything a
catalog holds and stores its map: `aisle ingest` calls it after every run that changed the
catalog, and a write API can do the same.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import anyio.to_thread

from app.bundles.compatibility import compatibility_text
from app.bundles.fit import QUANTITY, fit, model_keys
from app.domain.complements import ComplementMap
from app.domain.models import Product, filter_key
from app.ports import ComplementStore, VectorIndex

CATALOG_PROVENANCE = "catalog: accessories that fit (statements, model numbers), ranked by lift"
GENERIC = frozenset({"", "other", "accessories"})  # too vague to plan a slot for, or to anchor one
MAX_NAMED = 40  # a key that 40+ products share names a product line, not a device
_TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LETTERS_AT_END = re.compile(r"[a-z]{1,3}$")


def _keys(product: Product) -> set[str]:
    """What a text may call this product by: its model numbers (and each without its letter
    suffix: "p2055d" -> "p2055"), its series + number pairs, and its name part's plain numbers
    (statements list them: "LaserJet 4200, 4300")."""
    numbers, pairs = model_keys(product)
    out = set(numbers) | {f"{s} {n}" for s, n in pairs} | {n for _, n in pairs}
    out |= {_LETTERS_AT_END.sub("", n) for n in numbers if n[-1].isalpha()}
    return {k for k in out if len(k) >= 3 and not QUANTITY.match(k)}


def _mentions(product: Product) -> set[str]:
    """Every key-shaped thing an accessory's title, description and statement say."""
    text = " ".join(x for x in (product.title, product.description, compatibility_text(product) or "") if x)
    tokens = [t.replace("-", "") for t in _TOKEN.findall(text.casefold())]
    out = {t for t in tokens if any(c.isdigit() for c in t)}
    out |= {_LETTERS_AT_END.sub("", t) for t in out}
    out |= {f"{a} {b}" for a, b in pairwise(tokens) if a.isalpha() and any(c.isdigit() for c in b)}
    return out


def fitting_pairs(products: Sequence[Product]) -> Iterator[tuple[int, int]]:
    """(accessory index, device index) for every pair that verifiably fits, across categories."""
    named: dict[str, set[int]] = defaultdict(set)
    for n, product in enumerate(products):
        for key in _keys(product):
            named[key].add(n)
    for a, accessory in enumerate(products):
        candidates: set[int] = set()
        for mention in _mentions(accessory):
            devices = named.get(mention)
            if devices and len(devices) < MAX_NAMED:
                candidates |= devices
        for d in sorted(candidates):
            device = products[d]
            if d == a or filter_key(device.category) == filter_key(accessory.category):
                continue
            found = fit(accessory, device)
            if found is not None and found.verified:
                yield a, d


def lift_ranked(pairs: Mapping[str, Counter[str]], *, min_count: int, top: int) -> dict[str, tuple[str, ...]]:
    """Per anchor category, the complements with at least `min_count` co-occurrences and a lift
    above 1, highest lift first (ties: more co-occurrences first)."""
    total = sum(sum(c.values()) for c in pairs.values())
    column: Counter[str] = Counter()
    for counts in pairs.values():
        column.update(counts)
    out = {}
    for anchor, counts in sorted(pairs.items()):
        row = sum(counts.values())
        scored = [
            (n * total / (row * column[c]), n, c) for c, n in counts.items() if n >= min_count and column[c]
        ]
        kept = [c for lift, n, c in sorted(scored, key=lambda x: (-x[0], -x[1], x[2])) if lift > 1.0]
        if kept:
            out[anchor] = tuple(kept[:top])
    return out


def learn_from_catalog(products: Sequence[Product], *, min_count: int = 3, top: int = 6) -> ComplementMap:
    """Accessory category X complements device category Y when accessories of X verifiably fit
    devices of Y more often than accessories fit devices in general (lift > 1)."""
    seen: dict[str, set[tuple[int, str]]] = defaultdict(set)  # Y -> {(accessory, X)}: once each
    for a, d in fitting_pairs(products):
        y, x = filter_key(products[d].category), filter_key(products[a].category)
        if y not in GENERIC and x not in GENERIC:
            seen[y].add((a, x))
    pairs = {y: Counter(x for _, x in found) for y, found in seen.items()}
    return ComplementMap("learned", lift_ranked(pairs, min_count=min_count, top=top), CATALOG_PROVENANCE)


async def catalog_products(index: VectorIndex, catalog: str, *, batch: int = 1000) -> list[Product]:
    """Everything a catalog holds (its ids from the index's fingerprints, then their records)."""
    ids = sorted(await index.fingerprints(catalog))
    out: list[Product] = []
    for start in range(0, len(ids), batch):
        out += [r.product for r in await index.retrieve(catalog, ids[start : start + batch])]
    return out


@dataclass(frozen=True, slots=True)
class Relearned:
    mapping: ComplementMap
    stored: bool
    note: str


async def relearn(index: VectorIndex, store: ComplementStore, catalog: str) -> Relearned:
    """Learn the catalog's map from everything it holds now and store it as its learned map,
    unless that map was learned from other data (real outfits: `aisle complements learn
    --from-outfits`), which a catalog without fits cannot improve on."""
    products = await catalog_products(index, catalog)
    mapping = await anyio.to_thread.run_sync(learn_from_catalog, products)
    current = await store.get(catalog, "learned")
    if current is not None and current.provenance != CATALOG_PROVENANCE and current.complements:
        return Relearned(mapping, False, f"kept the learned map from {current.provenance!r}")
    if not mapping.complements and current is None:
        return Relearned(mapping, False, "no accessory in the catalog states what it fits")
    await store.put(catalog, mapping)
    return Relearned(mapping, True, f"learned from {len(products)} products")
