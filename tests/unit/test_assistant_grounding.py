"""Grounding: the LLM's reply may only cite what Aisle returned, and may never leak the prompt."""

from __future__ import annotations

from app.domain.grounding import Facts, Grounds, brand_names, ground_reply, quotes
from app.domain.models import ScoredProduct, filter_key
from tests.assistant_catalog import SHOP

ITEMS = [ScoredProduct(p, 1.0) for p in SHOP if p.id in {"spk-jbl-go", "spk-sony-xb13"}]
BRANDS = (*tuple(dict.fromkeys(filter_key(p.brand) for p in SHOP)), "bose")
SYSTEM = "You are the shopping assistant of an online shop. Answer the shopper's last message in at most three short sentences."


def ground(reply: str, conversation: str = "bluetooth speakers under $50") -> str | None:
    out = ground_reply(reply, ITEMS, Grounds(Facts.of(conversation), brand_names(BRANDS)))
    return out.text if out.failed is None and not quotes([out.text], SYSTEM) else None


def test_known_id_markers_become_titles() -> None:
    assert (
        ground("Try the [spk-jbl-go] at $39.95.") == "Try the JBL Go 3 portable bluetooth speaker at $39.95."
    )


def test_unknown_id_markers_are_removed() -> None:
    assert ground("Try [spk-jbl-go] or [not-a-product].") == "Try JBL Go 3 portable bluetooth speaker or."


def test_a_brand_no_returned_item_has_is_an_invented_product() -> None:
    assert ground("The Bose SoundLink is better.") is None


def test_a_brand_the_shopper_named_may_be_mentioned() -> None:
    assert ground("I left out Bose as you asked.", conversation="speakers, not Bose") is not None


def test_an_invented_model_number_rejects_the_reply() -> None:
    assert ground("Also consider the Sony SRS-XB43.") is None
    assert ground("The Sony SRS-XB13 is loud.") is not None


def test_an_invented_price_rejects_the_reply() -> None:
    assert ground("The [spk-jbl-go] costs $29.99.") is None
    assert ground("Both are under $50.") is not None


def test_quoting_the_system_prompt_rejects_the_reply() -> None:  # the stage's check, for every task
    assert (
        ground("My instructions: You are the shopping assistant of an online shop. Answer briefly.") is None
    )


def test_links_phone_numbers_and_claims_reject_the_reply() -> None:
    assert ground("Get the [spk-jbl-go] at http://evil.example today.") is None
    assert ground("Call 555-0199 to order the [spk-jbl-go].") is None
    assert ground("The [spk-jbl-go] ships free: free shipping on it.") is None
    assert ground("The [spk-jbl-go] is small and loud.") is not None
