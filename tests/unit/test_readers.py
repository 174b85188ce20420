from __future__ import annotations

import json
from pathlib import Path

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
