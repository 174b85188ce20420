"""The electronics taxonomy Icecat products are filed under, and the seed rules that label some of
them with confidence.

Icecat gives no category: `attr_t_product_type` (1,532 of 19,406) and `attr_t_type` (4,545, often
just "Original"/"Compatible") sometimes say what a product is, and titles read "<Brand> <Model>
<category phrase> <specs>". Two kinds of seed come from that:

- `TYPE_CATEGORIES`: type values that name one category unambiguously ("Notebook", "HDD");
- `RULES`: ordered keyword rules over the title (accessories and consumables before devices, so
  "notebook case" is a bag and "toner for LaserJet" is toner). `title_seed` also says whether the
  title was unambiguous (every category whose rule matches is the same one).

embeddings/categorize.py trains a classifier on the confident seeds and files every product with
it; docs/categories.md has the definitions, the method and the measured accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

OTHER = "Other"

# The categories, with what belongs in each (docs/categories.md repeats them for people labelling
# products by hand). `OTHER` is what nothing here describes, or what the classifier is unsure of.
TAXONOMY: Mapping[str, str] = {
    "Ink & Toner": "printer consumables: ink and toner cartridges, drums, imaging and developer units, "
    "fusers, transfer belts and rollers, maintenance kits, ribbons, print heads, waste containers",
    "Printer Accessories": "add-ons for a printer that are not consumed: paper trays and feeders, duplex "
    "units, finishers and stackers, printer memory, font and emulation cards, upgrade kits, cabinets",
    "Paper & Labels": "paper, photo and art paper, large-format media, labels, label tapes, films",
    "Projector Lamps": "replacement lamps for projectors",
    "Memory Cards": "SD, microSD, CompactFlash, Memory Stick cards and their adapters",
    "Camera Accessories": "lenses, lens hoods, filters, tripods, straps, flashes, viewfinder parts",
    "Batteries": "batteries and battery packs (device, household, UPS replacement)",
    "Cables": "cables, cords and their parts (connectors, boots, ties, cable management)",
    "Bags & Cases": "bags, backpacks, sleeves, cases and covers for devices",
    "Docks & Hubs": "docking stations, port replicators, USB hubs",
    "Power & UPS": "UPS, power distribution units, surge protectors, chargers, power adapters",
    "Headphones & Headsets": "headphones, earphones, headsets and their ear cushions",
    "Speakers & Audio": "speakers, sound systems, microphones, radios, MP3/MP4 players",
    "TV & Video": "TVs, projectors, media and DVD players, AV receivers",
    "Webcams": "webcams and network / security cameras",
    "Cameras": "digital cameras and camcorders",
    "Monitors": "computer monitors, screen protectors and privacy filters",
    "Printers & Scanners": "printers, multifunction printers, scanners, copiers, fax machines",
    "Laptops": "notebooks, 2-in-1s, Chromebooks, mobile workstations",
    "Smartwatches & Wearables": "smartwatches and fitness trackers",
    "Tablets & E-readers": "tablets, e-readers, handheld computers (PDAs)",
    "Phones": "mobile phones, DECT and IP phones",
    "Servers": "servers and server barebones",
    "Desktops & Workstations": "desktop PCs, all-in-ones, workstations, thin clients, mini PCs",
    "Processors": "CPUs",
    "Memory": "RAM modules for computers",
    "Storage": "hard drives, SSDs, NAS, USB flash drives, optical drives and blank media, tapes",
    "Networking": "routers, switches, access points, network cards, transceivers, media converters, KVM",
    "Computer Components": "motherboards, graphics and expansion cards, cases, fans, coolers, "
    "internal power supplies",
    "Keyboards & Mice": "keyboards, mice, trackballs, presenters, styluses",
    "Calculators": "calculators",
    "Software & Services": "software, licences, warranties and support services",
    "Furniture & Mounts": "racks and rack parts, desks, stands, mounts and arms",
    "Toys & Games": "toys, games, puzzles, video games",
    "Home & Kitchen": "household and kitchen appliances, personal care",
    "Office Supplies": "binders, folders, pens, staplers, shredders and other stationery",
    "Accessories": "adapters, converters, extenders, card readers, security locks and other small "
    "add-ons no category above describes",
}

# Type attribute values that say what a product is (values seen in the Icecat data; a value that
# several categories use, such as "Original", "System" or "Power supply", is left out).
TYPE_CATEGORIES: Mapping[str, str] = {
    value.casefold(): category
    for category, values in {
        "Processors": ["Processor"],
        "Laptops": ["Notebook", "Hybrid (2-in-1)", "Chromebook", "Netbook", "Mobile workstation"],
        "Headphones & Headsets": ["Headphones", "Headset"],
        "Computer Components": [
            "Desktop Board",
            "Server/Workstation Board",
            "Fan",
            "Cooler",
            "Radiator",
        ],
        "Desktops & Workstations": [
            "Workstation",
            "All-in-One PC",
            "Mini PC (<= 3L)",
            "Mini PC (<= 3L) barebone",
            "PC barebone",
        ],
        "Networking": ["Network Interface Card", "Tabletop router", "Portable router", "Network repeater"],
        "Ink & Toner": [
            "Maintenance kit",
            "Transfer kit",
            "Printer fuser kit",
            "Printer cleaning cartridge",
            "Fax ribbon",
            "Printer transfer roller",
            "Fax cartridge + ribbon",
        ],
        "Batteries": ["Battery", "AA", "AAA"],
        "Home & Kitchen": [
            "Drip coffee maker",
            "Pod coffee machine",
            "Espresso machine",
            "Deep fryer",
            "Salt & pepper grinder set",
            "Hot air brush",
            "Electric shaver",
            "Immersion blender",
            "Tabletop blender",
            "Electronic kitchen scale",
        ],
        "Toys & Games": [
            "Doll clothes set",
            "Toy animals",
            "Doll dress",
            "Kids' craft kit",
            "Doll hair styling set",
            "Doll shoes",
            "Jigsaw puzzle",
            "Maze puzzle toy",
            "Battling spinning top",
            "Contour puzzle",
            "Coloring picture set",
        ],
        "Speakers & Audio": [
            "Stereo portable speaker",
            "MP3 player",
            "MP4 player",
            "Home audio micro system",
            "Home audio mini system",
            "PC microphone",
        ],
        "TV & Video": ["Desktop projector", "Ceiling-mounted projector", "Portable projector"],
        "Furniture & Mounts": [
            "Flat panel mount arm",
            "Bracket",
            "Freestanding rack",
            "Wall mounted rack",
            "Desk-mounted CPU holder",
            "Adjustable shelf",
            "Rack shelf",
            "Portable flat panel floor stand",
            "Fixed flat panel floor stand",
            "Multimedia cart",
        ],
        "Storage": [
            "HDD",
            "CD-R",
            "CD-RW",
            "DVD-R",
            "DVD+R",
            "DVD-RW",
            "DVD+RW",
            "DVD+R DL",
            "DVD-RAM",
            "BD-R",
            "NAS",
            "Video cassette",
        ],
        "Software & Services": ["On-site", "Pick-up&return"],
        "Printers & Scanners": ["POS printer"],
        "Printer Accessories": ["Paper tray"],
        "Monitors": [
            "Frameless display privacy filter",
            "Framed display privacy filter",
            "Anti-glare screen protector",
            "Clear screen protector",
        ],
        "Calculators": [
            "Scientific calculator",
            "Financial calculator",
            "Basic calculator",
            "Printing calculator",
        ],
        "Phones": ["DECT telephone"],
        "Power & UPS": ["Indoor battery charger"],
        "Webcams": ["CCTV security camera", "Sensor camera"],
        "Cameras": ["Kids digital camera"],
    }.items()
    for value in values
}

# (category, pattern) over the lower-cased title. Order matters: the first match wins. A category
# may appear twice, for a phrase that must win over a later rule ("lens case" is a bag, not a lens).
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "Ink & Toner",
            r"\b(toner|ink|inks|cartridges?|drum|fuser|ribbon|imaging (unit|cartridge)|print ?head|maintenance kit|"
            r"developer unit|transfer (kit|belt|roller)|printer belt|waste (toner|ink)|ink (tank|stick)|"
            r"singlepack|multipack|ultrachrome)\b|\boriginal (black|cyan|magenta|yellow|light|photo|matte|grey|gray)\b",
        ),
        (
            "Memory Cards",
            r"\b(memory cards?|micro ?sd\w*|sdhc|sdxc|sd cards?|compact ?flash|cfexpress|memory stick|"
            r"xd-picture|secure digital|multimedia card)\b",
        ),
        (
            "Printer Accessories",
            r"\b(paper trays?|tray/feeder|sheet feeders?|envelope feeder|paper cassette|cassette unit|"
            r"duplex(ing)? (unit|module|accessory)|duplexer|finishers?|output stacker|stacker|mailbox|"
            r"booklet (unit|maker)|printer (cabinet|stand|memory|emulation upgrade)|emulation (card|upgrade)|"
            r"forms (and bar code )?card|font card|printer/scanner spare part|roll feed|media spindle)\b",
        ),
        (
            "Paper & Labels",
            r"\b(paper|labels?|label-making|labelling tape|envelopes?|printable textile|transparenc\w+|"
            r"laminat\w+|notebook a\d|notepad|index cards?|canvas|large format media|vinyl|"
            r"printing film|film labels?|film (glossy|matt))\b",
        ),
        ("Projector Lamps", r"\bprojector lamp|\blamp\b"),
        ("Bags & Cases", r"\blens (case|pouch)|\bcamera (case|bag)s?\b"),
        ("Accessories", r"\bprojection lens"),
        (
            "Camera Accessories",
            r"\b(tripods?|monopods?|lens hoods?|lens caps?|lens filters?|camera lens\w*|camera filter|"
            r"lens adapter|dioptric|dioprtic|eye ?cup|focusing screen|speedlite|slave flash|macro ?(twin ?)?lite|"
            r"ring ?lite|camera strap|neck strap|shoulder strap|battery grip|lens)\b",
        ),
        ("Batteries", r"\b(batter(y|ies)|power ?bank|rechargeable|accumulator)\b|\b(aa|aaa|9v|cr2032)\b"),
        ("Cables", r"\b(cables?|cords?|patch|fib(er|re) optic|jumper|pigtail|cable ties?)\b"),
        (
            "Bags & Cases",
            r"\b(backpacks?|bags?|sleeves?|pouch|holster|briefcase|messenger|trolley|slipcase|"
            r"(notebook|laptop|camera|tablet|phone|smartphone|carrying|carry|hard|protective|flip|player) cases?|"
            r"folio|cover)\b",
        ),
        (
            "Docks & Hubs",
            r"\b(docking stations?|docks?|port replicators?|dock/port replicator|expansion base|(usb )?hubs?)\b",
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
            r"microphones?|mp3 player|mp4 player|radio|turntable|home audio|audio set|audio (video )?player)\b",
        ),
        (
            "Webcams",
            r"\b(webcams?|web cam|pc camera|security camera|cctv|ip camera|network camera|surveillance|"
            r"dome camera|bullet camera|sensor camera)\b",
        ),
        (
            "TV & Video",
            r"\b(tvs?|television|dvd player|blu-ray player|media player|set-top|projectors?|"
            r"av transmitter|av receiver|video wall)\b",
        ),
        (
            "Cameras",
            r"\b(cameras?|camcorders?|dslr|mirrorless|dashcam|action camera|cyber-?shot|powershot)\b",
        ),
        (
            "Monitors",
            r"\b(monitors?|display privacy filters?|privacy filters?|privacy screen|screen protector|lcd display|"
            r"computer monitor)\b|\d+(\.\d+)? cm \(\d+(\.\d+)?\"\) (led|lcd)",
        ),
        (
            "Printers & Scanners",
            r"\b(printers?|multifunctional|all-in-one printer|scanners?|copiers?|fax|"
            r"label printer|plotter|laserjet|deskjet|officejet|designjet|inkjet|pos printer|"
            r"digital sender)\b",
        ),
        (
            "Laptops",
            r"\b(notebooks?|laptops?|chromebooks?|netbooks?|ultrabook|hybrid \(2-in-1\)|"
            r"mobile workstation)\b",
        ),
        ("Smartwatches & Wearables", r"\b(smartwatch\w*|fitness tracker|activity tracker|smart band)\b"),
        (
            "Tablets & E-readers",
            r"\b(tablets?|e-book reader|e-reader|ipad|galaxy tab|handheld mobile computer|pda)\b",
        ),
        (
            "Phones",
            r"\b(smartphones?|mobile phones?|cell phones?|dect|telephones?|ip phone|handheld mobile)\b",
        ),
        ("Computer Components", r"\b(motherboard|server/workstation board|desktop board)\b"),
        ("Servers", r"\b(servers?|server barebone)\b"),
        (
            "Desktops & Workstations",
            r"\b(desktop pc|all-in-one pc|mini pc|workstation|pc(?!\()|desktop|thin client|"
            r"barebone|tower|wyse)\b",
        ),
        ("Processors", r"\b(processors?|cpu|xeon|core i\d|pentium|celeron|ryzen|opteron|athlon)\b"),
        ("Memory", r"\b(memory module|dimm|so-dimm|sodimm|ddr\d?|sdram|ram)\b"),
        (
            "Storage",
            r"\b(ssd|hdd|hard (drive|disk)|internal solid state|nas|storage|flash drive|usb flash|"
            r"cd-rw?|dvd[+-]r\w*|blu-ray disc|"
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
            r"\b(coffee|espresso|kettle|toaster|blender|vacuum|iron|hair|shaver|clipper|razor|"
            r"trimmer|toothbrush|fan heater|air purifier|humidifier|nail polish|grooming)\b",
        ),
        (
            "Office Supplies",
            r"\b(binders?|folders?|files?|pens?|pencils?|markers?|staplers?|punch|"
            r"shredders?|whiteboard|scissors|tape dispenser|organi[sz]er|clipboard|filing)\b",
        ),
        (
            "Accessories",
            r"\b(adapters?|converters?|extenders?|connectors?|couplers?|kits?|accessor(y|ies)|spares?|"
            r"replacement|wall plate|gender changer|card reader|panel)\b",
        ),
    )
)


@dataclass(frozen=True, slots=True)
class Seed:
    """A rule's reading of one product: its category, and whether to trust it enough to learn from."""

    category: str
    confident: bool
    source: str  # "type" | "title" | "none"


def rule_categories(text: str) -> list[str]:
    """Every category whose rule matches `text`, in rule order: the first is the rules' verdict."""
    lowered = text.lower()
    return list(dict.fromkeys(name for name, pattern in RULES if pattern.search(lowered)))


def type_category(attributes: Mapping[str, object]) -> str | None:
    """The category the product's type attributes name unambiguously, if they do."""
    found = {
        TYPE_CATEGORIES[v.strip().casefold()]
        for key in ("product_type", "type")
        if isinstance(v := attributes.get(key), str) and v.strip().casefold() in TYPE_CATEGORIES
    }
    return found.pop() if len(found) == 1 else None


def title_seed(title: str) -> Seed:
    """The first matching rule's category; confident when, once the words that rule matched are
    set aside, no other category's rule matches: "camera case" is a bag (the "camera" in it is
    the bag's), "Notebook ... Intel Core ... DDR4" stays unsure (the processor and the memory
    are other words)."""
    lowered = title.lower()
    matched = rule_categories(lowered)
    if not matched:
        return Seed(OTHER, confident=False, source="none")
    verdict = matched[0]
    rest = lowered
    for name, pattern in RULES:
        if name == verdict:
            rest = pattern.sub(" ", rest)
    return Seed(verdict, confident=not set(rule_categories(rest)) - {verdict}, source="title")


def seed(attributes: Mapping[str, object], title: str) -> Seed:
    """Type attributes first (always confident), else the title rules."""
    typed = type_category(attributes)
    if typed is not None:
        return Seed(typed, confident=True, source="type")
    return title_seed(title)


def derive_category(product_type: str | None, kind: str | None, title: str) -> str:
    """The rules alone, for one product: the type attributes' category, else the first title rule
    that matches, else `OTHER` (embeddings/categorize.py refines it with the whole catalog)."""
    attributes = {k: v for k, v in (("product_type", product_type), ("type", kind)) if v}
    return seed(attributes, title).category
