from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.domain.models import Product
from embeddings.categories import OTHER, derive_category
from embeddings.readers import RowError, read_products

ICECAT_ROW = {
    "id": "3920564",
    "name": "006R90321",
    "supplier": "Xerox",
    "price": 4995,
    "title": "Xerox 006R90321 toner cartridge Original Black 6 pc(s)",
    "short_description": "Toner (6 Per Box) for CopyCentre C65 Digital Copier",
    "attr_t_type": "Original",
    "attr_n_quantity_per_pack": 6,
    "attr_b_rohs_compliance": True,
    "ean": ["0095"],
}


def test_raw_icecat_rows_map_to_the_canonical_format(tmp_path: Path) -> None:
    path = tmp_path / "icecat.json"
    path.write_text(json.dumps([ICECAT_ROW]))
    [product] = list(read_products(path))
    assert product == Product(
        id="3920564",
        title="Xerox 006R90321 toner cartridge Original Black 6 pc(s)",
        brand="Xerox",
        description="Toner (6 Per Box) for CopyCentre C65 Digital Copier",
        category="Ink & Toner",
        price=49.95,
        currency="USD",
        attributes={"type": "Original", "quantity_per_pack": 6.0, "rohs_compliance": True},
    )


def test_a_malformed_jsonl_row_is_reported_with_its_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "catalog.jsonl"
    path.write_text(
        '{"id": "1", "title": "Good"}\n{not json\n{"id": "3", "title": ""}\n{"id": "4", "title": "Also good", "price": -1}\n'
        '{"id": 5, "title": "Numeric id", "price": 3}\n'
    )
    results = list(read_products(path))
    assert [r.id for r in results if isinstance(r, Product)] == ["1", "5"]
    errors = [r for r in results if isinstance(r, RowError)]
    assert [e.location for e in errors] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert [e.product_id for e in errors] == [None, "3", "4"]


def test_canonical_csv_parses_prices_booleans_and_attribute_json(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "id,title,brand,category,price,in_stock,attributes\n"
        'p1,Speaker,JBL,Speakers,49.90,false,"{""colour"": ""Red""}"\n'
        "p2,Broken,JBL,Speakers,cheap,true,\n"
    )
    first, second = list(read_products(path))
    assert isinstance(first, Product)
    assert (first.price, first.in_stock, dict(first.attributes)) == (49.9, False, {"colour": "Red"})
    assert isinstance(second, RowError)
    assert second.location == f"{path}:3"


def test_an_unsupported_file_type_is_one_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "catalog.xml"
    path.write_text("<x/>")
    [error] = list(read_products(path))
    assert isinstance(error, RowError)
    assert "unsupported" in error.message


def test_categories_prefer_accessories_over_the_device_they_fit() -> None:
    assert derive_category(None, None, "Targus 15.6in notebook case Black") == "Bags & Cases"
    assert derive_category(None, "Original", "HP 85 Original Light magenta") == "Ink & Toner"
    assert derive_category("Notebook", None, "HP ProBook 450 G7") == "Laptops"
    assert derive_category(None, None, "JBL Flip 5 Stereo portable speaker Blue") == "Speakers & Audio"
    assert derive_category(None, None, "Zzyzx 1234") == OTHER


GOOD_JSONL = b'{"id": "ok1", "title": "usb cable"}\n'
GOOD_TAIL = b'{"id": "ok2", "title": "hdmi cable"}\n'


@pytest.mark.parametrize(
    ("bad_row", "bad_id"),
    [
        (b'{"id": "p1", "title": "speaker", "price": Infinity}', None),
        (b'{"id": "p1", "title": "speaker", "price": NaN}', None),
        (b'{"id": "p1", "title": "speaker", "price": 1e400}', None),
        (b'{"id": "p1", "title": "speaker", "attributes": {"w": -Infinity}}', None),
        (
            b'{"id": "p1", "title": "speaker", "attributes": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
            None,
        ),
        (b"[" * 100_000, None),
        (b'{"id": "p1", "title": "speaker \xff\xfe"}', "p1"),
        (b'{"id": "p1", "title": "speaker \\ud800"}', "p1"),
        (b'{"id": "p1", "title": "speaker", "description": "' + b"x" * 200_000 + b'"}', "p1"),
        (b'{"id": "p1", "supplier": "Acme", "title": "speaker", "price": "12.5e"}', "p1"),
    ],
    ids=[
        "infinity",
        "nan",
        "1e400",
        "attribute-infinity",
        "nested-100k",
        "unterminated-100k",
        "invalid-utf8",
        "lone-surrogate",
        "long-description",
        "icecat-bad-price",
    ],
)
def test_one_bad_jsonl_row_is_reported_with_its_line_and_the_rest_is_read(
    tmp_path: Path, bad_row: bytes, bad_id: str | None
) -> None:
    path = tmp_path / "shop.jsonl"
    path.write_bytes(GOOD_JSONL + bad_row + b"\n" + GOOD_TAIL)
    results = list(read_products(path))
    assert [r.id for r in results if isinstance(r, Product)] == ["ok1", "ok2"]
    [error] = [r for r in results if isinstance(r, RowError)]
    assert error.location == f"{path}:2"
    assert error.product_id in (bad_id, "p1")
    assert error.message


@pytest.mark.parametrize(
    ("bad_row", "why"),
    [
        (b"p1,speaker,inf", "finite"),
        (b"p1,speaker,nan", "finite"),
        (b"p1,speaker,-inf", "finite"),
        (b"p1,speaker \xff,5", "Unicode"),
        (b'p1,"' + b"x" * 140_000 + b'",5', "field limit"),
        (b'p1,speaker,5,"{""w"": Infinity}"', "number"),
    ],
)
def test_one_bad_csv_row_is_reported_and_the_rest_is_read(tmp_path: Path, bad_row: bytes, why: str) -> None:
    path = tmp_path / "shop.csv"
    path.write_bytes(b"id,title,price,attributes\nok1,usb cable,3\n" + bad_row + b"\nok2,hdmi cable,4\n")
    results = list(read_products(path))
    assert [r.id for r in results if isinstance(r, Product)] == ["ok1", "ok2"]
    [error] = [r for r in results if isinstance(r, RowError)]
    assert error.location == f"{path}:3"
    assert why in error.message


@pytest.mark.parametrize(
    "content",
    [b'[{"id": "a", "title": "x \xff"}]', b"[" * 100_000, b'[{"id": "a", "title": "x", "price": Infinity}]'],
)
def test_a_json_document_that_cannot_be_read_is_one_error_not_an_exception(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "shop.json"
    path.write_bytes(content)
    [error] = list(read_products(path))
    assert isinstance(error, RowError)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"id": "x" * 201, "title": "t"}, "at most 200 characters"),
        ({"id": "a/b", "title": "t"}, "'/'"),
        ({"id": "a\tb", "title": "t"}, "control characters"),
        ({"id": "a\u0085b", "title": "t"}, "control characters"),
        ({"id": "delete", "title": "t"}, "reserved"),
        ({"id": "  ", "title": "t"}, "empty"),
        ({"id": int("9" * 201), "title": "t"}, "at most 200 characters"),
        ({"id": "b", "title": "t", "brand": "x" * 1001}, "brand"),
        ({"id": "c", "title": "t", "category": "x" * 1001}, "category"),
        ({"id": "d", "title": "t", "attributes": {f"k{i}": i for i in range(501)}}, "attributes"),
        ({"id": "e", "title": "t", "attributes": {"k" * 201: 1}}, "attributes"),
    ],
)
def test_a_row_no_route_could_address_or_patch_is_that_rows_error(
    tmp_path: Path, row: dict[str, object], problem: str
) -> None:
    """Ids follow every route's id rule (1-200 characters, no '/', no control characters, not the
    bulk delete's `delete`); brand, category and attributes PATCH's limits. The rest of the file
    is read."""
    path = tmp_path / "rows.jsonl"
    good = {"id": "ok", "title": "fine", "attributes": {f"k{i}": i for i in range(500)}}
    path.write_text(json.dumps(row) + "\n" + json.dumps(good) + "\n")
    error, product = list(read_products(path))
    assert isinstance(error, RowError)
    assert problem in error.message
    assert isinstance(product, Product)
    assert product.id == "ok"
