"""A small shop for the bundle tests: a camera and a printer with accessories that state what they
fit, and a fashion corner with genders."""

from __future__ import annotations

from app.domain.models import Product

CAMERA = Product(
    id="cam-eos", title="Canon EOS 250D digital camera", brand="Canon", category="Cameras", price=549.0
)
PRINTER = Product(
    id="prn-lj", title="HP LaserJet Pro M404dn printer", brand="HP", category="Printers", price=229.0
)
JEANS = Product(
    id="jeans-m",
    title="Roadster Men Navy Slim Fit Jeans",
    brand="Roadster",
    category="Pants",
    price=40.0,
    attributes={"gender": "Men"},
)

SHOP = [
    CAMERA,
    PRINTER,
    JEANS,
    # camera bags and memory, some stating compatibility
    Product(id="bag-canon", title="Canon SB130 camera bag for EOS", brand="Canon", category="Bags", price=39.0, attributes={"compatibility": "Canon EOS 250D, EOS 2000D"}),
    Product(id="bag-canon-2", title="Canon SB130 camera bag large", brand="Canon", category="Bags", price=45.0),
    Product(id="bag-lowe", title="Lowepro Adventura camera bag", brand="Lowepro", category="Bags", price=29.0),
    Product(id="bag-nikon", title="Nikon CF-DC7 camera case", brand="Nikon", category="Bags", price=25.0, attributes={"compatibility": "Nikon Z50, Nikon D3500"}),
    Product(id="bag-old", title="Canon camera bag sold out", brand="Canon", category="Bags", price=19.0, in_stock=False),
    Product(id="sd-sandisk", title="SanDisk Extreme 64GB SD memory card for camera", brand="SanDisk", category="Memory", price=19.0),
    Product(id="sd-kingston", title="Kingston Canvas 128GB SD memory card camera", brand="Kingston", category="Memory", price=24.0),
    Product(id="bat-canon", title="Canon LP-E17 camera battery", brand="Canon", category="Batteries", price=59.0, attributes={"compatibility": "EOS 250D, EOS 800D, EOS M5"}),
    Product(id="bat-generic", title="Generic LP-E17 camera battery", brand="Patona", category="Batteries", price=15.0),
    Product(id="toner-hp", title="HP 59A black toner cartridge", brand="HP", category="Toner", price=89.0, attributes={"compatibility": "HP LaserJet Pro M404, M428"}),
    Product(id="toner-other", title="HP 85A black toner cartridge", brand="HP", category="Toner", price=59.0, attributes={"compatibility": "HP LaserJet P1102, M1212"}),
    Product(id="paper-a4", title="HP office paper A4 500 sheets", brand="HP", category="Paper", price=7.0),
    # fashion
    Product(id="shoe-m", title="Roadster Men White Sneakers", brand="Roadster", category="Shoes", price=35.0, attributes={"gender": "Men"}),
    Product(id="shoe-w", title="Roadster Women White Sneakers", brand="Roadster", category="Shoes", price=30.0, attributes={"gender": "Women"}),
    Product(id="shoe-u", title="Puma Unisex Black Sneakers", brand="Puma", category="Shoes", price=45.0, attributes={"gender": "Unisex"}),
    Product(id="bag-w", title="Lavie Women Tan Handbag", brand="Lavie", category="Handbags", price=50.0, attributes={"gender": "Women"}),
    Product(id="shirt-m", title="Roadster Men Navy Casual Shirt", brand="Roadster", category="Shirts", price=25.0, attributes={"gender": "Men"}),
]  # fmt: skip
