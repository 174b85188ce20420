from __future__ import annotations

import pytest

from app.domain.errors import LLMInvalidOutput
from app.domain.models import Product, ScoredProduct
from app.llm.output import compact_facts, extract_json, merge_ranking, parse_ranking, parse_reasons

IDS = ["a", "b", "c", "d"]
ITEMS = [
    ScoredProduct(Product(id=i, title=f"product {i}", brand="B", price=1.0), 1.0 - n / 10)
    for n, i in enumerate(IDS)
]


@pytest.mark.parametrize(
    "text",
    [
        '{"ranking": ["b", "a"]}',
        '```json\n{"ranking": ["b", "a"]}\n```',
        'Sure! Here is the ranking:\n{"ranking": ["b", "a"]}\nHope this helps.',
        '{"ranking": [{"id": "b"}, {"id": "a"}]}',
    ],
)
def test_rankings_are_read_bare_fenced_or_wrapped_in_prose(text: str) -> None:
    assert parse_ranking(text, IDS) == ["b", "a"]


def test_unknown_ids_are_dropped_and_duplicates_removed() -> None:
    assert parse_ranking('{"ranking": ["x", "c", "c", "a", "zz", "a"]}', IDS) == ["c", "a"]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "I cannot help with that.",
        '{"ranking": ["x", "y"]}',
        '{"ranking": []}',
        '{"order": ["a"]}',
        "[]",
    ],
)
def test_answers_without_a_usable_candidate_are_invalid(text: str) -> None:
    with pytest.raises(LLMInvalidOutput):
        parse_ranking(text, IDS)


def test_a_partial_ranking_keeps_the_llm_head_and_the_vector_order_for_the_rest() -> None:
    merged = merge_ranking(ITEMS, ["c", "a"])
    assert [i.product.id for i in merged] == ["c", "a", "b", "d"]


def test_reasons_only_for_asked_ids_trimmed_and_first_wins() -> None:
    text = '{"reasons": [{"id": "a", "reason": "  Fits   well. "}, {"id": "a", "reason": "dup"}, {"id": "x", "reason": "no"}, {"id": "b", "reason": ""}]}'
    assert parse_reasons(text, ["a", "b"]) == {"a": "Fits well."}
    with pytest.raises(LLMInvalidOutput):
        parse_reasons('{"reasons": [{"id": "x", "reason": "invented"}]}', ["a"])


def test_candidate_facts_are_compact_and_bounded() -> None:
    long = ScoredProduct(
        Product(id="p", title="t" * 500, description="d" * 5000, attributes={"colour": "Red"}), 1.0
    )
    text = compact_facts([long])
    assert len(text) < 500
    assert '"colour": "Red"' in text


def test_extract_json_prefers_the_whole_answer() -> None:
    assert extract_json('{"a": {"b": 1}}') == {"a": {"b": 1}}
