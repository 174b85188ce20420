"""The deterministic intent parser: prices, brands, negations, categories and multi-turn refinement."""

from __future__ import annotations

import pytest

from app.assistant.conversation import Turn
from app.assistant.intent import Intent
from app.assistant.lexicon import LexiconError, load_lexicon
from app.assistant.parser import IntentParser
from app.domain.models import filter_key
from app.domain.vocabulary import Vocabulary
from tests.assistant_catalog import SHOP

VOCABULARY = Vocabulary(
    tuple(dict.fromkeys(filter_key(p.category) for p in SHOP)),
    (*tuple(dict.fromkeys(filter_key(p.brand) for p in SHOP)), "brother", "sharp"),
)
PARSER = IntentParser(VOCABULARY)


def parse(*user_turns: str, replies: tuple[str, ...] = ()) -> Intent:
    turns: list[Turn] = []
    for n, text in enumerate(user_turns):
        if n:
            turns.append(Turn("assistant", replies[n - 1] if n - 1 < len(replies) else "Here you go."))
        turns.append(Turn("user", text))
    return PARSER.parse(turns)


def test_a_product_type_becomes_the_query_and_its_catalog_category() -> None:
    intent = parse("show me bluetooth speakers")
    assert intent.query == "bluetooth speakers"
    assert intent.categories == ("speakers & audio",)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("speakers under $50", None, 50.0),
        ("speakers below 50 dollars", None, 50.0),
        ("speakers between 20 and 40 euros", 20.0, 40.0),
        ("speakers from $20 to $40", 20.0, 40.0),
        ("speakers $20-$40", 20.0, 40.0),
        ("speakers over €100", 100.0, None),
        ("speakers around $50", 40.0, 60.0),
        ("speakers for at most 1,200 dollars", None, 1200.0),
        ("speakers under 2k", None, 2000.0),
        ("speakers under 19,99 €", None, 19.99),
    ],
)
def test_price_phrases_become_a_price_range(text: str, low: float | None, high: float | None) -> None:
    intent = parse(text)
    assert (intent.price_min, intent.price_max) == (low, high)


@pytest.mark.parametrize("text", ["a 27 inch monitor", "a 4k tv", "usb 3.0 cable", "a 15.6 inch laptop bag"])
def test_numbers_without_a_price_cue_are_not_prices(text: str) -> None:
    intent = parse(text)
    assert (intent.price_min, intent.price_max) == (None, None)


def test_brands_are_matched_against_the_catalog_and_negations_exclude_them() -> None:
    intent = parse("bluetooth speakers, not Sony and no philips please")
    assert intent.brands == ()
    assert set(intent.exclude_brands) == {"sony", "philips"}


def test_a_brand_that_is_an_everyday_word_needs_a_capital_or_a_cue() -> None:
    assert parse("my brother needs a laptop").brands == ()
    assert parse("a Brother laptop").brands == ("brother",)
    assert parse("laptops by brother").brands == ("brother",)


def test_the_head_of_a_compound_decides_the_category_and_for_marks_a_modifier() -> None:
    assert parse("a laptop bag").categories == ("bags & cases",)
    assert parse("bluetooth speakers for my laptop").categories == ("speakers & audio",)
    assert parse("a backpack").categories == ("bags & cases",)


def test_multi_turn_refinement_keeps_the_topic_and_narrows_it() -> None:
    shown = "I found 3: JBL Go 3 ($39.95), Sony SRS-XB13 ($45.00) and JBL Clip 4 ($49.95)."
    intent = parse(
        "show me bluetooth speakers", "under $50", "only JBL", "cheaper ones", replies=("...", "...", shown)
    )
    assert intent.query == "bluetooth speakers"
    assert intent.categories == ("speakers & audio",)
    assert intent.brands == ("jbl",)
    assert intent.sort == "price_asc"
    assert intent.price_max == 44.99  # below the median of what was shown, and under 50


def test_a_new_product_type_starts_a_new_topic() -> None:
    intent = parse("bluetooth speakers under $50", "only JBL", "what about headphones?")
    assert intent.categories == ("headphones & headsets",)
    assert intent.brands == ()
    assert intent.price_max is None


def test_short_follow_ups_add_attributes_to_the_current_topic() -> None:
    intent = parse("bluetooth speakers", "waterproof ones")
    assert intent.query == "bluetooth speakers"
    assert intent.attributes == ("waterproof",)
    assert intent.search_text == "bluetooth speakers waterproof"


def test_any_brand_clears_brand_constraints() -> None:
    intent = parse("speakers, only JBL", "actually any brand is fine")
    assert intent.brands == ()


def test_an_excluded_brand_named_again_is_wanted_again() -> None:
    intent = parse("speakers but not JBL", "ok show me JBL then")
    assert intent.brands == ("jbl",)
    assert intent.exclude_brands == ()


def test_the_word_lists_are_data_read_once() -> None:
    lexicon = load_lexicon()
    assert load_lexicon() is lexicon  # cached: one read per process
    assert lexicon.synonyms["earbuds"] == "headphones"
    assert {"not", "without"} <= lexicon.negation
    assert all(w == w.casefold() for w in lexicon.stop)
    with pytest.raises(LexiconError):
        load_lexicon("xx")
