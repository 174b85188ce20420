from __future__ import annotations

from dataclasses import replace

from app.domain.models import Product
from embeddings.text import content_hash, product_text

PRODUCT = Product(
    id="1",
    title="JBL Flip 5",
    brand="JBL",
    category="Speakers & Audio",
    description="Portable Bluetooth speaker",
    price=99.0,
    attributes={"product_colour": "Blue", "package_weight": 540.0, "country_of_origin": "China"},
)


def test_the_text_names_title_brand_category_description_and_descriptive_attributes() -> None:
    assert product_text(PRODUCT) == (
        "JBL Flip 5\nBrand: JBL. Category: Speakers & Audio.\nPortable Bluetooth speaker\nproduct colour: Blue"
    )


def test_the_hash_changes_with_payload_text_or_model_and_nothing_else() -> None:
    text = product_text(PRODUCT)
    base = content_hash(PRODUCT, text, "m1")
    assert content_hash(PRODUCT, text, "m1") == base
    assert content_hash(replace(PRODUCT, price=89.0), text, "m1") != base
    assert content_hash(PRODUCT, text + "!", "m1") != base
    assert content_hash(PRODUCT, text, "m2") != base
