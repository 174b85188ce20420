"""Bundles on fakes: slot planning precedence, hard constraints, merchandiser rules, the LLM's
composition read strictly, and every fallback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.adapters.complement_files import FileComplementStore
from app.bundles.candidates import gender_compatible
from app.bundles.compatibility import fits, model_tokens
from app.bundles.complements import learn_from_outfits, validate_map
from app.bundles.compose import model_line
from app.bundles.priors import learn_from_catalog
from app.bundles.service import BundleQuery, BundleResult, BundleRules, BundleService
from app.domain.complements import ComplementMap
from app.domain.errors import InvalidRequest, LLMServerError, ProductNotFound
from app.domain.models import Filters, Product, ScoredProduct, VectorQuery
from app.llm.resilience import Bulkhead, CircuitBreaker
from app.vocabularies import Vocabularies
from embeddings.ingest import ingest
from tests.bundle_catalog import CAMERA, JEANS, PRINTER, SHOP
from tests.fakes import HashingEmbedder, InMemoryVectorIndex, ScriptedLLM, make_stage


def make(
    tmp_path: Path,
    llm: ScriptedLLM | None = None,
    *,
    merchandiser: dict[str, list[str]] | None = None,
    learned: dict[str, list[str]] | None = None,
    deadline_s: float = 1.0,
    breaker: CircuitBreaker | None = None,
    bulkhead: Bulkhead | None = None,
    defaults: ComplementMap | None = None,
) -> BundleService:
    index = InMemoryVectorIndex()
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    store = FileComplementStore(tmp_path)
    if merchandiser is not None:
        asyncio.run(
            store.put("shop", ComplementMap("merchandiser", {k: tuple(v) for k, v in merchandiser.items()}))
        )
    if learned is not None:
        asyncio.run(
            store.put("shop", ComplementMap("learned", {k: tuple(v) for k, v in learned.items()}, "test"))
        )
    stage = make_stage(llm, deadline_s=deadline_s, breaker=breaker, bulkhead=bulkhead)
    return BundleService(index, stage, store, Vocabularies(index), defaults=defaults)


def run(service: BundleService, **query: Any) -> BundleResult:
    return asyncio.run(service.bundle("shop", BundleQuery(**query)))


def picks(result: BundleResult) -> dict[str, str | None]:
    return {s.category.casefold(): s.item.product.id if s.item else None for s in result.slots}


def composition(*picks_: tuple[str, str, str], rationale: str = "A tidy kit for the camera.") -> str:
    return json.dumps(
        {"picks": [{"slot": s, "id": i, "reason": r} for s, i, r in picks_], "rationale": rationale}
    )


# -- slot planning --------------------------------------------------------------------------------


def test_requested_slots_win_over_every_map(tmp_path: Path) -> None:
    service = make(tmp_path, merchandiser={"cameras": ["memory"]}, learned={"cameras": ["bags"]})
    result = run(service, anchor_ids=("cam-eos",), slots=("batteries",), compose="vector")
    assert result.plan.source == "request"
    assert list(picks(result)) == ["batteries"]


def test_the_merchandiser_map_wins_over_the_learned_one(tmp_path: Path) -> None:
    service = make(tmp_path, merchandiser={"cameras": ["memory", "batteries"]}, learned={"cameras": ["bags"]})
    result = run(service, anchor_ids=("cam-eos",), compose="vector")
    assert result.plan.source == "merchandiser"
    assert result.plan.slots == ("memory", "batteries")


def test_the_learned_map_is_used_when_no_merchandiser_map_exists(tmp_path: Path) -> None:
    result = run(
        make(tmp_path, learned={"cameras": ["bags", "memory"]}), anchor_ids=("cam-eos",), compose="vector"
    )
    assert result.plan.source == "learned"
    assert result.plan.slots == ("bags", "memory")


DEFAULTS = ComplementMap("learned", {"cameras": ("batteries", "bags")}, "curated defaults: test v1")


def test_the_defaults_fill_up_a_thin_learned_map_and_each_slot_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    service = make(tmp_path, learned={"cameras": ["bags"]}, defaults=DEFAULTS)
    result = run(service, anchor_ids=("cam-eos",), compose="vector")
    assert result.plan.slots == ("bags", "batteries")  # the learned slot first, never twice
    assert result.plan.sources == ("learned", "default")


def test_a_merchandiser_map_is_a_decision_never_mixed_with_the_defaults(tmp_path: Path) -> None:
    service = make(tmp_path, merchandiser={"cameras": ["memory"]}, defaults=DEFAULTS)
    result = run(service, anchor_ids=("cam-eos",), compose="vector")
    assert (result.plan.source, result.plan.slots) == ("merchandiser", ("memory",))


def test_the_defaults_alone_plan_when_nothing_was_learned(tmp_path: Path) -> None:
    result = run(make(tmp_path, defaults=DEFAULTS), anchor_ids=("cam-eos",), compose="vector")
    assert (result.plan.source, result.plan.slots) == ("default", ("batteries", "bags"))


def test_the_llm_proposes_slots_last_and_only_real_categories_survive(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {
            "slots": json.dumps({"slots": ["tripods", "bags", "cameras", "memory"]}),
            "bundle": composition(("bags", "bag-canon", "Made for the EOS 250D.")),
        }
    )
    result = run(make(tmp_path, llm), anchor_ids=("cam-eos",))
    assert result.plan.source == "llm"
    assert result.plan.slots == ("bags", "memory")  # no invented category, never the anchor's own


def test_no_known_complements_and_no_llm_is_a_clear_422(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as e:
        run(make(tmp_path), anchor_ids=("cam-eos",))
    assert e.value.field == "slots"
    assert "PUT /v1/catalogs" in e.value.message


def test_an_unknown_requested_slot_is_a_422(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as e:
        run(make(tmp_path), anchor_ids=("cam-eos",), slots=("spaceships",))
    assert e.value.field == "slots[0]"


def test_unknown_anchor_ids_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(ProductNotFound):
        run(make(tmp_path), anchor_ids=("nope",), slots=("bags",))


def test_max_items_caps_the_slots(tmp_path: Path) -> None:
    service = make(tmp_path, merchandiser={"cameras": ["bags", "memory", "batteries"]})
    assert len(run(service, anchor_ids=("cam-eos",), max_items=2, compose="vector").slots) == 2


# -- hard constraints -------------------------------------------------------------------------------


def test_an_accessory_stating_it_fits_other_devices_only_is_never_offered(tmp_path: Path) -> None:
    result = run(make(tmp_path), anchor_ids=("cam-eos",), slots=("bags",), compose="vector")
    offered = {result.slots[0].item.product.id} | {a.product.id for a in result.slots[0].alternatives}  # type: ignore[union-attr]
    assert "bag-nikon" not in offered


def test_a_confirmed_fit_leads_its_slot_and_is_flagged(tmp_path: Path) -> None:
    result = run(make(tmp_path), anchor_ids=("cam-eos",), slots=("batteries", "bags"), compose="vector")
    assert picks(result) == {"batteries": "bat-canon", "bags": "bag-canon"}
    assert all(s.fits_anchor for s in result.slots)


def test_a_printer_gets_the_toner_its_maker_lists(tmp_path: Path) -> None:
    result = run(make(tmp_path), anchor_ids=("prn-lj",), slots=("toner",), compose="vector")
    assert picks(result) == {"toner": "toner-hp"}


def test_fashion_bundles_keep_to_the_anchors_gender(tmp_path: Path) -> None:
    result = run(make(tmp_path), anchor_ids=("jeans-m",), slots=("shoes", "handbags"), compose="vector")
    shoes = [result.slots[0].item, *result.slots[0].alternatives]
    assert {s.product.id for s in shoes if s} <= {"shoe-m", "shoe-u"}
    assert result.slots[1].item is None  # the only handbag is a women's one


def test_out_of_stock_items_are_never_offered(tmp_path: Path) -> None:
    result = run(make(tmp_path), anchor_ids=("cam-eos",), slots=("bags",), compose="vector")
    assert "bag-old" not in {a.product.id for a in result.slots[0].alternatives}


def test_the_budget_swaps_to_cheaper_items_then_drops_slots(tmp_path: Path) -> None:
    result = run(
        make(tmp_path), anchor_ids=("cam-eos",), slots=("batteries", "bags"), max_total=60.0, compose="vector"
    )
    assert result.total_price <= 60.0
    assert picks(result)["batteries"] == "bat-generic"  # the 59.00 Canon battery did not fit with a bag
    tight = run(
        make(tmp_path), anchor_ids=("cam-eos",), slots=("batteries", "bags"), max_total=16.0, compose="vector"
    )
    assert tight.total_price <= 16.0
    assert any(s.empty_because == "budget" for s in tight.slots) or any(s.item is None for s in tight.slots)


def test_a_budget_below_the_requested_minimum_price_leaves_the_slot_empty(tmp_path: Path) -> None:
    result = run(
        make(tmp_path),
        anchor_ids=("cam-eos",),
        slots=("bags",),
        max_total=5.0,
        filters=Filters(price_min=10.0),
        compose="vector",
    )
    assert result.slots[0].item is None  # was a 422 on price_min, a field the request had right
    assert result.slots[0].empty_because == "no candidate"


def test_no_two_items_share_a_brand_and_model_line(tmp_path: Path) -> None:
    assert model_line(SHOP[3]) == model_line(SHOP[4])  # both "Canon SB130" bags
    result = run(make(tmp_path), anchor_ids=("cam-eos",), slots=("bags",), compose="vector")
    lines = [model_line(i.product) for i in [result.slots[0].item, *result.slots[0].alternatives] if i]
    assert len(lines) == len(set(lines))


# -- merchandiser rules ---------------------------------------------------------------------------


def test_excluded_items_never_appear_even_if_the_llm_names_them(tmp_path: Path) -> None:
    llm = ScriptedLLM({"bundle": composition(("bags", "bag-canon", "Fits."))})
    result = run(
        make(tmp_path, llm),
        anchor_ids=("cam-eos",),
        slots=("bags",),
        rules=BundleRules(exclude=("bag-canon",)),
    )
    assert picks(result)["bags"] != "bag-canon"
    assert '"bag-canon"' not in json.dumps(llm.requests[0].json_schema)  # never shown to the LLM


def test_pinned_items_fill_their_slot_and_the_llm_cannot_change_them(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {"bundle": composition(("bags", "bag-canon", "x"), ("memory", "sd-kingston", "Roomy card."))}
    )
    result = run(
        make(tmp_path, llm),
        anchor_ids=("cam-eos",),
        slots=("bags", "memory"),
        rules=BundleRules(pin=("bag-lowe",)),
    )
    assert picks(result) == {"bags": "bag-lowe", "memory": "sd-kingston"}
    assert result.slots[0].pinned


def test_boosted_brands_lead_the_vector_choice(tmp_path: Path) -> None:
    result = run(
        make(tmp_path),
        anchor_ids=("cam-eos",),
        slots=("memory",),
        rules=BundleRules(boost_brands=("Kingston",)),
        compose="vector",
    )
    assert picks(result)["memory"] == "sd-kingston"


def test_pin_and_exclude_of_the_same_id_is_a_422(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        run(
            make(tmp_path),
            anchor_ids=("cam-eos",),
            slots=("bags",),
            rules=BundleRules(pin=("bag-lowe",), exclude=("bag-lowe",)),
        )


# -- the LLM's composition ------------------------------------------------------------------------


def test_a_valid_composition_is_used_with_its_grounded_reasons(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {
            "bundle": composition(
                ("memory", "sd-kingston", "128GB holds a long trip of photos."),
                ("bags", "bag-lowe", "Roomy and cheap."),
                rationale="Everything the EOS 250D needs for a trip.",
            )
        }
    )
    result = run(make(tmp_path, llm), anchor_ids=("cam-eos",), slots=("bags", "memory"))
    assert result.ranking == "llm"
    assert result.fallback is None
    assert picks(result) == {"bags": "bag-lowe", "memory": "sd-kingston"}
    assert result.slots[1].reason == "128GB holds a long trip of photos."
    assert result.rationale == "Everything the EOS 250D needs for a trip."


def test_an_id_from_another_slot_is_ignored_and_the_slot_keeps_the_vector_choice(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {"bundle": composition(("bags", "sd-kingston", "x"), ("memory", "sd-sandisk", "Fast."))}
    )
    result = run(make(tmp_path, llm), anchor_ids=("cam-eos",), slots=("bags", "memory"))
    assert picks(result) == {"bags": "bag-canon", "memory": "sd-sandisk"}


def test_an_invented_product_in_the_rationale_is_replaced_by_the_template(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {"bundle": composition(("bags", "bag-lowe", "Cheap."), rationale="Add a Sony A7 III too.")}
    )
    result = run(make(tmp_path, llm), anchor_ids=("cam-eos",), slots=("bags",))
    assert result.rationale is not None
    assert "Sony" not in result.rationale
    assert result.rationale.startswith("Completes Canon EOS 250D")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("no json here", "invalid_output"),
        (json.dumps({"picks": [{"slot": "bags", "id": "made-up", "reason": "x"}]}), "invalid_output"),
        (LLMServerError("boom"), "server_error"),
    ],
)
def test_every_llm_failure_returns_the_vector_bundle_flagged(
    tmp_path: Path, answer: object, reason: str
) -> None:
    result = run(
        make(tmp_path, ScriptedLLM({"bundle": answer})),
        anchor_ids=("cam-eos",),
        slots=("bags", "memory"),
    )
    vector = run(make(tmp_path), anchor_ids=("cam-eos",), slots=("bags", "memory"), compose="vector")
    assert result.fallback == reason
    assert result.ranking == "vector"
    assert picks(result) == picks(vector)


def test_a_composition_over_budget_is_invalid_after_one_re_ask(tmp_path: Path) -> None:
    llm = ScriptedLLM({"bundle": composition(("batteries", "bat-canon", "x"), ("bags", "bag-canon", "y"))})
    result = run(make(tmp_path, llm), anchor_ids=("cam-eos",), slots=("batteries", "bags"), max_total=60.0)
    assert result.fallback == "invalid_output"
    assert llm.calls == 2
    assert result.total_price <= 60.0


def test_an_llm_that_never_answers_falls_back_at_the_deadline(tmp_path: Path) -> None:
    llm = ScriptedLLM({"bundle": composition(("bags", "bag-lowe", "x"))}, hold=asyncio.Event())
    result = run(make(tmp_path, llm, deadline_s=0.3), anchor_ids=("cam-eos",), slots=("bags",))
    assert (result.fallback, result.ranking, picks(result)) == ("timeout", "vector", {"bags": "bag-canon"})
    [usage] = result.llm  # judged by the stage's report: cut at its deadline, not after the LLM
    assert (usage.task, usage.fallback) == ("bundle", "timeout")
    assert 0.95 * 300 <= usage.llm_ms < 2 * 300


def test_an_open_circuit_falls_back_without_a_call(tmp_path: Path) -> None:
    breaker = CircuitBreaker(window=2, min_calls=1, failure_rate=0.5, open_s=60)
    llm = ScriptedLLM(LLMServerError("down"))
    service = make(tmp_path, llm, breaker=breaker)
    run(service, anchor_ids=("cam-eos",), slots=("bags",))
    calls = llm.calls
    result = run(service, anchor_ids=("cam-eos",), slots=("memory",))
    assert result.fallback == "circuit_open"
    assert llm.calls == calls


def test_without_an_llm_the_flag_says_so_and_vector_compose_asks_for_nothing(tmp_path: Path) -> None:
    assert run(make(tmp_path), anchor_ids=("cam-eos",), slots=("bags",)).fallback == "llm_disabled"
    llm = ScriptedLLM(composition(("bags", "bag-lowe", "x")))
    result = run(make(tmp_path, llm), anchor_ids=("cam-eos",), slots=("bags",), compose="vector")
    assert result.fallback is None
    assert llm.calls == 0


# -- maps, learning, compatibility ------------------------------------------------------------------


def test_a_merchandiser_map_is_validated_against_the_catalog() -> None:
    categories = ["cameras", "bags", "memory"]
    assert validate_map({"Cameras": ["Bags"]}, categories, "merchandiser").for_category("cameras") == (
        "bags",
    )
    for bad, field in (
        ({"tents": ["bags"]}, "complements.tents"),
        ({"cameras": ["tents"]}, "complements.cameras"),
        ({"cameras": ["cameras"]}, "complements.cameras"),
        ({"cameras": "bags"}, "complements.cameras"),
    ):
        with pytest.raises(InvalidRequest) as e:
            validate_map(bad, categories, "merchandiser")
        assert e.value.field == field


def test_the_file_store_round_trips_maps(tmp_path: Path) -> None:
    store = FileComplementStore(tmp_path)
    asyncio.run(store.put("shop", ComplementMap("learned", {"cameras": ("bags",)}, "test")))
    assert asyncio.run(store.get("shop", "learned")) == ComplementMap(
        "learned", {"cameras": ("bags",)}, "test"
    )
    assert asyncio.run(store.get("shop", "merchandiser")) is None


def test_compatibility_statements_teach_which_categories_complement_which() -> None:
    learned = learn_from_catalog(SHOP, min_count=1)
    assert set(learned.for_category("cameras")) == {"bags", "batteries"}
    assert learned.for_category("printers") == ("toner",)


def test_outfits_teach_which_fashion_categories_go_together() -> None:
    outfits = [{"Pants", "Shoes", "Shirts"}] * 6 + [{"Pants", "Handbags"}] * 5
    outfits += [{"Dresses", "Shoes"}] * 20 + [{"Dresses", "Handbags"}] * 2
    learned = learn_from_outfits(outfits)
    # Shoes go with everything (lift < 1 with pants); handbags are particular to pants here.
    assert learned.for_category("pants") == ("shirts", "handbags")
    assert "shoes" not in learned.for_category("pants")


def test_model_tokens_and_fits_read_compatibility_statements() -> None:
    assert model_tokens("HP LaserJet Pro M404dn, 8GB, 2.0, 10W") == {"m404dn"}
    assert fits(SHOP[12], PRINTER) is True  # "M404" names the M404dn
    assert fits(SHOP[13], PRINTER) is False
    assert fits(SHOP[8], CAMERA) is None  # no statement
    assert gender_compatible(SHOP[17], [JEANS]) is True  # unisex shoes with men's jeans
    assert gender_compatible(SHOP[16], [JEANS]) is False


def test_a_full_bulkhead_gives_the_vector_bundle_as_overloaded(tmp_path: Path) -> None:
    llm = ScriptedLLM(composition(("bags", "bag-lowe", "x")))
    result = run(make(tmp_path, llm, bulkhead=Bulkhead(0)), anchor_ids=("cam-eos",), slots=("bags",))
    assert result.fallback == "overloaded"
    assert llm.calls == 0
    assert picks(result) == {"bags": "bag-canon"}


def test_requested_slots_never_read_the_complement_maps() -> None:
    class Unreadable:
        async def get(self, *_: object) -> ComplementMap | None:
            raise AssertionError("the maps were read although the request named its slots")

        async def put(self, *_: object) -> None:
            raise AssertionError("nothing is stored here")

    index = InMemoryVectorIndex()
    asyncio.run(ingest(SHOP, "shop", HashingEmbedder(), index, model_id="m"))
    service = BundleService(index, None, Unreadable(), Vocabularies(index))
    assert picks(run(service, anchor_ids=("cam-eos",), slots=("bags",), compose="vector")) == {
        "bags": "bag-canon"
    }


# -- fits found by model number -------------------------------------------------------------------


class _Crowded(InMemoryVectorIndex):
    """A big catalog in small: `far` lies beyond the nearest items of every vector query."""

    def __init__(self, far: str) -> None:
        super().__init__()
        self.far = far
        self.queries: list[VectorQuery] = []

    async def query(self, catalog: str, query: VectorQuery) -> list[ScoredProduct]:
        self.queries.append(query)
        hits = await super().query(catalog, query)
        return [h for h in hits if h.product.id != self.far] if query.positives else hits


def test_an_accessory_that_names_the_anchors_model_is_found_beyond_the_nearest_items(tmp_path: Path) -> None:
    """One lexical query by the anchor's model numbers, over all open slots, brings the battery
    whose text names the camera into its slot, however far its vector lies."""
    named = Product(
        "bat-named",
        "Patona power cell",
        "Patona",
        description="Li-ion for Canon EOS 250D",
        category="Batteries",
    )
    index = _Crowded("bat-named")
    asyncio.run(ingest([*SHOP, named], "shop", HashingEmbedder(), index, model_id="m"))
    service = BundleService(index, None, FileComplementStore(tmp_path), Vocabularies(index), defaults=None)
    result = run(service, anchor_ids=("cam-eos",), slots=("batteries", "bags"), compose="vector")
    assert picks(result)["batteries"] == "bat-canon"  # its maker's statement still comes first
    assert "bat-named" in {a.product.id for a in result.slots[0].alternatives}
    lexical = [q for q in index.queries if not q.positives]
    assert len(lexical) == 1
    assert lexical[0].filters.category == ("batteries", "bags")


def test_a_consumable_bundle_keeps_the_slots_that_fit_it(tmp_path: Path) -> None:
    """An anchor in the fitted taxonomy that is no device (a toner) keeps only the slots with a
    verified fit; a device keeps its kit of three."""
    plan = {"ink & toner": ("printers", "paper", "bags"), "cameras": ("bags", "memory", "batteries", "paper")}
    defaults = ComplementMap("learned", plan, "test")
    toner = Product("toner-cf", "HP CF259A black toner cartridge", "HP", category="Ink & Toner", price=90.0)
    printer = Product(
        "prn-2", "HP LaserJet Pro M428 MFP printer", "HP", category="Printers", price=300.0,
        description="takes the HP CF259A toner",
    )  # fmt: skip
    camera = Product("cam-2", "Canon EOS 250D camera", "Canon", category="Cameras", price=500.0)
    index = InMemoryVectorIndex()
    asyncio.run(ingest([*SHOP, toner, printer, camera], "shop", HashingEmbedder(), index, model_id="m"))
    service = BundleService(
        index, None, FileComplementStore(tmp_path), Vocabularies(index), defaults=defaults
    )
    result = run(service, anchor_ids=("toner-cf",), max_items=3, compose="vector")
    assert picks(result) == {"printers": "prn-2"}  # no paper, no bag: they only share its brand
    assert result.slots[0].fits_anchor
    kit = run(service, anchor_ids=("cam-2",), max_items=4, compose="vector")
    assert len(kit.slots) == 3
    assert any(s.fits_anchor for s in kit.slots)
