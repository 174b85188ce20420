"""File products under the electronics taxonomy, learning from the catalog itself.

    seeds (embeddings/categories.py): type attributes that name a category, and titles that only
    one category's rule matches -> naive Bayes over every product's text (category_model.py),
    trained on those seeds -> each product's category:

    1. its type attributes' category, when they name one (they are the maker's own word);
    2. else the classifier's, when its posterior is at least `threshold`;
    3. else the first title rule that matches (the classifier is unsure, the rules still say
       something);
    4. else `Other`: genuinely unsure.

Pure and over any sequence of products, so a write API can file a batch the way `aisle ingest`
files a file (embeddings/readers.py `read_catalog`). With too few seeds to learn from (a handful
of products) the rules alone decide. docs/categories.md has the measured accuracy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from app.domain.models import Product
from embeddings.categories import seed
from embeddings.category_model import CategoryModel, features

THRESHOLD = 0.5
MIN_SEEDS = 20  # fewer confident seeds than this: nothing worth learning, the rules decide


@dataclass(frozen=True, slots=True)
class Filed:
    category: str
    source: str  # "type" | "classifier" | "rule" | "other"
    seeded: bool = False  # a confident seed the classifier learned from
    probability: float | None = None  # the classifier's posterior, when it was asked


_RULE_SOURCE = {"type": "type", "title": "rule", "none": "other"}


@dataclass(slots=True)
class CategorySummary:
    products: int = 0
    seeds: int = 0
    by_source: Counter[str] = field(default_factory=Counter)

    @property
    def other_rate(self) -> float:
        return self.by_source["other"] / self.products if self.products else 0.0

    def line(self) -> str:
        sources = ", ".join(f"{k} {v}" for k, v in self.by_source.most_common())
        return (
            f"categories: {self.products} products filed from {self.seeds} confident seeds "
            f"({sources}; Other {self.other_rate:.1%})"
        )


def file_products(products: Sequence[Product], *, threshold: float = THRESHOLD) -> list[Filed]:
    """Each product's category and how it was decided, in input order."""
    seeds = [seed(p.attributes, p.title) for p in products]
    confident = [n for n, s in enumerate(seeds) if s.confident]
    if len(confident) < MIN_SEEDS or len({seeds[n].category for n in confident}) < 2:
        return [Filed(s.category, _RULE_SOURCE[s.source], s.confident) for s in seeds]
    rows = [features(p) for p in products]
    model = CategoryModel.fit([rows[n] for n in confident], [seeds[n].category for n in confident])
    out = []
    for s, prediction in zip(seeds, model.predict(rows), strict=True):
        p = prediction.probability
        if s.source == "type":
            out.append(Filed(s.category, "type", s.confident, p))
        elif p >= threshold:
            out.append(Filed(prediction.label, "classifier", s.confident, p))
        else:
            out.append(Filed(s.category, _RULE_SOURCE[s.source], s.confident, p))
    return out


def categorize(
    products: Sequence[Product], *, threshold: float = THRESHOLD
) -> tuple[list[Product], CategorySummary]:
    """The products with their category filed (everything else unchanged), and how it went."""
    filed = file_products(products, threshold=threshold)
    summary = CategorySummary(
        products=len(products),
        seeds=sum(1 for f in filed if f.seeded),
        by_source=Counter(f.source for f in filed),
    )
    return [replace(p, category=f.category) for p, f in zip(products, filed, strict=True)], summary
