"""Catalog readers: canonical JSON / JSONL / CSV and raw Icecat JSON arrays, to `Product`s.

A reader never stops at a bad row: it yields a `RowError` naming the line (or array index) and the
id when it has one, and goes on. The ingest job counts and reports them and sets the exit code.
Whatever a row holds (a non-finite number, invalid UTF-8, a lone surrogate, nesting deep enough to
exhaust the parser's recursion, a CSV cell past the field limit), it is that row's error, never an
exception that ends the file.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import msgspec

from app.domain.models import AttributeValue, Product
from app.domain.product_ids import id_problem
from embeddings.categories import derive_category
from embeddings.categorize import CategorySummary, categorize

ICECAT_CURRENCY = "USD"  # the Chorus demo this data comes from shows Icecat prices in dollars


@dataclass(frozen=True, slots=True)
class RowError:
    location: str
    product_id: str | None
    message: str


ReadResult = Product | RowError

Text = Annotated[str, msgspec.Meta(max_length=20_000)]
Name = Annotated[str, msgspec.Meta(max_length=1000)]  # a brand or category: as PATCH allows
MAX_ATTRIBUTES = 500  # per product, as PATCH allows
AttributeKey = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CanonicalRow(msgspec.Struct, forbid_unknown_fields=False):
    """docs/catalog-format.md: the wire form of a Product. Unknown keys are ignored."""

    id: str | int  # an int becomes its decimal text; either is checked by `id_problem`, stripped
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    brand: Name = ""
    description: Text = ""
    category: Name = ""
    price: Annotated[float, msgspec.Meta(ge=0)] | None = None
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] = "USD"
    attributes: Annotated[
        dict[AttributeKey, str | float | bool], msgspec.Meta(max_length=MAX_ATTRIBUTES)
    ] = {}
    in_stock: bool = True

    def to_product(self) -> Product:
        product_id = str(self.id).strip()
        problem = id_problem(product_id)
        if problem is not None:
            raise ValueError(problem)
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


def _unstorable(product: Product) -> str | None:
    """What a validated row still holds that no index or JSON response can carry."""
    if product.price is not None and not math.isfinite(product.price):
        return "price must be a finite number"
    for key, value in product.attributes.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"attributes.{key} must be a finite number"
    texts = [product.id, product.title, product.brand, product.description, product.category]
    texts += list(product.attributes) + [v for v in product.attributes.values() if isinstance(v, str)]
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "text is not valid Unicode (a lone surrogate or an undecodable byte)"
    return None


def canonical(row: Any, location: str) -> ReadResult:
    try:
        product = msgspec.convert(row, CanonicalRow, strict=False).to_product()
    except (msgspec.ValidationError, ValueError, RecursionError) as e:
        return RowError(location, _printable(_guess_id(row)), str(e) or type(e).__name__)
    problem = _unstorable(product)
    if problem is not None:
        return RowError(location, _printable(product.id), problem)
    return product


def _printable(text: str | None) -> str | None:
    """An id fit for an error line even when the row's bytes were not UTF-8."""
    return None if text is None else text.encode("utf-8", "replace").decode("utf-8")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a catalog can hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def loads(text: str | bytes) -> Any:
    """json.loads that refuses NaN, Infinity and numbers beyond float range (1e400)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


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
        price = None if price_cents in (None, "") else round(int(price_cents) / 100.0, 2)  # inf: Overflow
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
    except (TypeError, ValueError, OverflowError) as e:
        return RowError(location, _printable(_guess_id(row)), f"bad Icecat row: {e}")
    return canonical(converted, location)


def _is_icecat(row: Any) -> bool:
    return isinstance(row, Mapping) and ("supplier" in row or any(str(k).startswith("attr_") for k in row))


Tagged = tuple[ReadResult, bool]  # a row's result, and whether its category is ours to derive


def _row(row: Any, location: str) -> Tagged:
    return (icecat(row, location), True) if _is_icecat(row) else (canonical(row, location), False)


def _read_json(path: Path) -> Iterator[Tagged]:
    try:
        data = loads(path.read_bytes())
    except json.JSONDecodeError as e:
        yield RowError(f"{path}:{e.lineno}", None, f"not valid JSON: {e.msg}"), False
        return
    except (ValueError, RecursionError) as e:  # invalid UTF-8, NaN/Infinity, nesting too deep
        yield RowError(str(path), None, f"not a usable JSON document: {e or type(e).__name__}"), False
        return
    rows = data.get("products") if isinstance(data, Mapping) else data
    if not isinstance(rows, list):
        yield RowError(str(path), None, 'expected a JSON array of products (or {"products": [...]})'), False
        return
    for i, row in enumerate(rows):
        yield _row(row, f"{path}[{i}]")


def json_row(raw: bytes, location: str) -> ReadResult:
    """One row's JSON text (a request's row), canonical or raw Icecat, to a Product or that row's
    error; a raw Icecat row's category from the rules alone (the classifier needs the catalog)."""
    return _tagged_json_row(raw, location)[0]


def _tagged_json_row(raw: bytes, location: str) -> Tagged:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        guess = raw.decode("utf-8", "replace")  # only to name the row's id in the report
        try:
            product_id = _guess_id(json.loads(guess))
        except (ValueError, RecursionError):
            product_id = None
        return RowError(location, product_id, f"not valid UTF-8 (byte {e.start})"), False
    try:
        row = loads(text)
    except json.JSONDecodeError as e:
        return RowError(location, None, f"not valid JSON: {e.msg}"), False
    except ValueError as e:  # NaN, Infinity, 1e400: the lenient parser still finds the id
        return RowError(location, _printable(_guess_id(json.loads(text))), f"not a usable number: {e}"), False
    except RecursionError:
        return RowError(location, None, "not valid JSON: nested too deeply"), False
    return _row(row, location)


def _read_jsonl(path: Path) -> Iterator[Tagged]:
    with path.open("rb") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            yield _tagged_json_row(line, f"{path}:{n}")


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


def _csv_row(row: dict[str | Any, Any], location: str) -> ReadResult:
    out: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
    try:
        if "price" in out:
            out["price"] = _finite_float(out["price"])
        if "in_stock" in out:
            out["in_stock"] = _BOOLS[str(out["in_stock"]).strip().lower()]
        if "attributes" in out:
            out["attributes"] = loads(out["attributes"])
    except (ValueError, KeyError, RecursionError) as e:
        return RowError(location, _printable(out.get("id")), f"bad value: {e or type(e).__name__}")
    return canonical(out, location)


def _read_csv(path: Path) -> Iterator[Tagged]:
    # surrogateescape: an undecodable byte becomes a lone surrogate that `canonical` reports for
    # its row, instead of a UnicodeDecodeError that would end the file.
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.DictReader(f)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:  # e.g. a cell over the csv module's 128 KB field limit
                yield RowError(f"{path}:{reader.line_num + 1}", None, f"bad CSV row: {e}"), False
                continue
            yield _csv_row(row, f"{path}:{reader.line_num}"), False


def _read(path: Path) -> Iterator[Tagged]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or path.name.endswith(".ndjson"):
        yield from _read_jsonl(path)
    elif suffix == ".json":
        yield from _read_json(path)
    elif suffix == ".csv":
        yield from _read_csv(path)
    else:
        yield RowError(str(path), None, "unsupported file type: use .json, .jsonl or .csv"), False


def read_products(path: Path) -> Iterator[ReadResult]:
    """One file's rows, row by row; a raw Icecat row's category from the rules alone."""
    for result, _ in _read(path):
        yield result


def read_catalog(paths: Iterable[Path]) -> tuple[list[ReadResult], CategorySummary | None]:
    """Every row of every file, with the raw Icecat rows filed together by the classifier the
    catalog teaches (embeddings/categorize.py), and how that went (None: no such rows). Rows in
    the canonical format keep the category they carry."""
    tagged = [item for path in paths for item in _read(path)]
    derived = [n for n, (result, ours) in enumerate(tagged) if ours and isinstance(result, Product)]
    results = [result for result, _ in tagged]
    if not derived:
        return results, None
    filed, summary = categorize([cast(Product, results[n]) for n in derived])
    for n, product in zip(derived, filed, strict=True):
        results[n] = product
    return results, summary
