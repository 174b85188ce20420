"""A small shop for the assistant's tests: a few product types, brands and price points."""

from __future__ import annotations

from app.domain.models import Product

SHOP = [
    Product(id="spk-jbl-go", title="JBL Go 3 portable bluetooth speaker", brand="JBL", category="Speakers & Audio", price=39.95),
    Product(id="spk-jbl-flip", title="JBL Flip 6 waterproof bluetooth speaker", brand="JBL", category="Speakers & Audio", price=99.95),
    Product(id="spk-jbl-clip", title="JBL Clip 4 bluetooth speaker", brand="JBL", category="Speakers & Audio", price=49.95),
    Product(id="spk-sony-xb13", title="Sony SRS-XB13 bluetooth speaker", brand="Sony", category="Speakers & Audio", price=45.0),
    Product(id="spk-philips-s1", title="Philips S1505 bluetooth speaker", brand="Philips", category="Speakers & Audio", price=19.95),
    Product(id="spk-philips-big", title="Philips party bluetooth speaker", brand="Philips", category="Speakers & Audio", price=149.0),
    Product(id="hp-sony-1000", title="Sony WH-1000XM4 noise cancelling headphones", brand="Sony", category="Headphones & Headsets", price=279.0),
    Product(id="hp-jbl-t510", title="JBL Tune 510BT wireless headphones", brand="JBL", category="Headphones & Headsets", price=39.0),
    Product(id="cbl-anker", title="Anker USB-C to USB-C cable 1 m", brand="Anker", category="Cables", price=9.99),
    Product(id="cbl-belkin", title="Belkin USB-C cable braided 2 m", brand="Belkin", category="Cables", price=19.99),
    Product(id="bag-targus", title="Targus 15.6 inch laptop backpack", brand="Targus", category="Bags & Cases", price=35.0),
    Product(id="bag-case-logic", title="Case Logic laptop sleeve 14 inch", brand="Case Logic", category="Bags & Cases", price=24.0),
    Product(id="lap-lenovo", title="Lenovo ThinkPad E14 laptop", brand="Lenovo", category="Laptops", price=749.0),
    Product(id="spk-out", title="JBL Charge 5 bluetooth speaker", brand="JBL", category="Speakers & Audio", price=29.0, in_stock=False),
]  # fmt: skip
