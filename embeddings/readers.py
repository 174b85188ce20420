"""Catalog readers: canonical JSON / JSONL / CSV and raw Icecat JSON arrays, to `Product`s.

A reader never stops at a bad row: it yields a `RowError` naming the line (or array index) and the
id when it has one, and goes on. The ingest job counts and reports them and sets the exit code.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from app.domain.models import AttributeValue, Product
from embeddings.categories import derive_category

ICECAT_CURRENCY = "USD"  # the Chorus demo this data comes from shows Icecat prices in dollars


@dataclass(frozen=True, slots=True)
class RowError:
    location: str
    product_id: str | None
    message: str


ReadResult = Product | RowError

Text = Annotated[str, msgspec.Meta(max_length=20_000)]


class CanonicalRow(msgspec.Struct, forbid_unknown_fields=False):
    """docs/catalog-format.md: the wire form of a Product. Unknown keys are ignored."""

    id: str | int
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    brand: str = ""
    description: Text = ""
    category: str = ""
    price: Annotated[float, msgspec.Meta(ge=0)] | None = None
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] = "USD"
    attributes: dict[str, str | float | bool] = {}
    in_stock: bool = True

    def to_product(self) -> Product:
        product_id = str(self.id).strip()
        if not product_id:
            raise ValueError("id must not be empty")
        return Product(
            id=product_id,
            title=" ".join(self.title.split()),
            brand=self.brand.strip(),
            description=self.description.strip(),
            category=self.category.strip(),
            price=self.price,
            currency=self.currency,
            attributes=self.attributes,
            in_stock=self.in_stock,
        )


def _guess_id(row: Any) -> str | None:
    if isinstance(row, Mapping):
        value = row.get("id")
        return None if value is None else str(value)
    return None


def canonical(row: Any, location: str) -> ReadResult:
    try:
        return msgspec.convert(row, CanonicalRow, strict=False).to_product()
    except (msgspec.ValidationError, ValueError) as e:
        return RowError(location, _guess_id(row), str(e))


def icecat_attributes(row: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """`attr_t_*` text, `attr_n_*` numbers, `attr_b_*` booleans; the prefix is dropped."""
    out: dict[str, AttributeValue] = {}
    for key, value in row.items():
        if not key.startswith("attr_") or value is None or len(key) < 8:
            continue
        kind, name = key[5], key[7:]
        if kind == "t" and isinstance(value, str) and value.strip():
            out[name] = value.strip()
        elif kind == "n" and isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
        elif kind == "b" and isinstance(value, bool):
            out[name] = value
    return out


def icecat(row: Any, location: str) -> ReadResult:
    """Raw Icecat -> canonical; docs/catalog-format.md has the field map."""
    if not isinstance(row, Mapping):
        return RowError(location, None, "expected a JSON object")
    try:
        title = str(row.get("title") or row.get("name") or "").strip()
        price_cents = row.get("price")
        price = None if price_cents in (None, "") else round(int(price_cents) / 100.0, 2)
        converted = {
            "id": row.get("id"),
            "title": title,
            "brand": str(row.get("supplier") or ""),
            "description": str(row.get("short_description") or ""),
            "category": derive_category(row.get("attr_t_product_type"), row.get("attr_t_type"), title),
            "price": price,
            "currency": ICECAT_CURRENCY,
            "attributes": icecat_attributes(row),
            "in_stock": True,  # Icecat carries no stock data; a retailer feed sets it
        }
    except (TypeError, ValueError) as e:
        return RowError(location, _guess_id(row), f"bad Icecat row: {e}")
    return canonical(converted, location)


def _is_icecat(row: Any) -> bool:
    return isinstance(row, Mapping) and ("supplier" in row or any(str(k).startswith("attr_") for k in row))


def _read_json(path: Path) -> Iterator[ReadResult]:
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        yield RowError(f"{path}:{e.lineno}", None, f"not valid JSON: {e.msg}")
        return
    rows = data.get("products") if isinstance(data, Mapping) else data
    if not isinstance(rows, list):
        yield RowError(str(path), None, 'expected a JSON array of products (or {"products": [...]})')
        return
    for i, row in enumerate(rows):
        location = f"{path}[{i}]"
        yield icecat(row, location) if _is_icecat(row) else canonical(row, location)


def _read_jsonl(path: Path) -> Iterator[ReadResult]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            location = f"{path}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                yield RowError(location, None, f"not valid JSON: {e.msg}")
                continue
            yield icecat(row, location) if _is_icecat(row) else canonical(row, location)


_BOOLS = {
    "true": True,
    "1": True,
    "yes": True,
    "y": True,
    "false": False,
    "0": False,
    "no": False,
    "n": False,
}


def _read_csv(path: Path) -> Iterator[ReadResult]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            location = f"{path}:{reader.line_num}"
            out: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
            try:
                if "price" in out:
                    out["price"] = float(out["price"])
                if "in_stock" in out:
                    out["in_stock"] = _BOOLS[str(out["in_stock"]).strip().lower()]
                if "attributes" in out:
                    out["attributes"] = json.loads(out["attributes"])
            except (ValueError, KeyError) as e:
                yield RowError(location, out.get("id"), f"bad value: {e}")
                continue
            yield canonical(out, location)


def read_products(path: Path) -> Iterator[ReadResult]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or path.name.endswith(".ndjson"):
        yield from _read_jsonl(path)
    elif suffix == ".json":
        yield from _read_json(path)
    elif suffix == ".csv":
        yield from _read_csv(path)
    else:
        yield RowError(str(path), None, "unsupported file type: use .json, .jsonl or .csv")
