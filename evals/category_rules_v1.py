"""Frozen copy of the Icecat category rules as they were before issue #16 (embeddings/categories.py
at commit 0a01d8f), kept only as the "before" of the category eval (evals/categories.py). Never
used by the service.
"""

from __future__ import annotations

import re

OTHER = "Other"

# (category, pattern). Order matters: the first match wins.
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "Ink & Toner",
            r"\b(toner|ink|inks|cartridge|drum|fuser|ribbon|imaging unit|print ?head|maintenance kit|"
            r"transfer (kit|belt|roller)|waste (toner|ink)|staples?|singlepack|multipack|ultrachrome)\b|\boriginal (black|cyan|magenta|"
            r"yellow|light|photo|matte|grey|gray)\b",
        ),
        (
            "Paper & Labels",
            r"\b(paper|labels?|label-making|envelopes?|printable textile|transparenc\w+|laminat\w+|"
            r"notebook a\d|notepad|index cards?|canvas|large format media|media spindle|"
            r"vinyl|film)\b",
        ),
        ("Projector Lamps", r"\bprojector lamp|\blamp\b"),
        ("Batteries", r"\b(batter(y|ies)|power ?bank|rechargeable|accumulator)\b|\b(aa|aaa|9v|cr2032)\b"),
        ("Cables", r"\b(cables?|cords?|patch|fib(er|re) optic|jumper|pigtail)\b"),
        (
            "Bags & Cases",
            r"\b(backpacks?|bags?|sleeves?|pouch|holster|briefcase|messenger|trolley|"
            r"(notebook|laptop|camera|tablet|phone|smartphone|carrying|carry|hard|protective|flip) cases?|"
            r"folio|cover)\b",
        ),
        (
            "Power & UPS",
            r"\b(ups|uninterruptible|pdu|power distribution|power strip|surge|power supply|power supplies|"
            r"power adapter|ac adapter|adapter/inverter|inverter|charger|power plug|socket-outlet|"
            r"outlet)\b",
        ),
        ("Headphones & Headsets", r"\b(headphones?|headsets?|earphones?|earbuds?|in-ear|earpieces?)\b"),
        (
            "Speakers & Audio",
            r"\b(speakers?|soundbar|sound bar|subwoofer|audio system|micro system|hi-fi|amplifier|"
            r"microphones?|mp3 player|mp4 player|radio|turntable|home audio|audio set)\b",
        ),
        (
            "TV & Video",
            r"\b(tvs?|television|dvd player|blu-ray player|media player|set-top|projectors?|"
            r"av transmitter|av receiver|video wall)\b",
        ),
        ("Cameras", r"\b(camera|camcorder|dslr|mirrorless|lens|webcam|dashcam|action camera)\b"),
        (
            "Monitors",
            r"\b(monitors?|display privacy filter|privacy filter|screen protector|lcd display|"
            r"computer monitor)\b|\d+(\.\d+)? cm \(\d+(\.\d+)?\"\) (led|lcd)",
        ),
        (
            "Printers & Scanners",
            r"\b(printers?|multifunctional|all-in-one printer|scanners?|copiers?|fax|"
            r"label printer|plotter|laserjet|deskjet|officejet|designjet|inkjet|pos printer|feeder|finisher|"
            r"inserter)\b",
        ),
        (
            "Laptops",
            r"\b(notebooks?|laptops?|chromebooks?|netbooks?|ultrabook|hybrid \(2-in-1\)|"
            r"mobile workstation)\b",
        ),
        ("Smartwatches & Wearables", r"\b(smartwatch\w*|fitness tracker|activity tracker|smart band)\b"),
        ("Tablets & E-readers", r"\b(tablets?|e-book reader|e-reader|ipad|galaxy tab)\b"),
        (
            "Phones",
            r"\b(smartphones?|mobile phones?|cell phones?|dect|telephones?|ip phone|handheld mobile)\b",
        ),
        ("Servers", r"\b(servers?|server/workstation board)\b"),
        (
            "Desktops & Workstations",
            r"\b(desktop pc|all-in-one pc|mini pc|workstation|pc|desktop|thin client|"
            r"barebone|tower|wyse)\b",
        ),
        ("Processors", r"\b(processors?|cpu|xeon|core i\d|pentium|celeron|ryzen|opteron|athlon)\b"),
        ("Memory", r"\b(memory module|dimm|so-dimm|sodimm|ddr\d?|sdram|ram)\b"),
        (
            "Storage",
            r"\b(ssd|hdd|hard (drive|disk)|internal solid state|nas|storage|flash drive|usb flash|"
            r"memory cards?|micro ?sd\w*|sdhc|sdxc|compactflash|cd-rw?|dvd[+-]r\w*|blu-ray disc|"
            r"optical (disc )?drive|tape|raid|disk array)\b",
        ),
        (
            "Networking",
            r"\b(router|switch|access point|network|networking|wi-fi|wireless|modem|ethernet|lan|"
            r"transceiver|media converter|sfp|firewall|gateway|powerline|kvm)\b",
        ),
        (
            "Computer Components",
            r"\b(motherboard|desktop board|graphics card|video card|chassis|computer case|"
            r"fan|cooler|heatsink|radiator|heat sink|bezel|drive bay|sound card|"
            r"interface cards?|controller|riser|expansion|gddr\d?|radeon|geforce|slot expander)\b",
        ),
        ("Keyboards & Mice", r"\b(keyboards?|mice|mouse|trackball|touchpad|presenter|stylus|keypad)\b"),
        ("Calculators", r"\bcalculators?\b"),
        (
            "Software & Services",
            r"\b(software|licen[cs]es?|warranty|care pack|support|on-site|pick-up&return|"
            r"service|subscription|windows)\b",
        ),
        (
            "Furniture & Mounts",
            r"\b(desks?|chairs?|mounts?|stands?|rack|racks|cabinet|shelf|shelves|trolley|"
            r"holder|bracket|tray|footrest|monitor arm)\b",
        ),
        (
            "Toys & Games",
            r"\b(toys?|puzzles?|dolls?|lego|playset|plush|figure|figures|game|board game|"
            r"for kids|beads)\b",
        ),
        (
            "Home & Kitchen",
            r"\b(coffee|espresso|kettle|toaster|blender|vacuum|iron|hair|shaver|clipper|"
            r"trimmer|toothbrush|fan heater|air purifier|humidifier|nail polish|grooming)\b",
        ),
        (
            "Office Supplies",
            r"\b(binders?|folders?|files?|pens?|pencils?|markers?|staplers?|punch|"
            r"shredders?|whiteboard|scissors|tape dispenser|organi[sz]er|clipboard|filing)\b",
        ),
        (
            "Accessories",
            r"\b(adapters?|converters?|docking station|port replicator|hubs?|splitters?|extenders?|"
            r"connectors?|couplers?|kits?|accessor(y|ies)|spares?|replacement|wall plate|gender changer|"
            r"card reader|panel)\b",
        ),
    )
)


def derive_category(product_type: str | None, kind: str | None, title: str) -> str:
    """The first rule matching the product type, else the type, else the title; `OTHER` if none."""
    for text in (product_type, kind, title):
        if not text:
            continue
        lowered = text.lower()
        for name, pattern in RULES:
            if pattern.search(lowered):
                return name
    return OTHER
