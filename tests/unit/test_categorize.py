"""Icecat categories: the seed rules, the classifier the catalog teaches, and `read_catalog`."""

from __future__ import annotations

import json
from pathlib import Path

from app.domain.models import Product
from embeddings.categories import OTHER, TAXONOMY, TYPE_CATEGORIES, seed, title_seed, type_category
from embeddings.categorize import MIN_SEEDS, categorize, file_products
from embeddings.category_model import CategoryModel, features, title_phrase
from embeddings.readers import read_catalog, read_products


def test_every_seed_rule_and_type_names_a_category_of_the_taxonomy() -> None:
    from embeddings.categories import RULES

    assert {name for name, _ in RULES} <= set(TAXONOMY)
    assert set(TYPE_CATEGORIES.values()) <= set(TAXONOMY)
    assert OTHER not in TAXONOMY


def test_a_title_seed_is_confident_only_when_the_first_rule_explains_every_match() -> None:
    case = title_seed("Casio ESC-221 camera case Black")  # "camera" belongs to "camera case"
    assert (case.category, case.confident) == ("Bags & Cases", True)
    laptop = title_seed("HP Compaq 6530b Notebook 35.8 cm Intel Core i5 2 GB DDR2-SDRAM 80 GB HDD")
    assert (laptop.category, laptop.confident) == ("Laptops", False)  # processor, memory: other words
    assert title_seed("Zzyzx 1234").category == OTHER
    # "10 pc(s)" is a pack size, not a PC
    assert title_seed("Verbatim DVD-R Matt Silver 4.7 GB 100 pc(s)").category == "Storage"


def test_type_attributes_seed_only_when_they_name_one_category() -> None:
    assert type_category({"product_type": "Notebook"}) == "Laptops"
    assert type_category({"type": "Original"}) is None  # a toner's and a battery's type alike
    assert type_category({"product_type": "Notebook", "type": "HDD"}) is None  # they disagree
    assert seed({"type": "HDD"}, "Origin Storage 1TB kit").source == "type"


def test_the_title_phrase_is_the_lower_case_run_icecat_puts_the_category_in() -> None:
    assert title_phrase("HP C8091A power adapter/inverter Indoor 50 W Black") == "power adapter/inverter"
    assert title_phrase("OKI 42126673 printer drum Original 1 pc(s)") == "printer drum"
    assert title_phrase("Canon EF 100mm f/2.0 USM Black") is None


def test_features_reduce_numbers_to_their_shape_and_skip_logistics_attributes() -> None:
    row = features(
        Product(
            "1",
            "HP C9726A fuser",
            brand="HP",
            attributes={"package_weight": 1.0, "black_toner_page_yield": 5.0},
        )
    )
    assert "w:c0a" in row
    assert "b:hp" in row
    assert "k:black_toner_page_yield" in row
    assert not any("package" in f for f in row)


def test_naive_bayes_learns_which_words_mean_which_label() -> None:
    rows = [{"w:toner": 1.0}, {"w:toner": 1.0, "w:black": 1.0}, {"w:cable": 1.0}, {"w:cable": 1.0}]
    model = CategoryModel.fit(rows, ["Ink", "Ink", "Cables", "Cables"])
    toner, cable, unknown = model.predict(
        [{"w:toner": 1.0}, {"w:cable": 1.0, "w:black": 1.0}, {"w:zzz": 1.0}]
    )
    assert toner.label == "Ink"
    assert toner.probability > 0.9
    assert cable.label == "Cables"
    assert unknown.probability == 0.5  # nothing it knows: the prior, an even split


def _catalog() -> list[Product]:
    toners = [Product(f"t{n}", f"HP C97{n:02d}A toner cartridge Original Black", "HP") for n in range(15)]
    cables = [Product(f"c{n}", f"C2G {n}m Cat5e patch cable Blue", "C2G") for n in range(15)]
    return [
        *toners,
        *cables,
        # no rule matches it; its words are the toners'
        Product("x", "HP C9799A Black", "HP"),
        # its type attribute names the category, whatever the title says
        Product("n", "Lenovo ThinkPad L13 cable", "Lenovo", attributes={"product_type": "Notebook"}),
        Product("z", "Zzyzx", "Acme"),
    ]


def test_the_classifier_files_what_the_rules_could_not_and_other_is_the_unsure_rest() -> None:
    products, summary = categorize(_catalog())
    by_id = {p.id: p for p in products}
    assert by_id["x"].category == "Ink & Toner"
    assert by_id["n"].category == "Laptops"
    assert by_id["z"].category == OTHER
    assert by_id["c3"].category == "Cables"
    assert summary.products == len(products)
    assert summary.seeds >= MIN_SEEDS
    assert summary.by_source["type"] == 1
    assert summary.by_source["other"] == 1
    assert "Other" in summary.line()
    # everything but the category is left as it was
    assert [p.title for p in products] == [p.title for p in _catalog()]


def test_with_too_few_seeds_the_rules_alone_decide() -> None:
    filed = file_products([*_catalog()[:3], Product("x", "HP C9799A Black", "HP")])
    assert [f.source for f in filed] == ["rule", "rule", "rule", "other"]


def test_read_catalog_files_raw_icecat_rows_together_and_keeps_canonical_categories(tmp_path: Path) -> None:
    raw = [
        {"id": str(n), "title": f"HP C97{n:02d}A toner cartridge Original Black", "supplier": "HP"}
        for n in range(15)
    ]
    raw += [
        {"id": f"5{n}", "title": f"C2G {n}m Cat5e patch cable Blue", "supplier": "C2G"} for n in range(10)
    ]
    raw += [{"id": "99", "title": "HP C9799A Black", "supplier": "HP"}]
    (tmp_path / "icecat.json").write_text(json.dumps(raw))
    (tmp_path / "mine.jsonl").write_text(
        json.dumps({"id": "m1", "title": "My toner", "category": "Gifts"}) + "\n"
    )
    results, summary = read_catalog([tmp_path / "icecat.json", tmp_path / "mine.jsonl"])
    by_id = {p.id: p for p in results if isinstance(p, Product)}
    assert by_id["99"].category == "Ink & Toner"  # the rules alone said Other (read_products)
    assert [p.category for p in read_products(tmp_path / "icecat.json") if isinstance(p, Product)][
        -1
    ] == OTHER
    assert by_id["m1"].category == "Gifts"
    assert summary is not None
    assert summary.products == 26
    _, none = read_catalog([tmp_path / "mine.jsonl"])
    assert none is None
