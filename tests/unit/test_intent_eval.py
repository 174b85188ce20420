"""The 30 hand-written utterances stay parsed as expected (a regression floor for the no-LLM path;
docs/assistant.md reports the figure and the held-out set's)."""

from __future__ import annotations

import json

from app.assistant.parser import IntentParser
from app.domain.models import Product
from embeddings.readers import read_products
from evals.intents import SAMPLE, UTTERANCES, evaluate, vocabulary_of


def test_the_parser_reads_the_hand_written_utterances_as_expected() -> None:
    products = [p for p in read_products(SAMPLE) if isinstance(p, Product)]
    entries = [json.loads(line) for line in UTTERANCES.read_text().splitlines() if line.strip()]
    report = evaluate(IntentParser(vocabulary_of(products)), entries)
    assert report["utterances"] == 30
    wrong = [(r["id"], r["wrong_fields"]) for r in report["rows"] if not r["correct"]]
    assert report["share_fully_correct"] >= 0.9, wrong
