"""Fit signals (model, series, brand), the lift-ranked map learned from a catalog, the curated
defaults and their `never` slots, and the choice of the slots whose items fit."""

from __future__ import annotations

from collections import Counter

from app.bundles.candidates import choose_slots, fit_tier
from app.bundles.defaults import load_defaults, load_never
from app.bundles.fit import fit, misfit
from app.bundles.priors import learn_from_catalog, lift_ranked
from app.domain.models import Product, ScoredProduct

CAMERA = Product("c1", "HP Photosmart 735 digital camera", "HP", category="Cameras")
PRINTER = Product("p1", "HP Color LaserJet 5500n Printer", "HP", category="Printers & Scanners")


def _p(id_: str, title: str, brand: str, category: str = "x", description: str = "") -> Product:
    return Product(id_, title, brand, description=description, category=category)


def test_a_model_number_in_the_accessory_text_is_a_verified_fit() -> None:
    adapter = _p("a1", "HP AC adapter", "HP", description="AC-Adapter for Photosmart 735 cameras")
    found = fit(adapter, CAMERA)
    assert found is not None
    assert found.kind == "model"
    assert found.verified
    assert found.evidence == "Photosmart 735"


def test_the_same_number_in_another_series_is_no_fit() -> None:
    spindle = _p("a2", "HP media spindle", "HP", description="for HP Designjet 5500 printers")
    found = fit(spindle, PRINTER)
    assert found is None or not found.verified


def test_a_list_of_numbers_after_another_series_is_no_fit() -> None:
    spindle = _p("a7", "HP media spindle", "HP", description="for HP DesignJet 5000/5500")
    found = fit(spindle, PRINTER)
    assert found is None or not found.verified


def test_an_accessory_for_the_anchors_kind_ranks_above_one_of_its_brand_only() -> None:
    duracell = _p("k1", "Duracell Camera Battery", "Duracell")
    found = fit(duracell, CAMERA)
    assert found is not None
    assert (found.kind, found.evidence, found.verified) == ("kind", "camera", False)


def test_an_accessory_of_or_for_another_maker_has_no_kind_affinity() -> None:
    assert fit(_p("k2", "Canon eyecup camera adapter", "Canon"), CAMERA) is None
    assert (
        fit(_p("k3", "Duracell camera battery", "Duracell", description="replaces Canon NB-7L"), CAMERA)
        is None
    )


def test_series_and_brand_are_affinities_not_verified_fits() -> None:
    case = _p("a3", "HP Photosmart camera case", "HP")
    battery = _p("a4", "HP battery pack", "HP")
    assert (f := fit(case, CAMERA)) is not None
    assert (f.kind, f.verified) == ("series", False)
    assert (f := fit(battery, CAMERA)) is not None
    assert (f.kind, f.verified) == ("brand", False)


def test_another_model_of_the_anchors_series_is_a_misfit() -> None:
    other = _p("a5", "HP battery", "HP", description="battery for Photosmart M407")
    assert misfit(other, [CAMERA])


def test_model_numbers_from_other_makers_do_not_fit() -> None:
    adapter = _p("a6", "Acme adapter", "Acme", description="for Photosmart 735")
    assert fit(adapter, CAMERA) is None


def test_the_learned_map_ranks_by_lift_not_by_count() -> None:
    pairs = {
        "cameras": {"ink & toner": 10, "memory cards": 5},
        "printers & scanners": {"ink & toner": 100},
    }
    ranked = lift_ranked({k: Counter(v) for k, v in pairs.items()}, min_count=3, top=6)
    assert ranked["cameras"] == ("memory cards",)  # toner is common everywhere: lift < 1 for cameras


def test_a_catalog_teaches_its_map_from_accessories_that_fit() -> None:
    products = [CAMERA, PRINTER]
    products += [
        _p(f"m{n}", f"HP memory card {n}GB", "HP", "Memory Cards", "for Photosmart 735") for n in (1, 2, 4)
    ]
    products += [
        _p(f"t{n}", f"HP toner {n}", "HP", "Ink & Toner", "for Color LaserJet 5500n") for n in (1, 2, 3)
    ]
    learned = learn_from_catalog(products, min_count=3)
    assert learned.for_category("cameras") == ("memory cards",)
    assert learned.for_category("printers & scanners") == ("ink & toner",)


def test_the_curated_defaults_give_devices_full_plans_and_never_a_case_for_a_printer() -> None:
    defaults = load_defaults()
    assert len(defaults.for_category("cameras")) >= 3
    assert "bags & cases" in load_never()["printers & scanners"]
    for anchor, slots in defaults.complements.items():
        assert not set(slots) & load_never().get(anchor, frozenset()), anchor


def test_slots_with_an_item_that_fits_are_chosen_first_in_plan_order() -> None:
    fitting = _p("f", "HP AC adapter", "HP", "Power & UPS", "for Photosmart 735")
    branded = _p("b", "HP camera bag", "HP", "Bags & Cases")
    unrelated = _p("u", "Acme tripod", "Acme", "Camera Accessories")
    pools = {
        "camera accessories": [ScoredProduct(unrelated, 1.0)],
        "bags & cases": [ScoredProduct(branded, 1.0)],
        "power & ups": [ScoredProduct(fitting, 1.0)],
        "memory cards": [],
    }
    assert fit_tier(pools["power & ups"], [CAMERA]) == 0
    assert fit_tier(pools["memory cards"], [CAMERA]) == 3
    planned = ["camera accessories", "memory cards", "bags & cases", "power & ups"]
    assert choose_slots(planned, pools, [CAMERA], 2) == ["bags & cases", "power & ups"]
    assert choose_slots(planned, pools, [CAMERA], 3) == ["camera accessories", "bags & cases", "power & ups"]


TONER = Product("t1", "HP C9351A black ink cartridge", "HP", category="Ink & Toner")
TAXONOMY = frozenset({"ink & toner", "printers & scanners", "paper & labels", "cameras"})


def _pools(**tiers: Product | None) -> dict[str, list[ScoredProduct]]:
    return {slot.replace("_", " "): [ScoredProduct(p, 1.0)] if p else [] for slot, p in tiers.items()}


def test_a_device_keeps_every_fitting_slot_and_fills_up_to_three_with_the_rest() -> None:
    adapter = _p("f", "HP AC adapter", "HP", "Power & UPS", "for Photosmart 735")
    battery = _p("g", "HP battery", "HP", "Batteries", "Li-ion for Photosmart 735")
    pools = _pools(memory=_p("m", "Acme SD card", "Acme"), bags=_p("b", "HP camera bag", "HP"), power=adapter)
    assert choose_slots(list(pools), pools, [CAMERA], 4, TAXONOMY) == ["memory", "bags", "power"]
    pools |= _pools(batteries=battery)
    planned = ["memory", "bags", "power", "batteries"]
    # two fit: the bag (brand, kind) fills the third slot, the unrelated card is left out
    assert choose_slots(planned, pools, [CAMERA], 4, TAXONOMY) == ["bags", "power", "batteries"]
    assert choose_slots(planned, pools, [CAMERA], 2, TAXONOMY) == ["power", "batteries"]


def test_a_consumable_gets_what_fits_it_and_no_filler() -> None:
    printer = _p("p", "HP Deskjet 5550 printer", "HP", "Printers & Scanners", "uses HP 21 ink")
    paper = _p("q", "HP photo paper", "HP", "Paper & Labels")
    unrelated = _p("u", "Acme label tape", "Acme", "Paper & Labels")
    head = Product(
        "h", "HP printhead", "HP", category="Printer Accessories", attributes={"compatibility": "C9351A"}
    )
    pools = _pools(printers=printer, paper=paper, labels=unrelated, heads=head)
    # a verified fit: that slot only
    assert choose_slots(["labels", "paper", "heads"], pools, [TONER], 4, TAXONOMY) == ["heads"]
    # no verified fit: one item of some affinity (the brand), never the unrelated one
    assert choose_slots(["labels", "paper", "printers"], pools, [TONER], 4, TAXONOMY) == ["paper"]
    pools = _pools(labels=unrelated, paper=paper)
    assert choose_slots(["labels"], pools, [TONER], 4, TAXONOMY) == []


def test_outside_the_fitted_taxonomy_every_slot_is_kept_as_before() -> None:
    shirt = Product("s1", "Roadster Men Navy Casual Shirt", "Roadster", category="Shirts")
    pools = _pools(shoes=_p("a", "Puma sneakers", "Puma"), jeans=_p("b", "Levis jeans", "Levis"), caps=None)
    assert choose_slots(["shoes", "jeans", "caps"], pools, [shirt], 3, TAXONOMY) == ["shoes", "jeans", "caps"]


def test_without_a_fit_a_device_keeps_its_three_strongest_affinities() -> None:
    pools = _pools(
        memory=_p("m", "HP SD card", "HP"),  # brand
        bags=_p("b", "HP camera bag", "HP"),  # kind
        power=_p("a", "HP car adapter", "HP", description="for Photosmart cameras"),  # series
        batteries=_p("c", "Acme camera battery", "Acme"),  # kind
    )
    assert choose_slots(list(pools), pools, [CAMERA], 4, TAXONOMY) == ["bags", "power", "batteries"]
