"""The Myntra fashion catalog as canonical products, for the bundle eval.

Myntra rows carry no category; it is derived from the product name's garment word, mapped onto the
13 categories of the Pinterest "complete the look" outfits so bundles can be checked against real
outfits. Rules are ordered (the first match wins: "shirt dress" is a dress). Names matching no rule
(home decor, perfume, ...) are "Other" and are never anchors. The data is read from ../shared and
never copied into the repo (its licence is not stated).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from app.domain.models import Product

RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rf"\b({pattern})\b"))
    for name, pattern in (
        ("Dresses", r"dress|dresses|jumpsuit|playsuit|gown|saree|lehenga|kurta set|kurta with"),
        ("Sunglasses", r"sunglasses"),
        ("Watches", r"watch|watches|smartwatch"),
        (
            "Jewelry",
            r"earrings?|necklace|jhumkas|ring|rings|bracelet|bangles?|pendant|studs|anklet|jewellery set|cufflinks|chain",
        ),
        ("Hats", r"cap|caps|hat|hats|beanie"),
        ("Scarves & Shawls", r"scarf|scarves|stole|shawl|dupatta|muffler"),
        ("Handbags", r"handbag|bag|bags|backpack|clutch|tote|sling|wallet|satchel|pouch"),
        (
            "Shoes",
            r"sneakers|shoes|flats|sandals|heels|derbys|flip-flops|pumps|slip-ons|loafers|ballerinas|wedges|mules|"
            r"boots|sliders|brogues|oxfords|mojaris|juttis",
        ),
        ("Coats & Jackets", r"jacket|jackets|blazer|blazers|coat|coats|windcheater|waistcoat|parka|gilet"),
        ("Skirts", r"skirt|skirts"),
        ("Shorts", r"shorts"),
        (
            "Pants",
            r"jeans|trousers|palazzos|chinos|joggers|pants|leggings|jeggings|cargos|churidar|pyjamas|track pants|"
            r"salwar|dhoti|patiala",
        ),
        (
            "Shirts & Tops",
            r"shirt|t-shirt|tshirt|top|tops|kurta|kurti|tunic|sweatshirt|sweater|cardigan|shrug|blouse|tee|polo|"
            r"hoodie|camisole|tank",
        ),
    )
)
OTHER = "Other"


def fashion_category(name: str) -> str:
    text = name.casefold()
    for category, pattern in RULES:
        if pattern.search(text):
            return category
    return OTHER


def read_myntra(path: Path) -> list[Product]:
    out = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            try:
                price = float(row["Price"])
            except (KeyError, ValueError):
                continue
            out.append(
                Product(
                    id=row["ProductID"].strip(),
                    title=row["ProductName"].strip(),
                    brand=row["ProductBrand"].strip(),
                    description=(row.get("Description") or "").strip()[:600],
                    category=fashion_category(row["ProductName"]),
                    price=price,
                    currency="INR",
                    attributes={
                        "gender": row["Gender"].strip(),
                        "colour": (row.get("PrimaryColor") or "").strip(),
                    },
                )
            )
    return out
