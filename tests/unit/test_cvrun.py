from __future__ import annotations

import numpy as np

from app.domain.models import Product
from app.ranking.features import FEATURES
from embeddings.adapt import batches_without_duplicates, make_pairs, pseudo_queries
from evals.cv import make_folds
from evals.cvrun import _selection_fitter, cv_section, type_boost_rankings
from evals.datasets import Judgments
from evals.pipelines import Ranked
from evals.query_types import true_types
from evals.ranker import Candidates
from evals.runner import PipelineResult

RANK, MATCH = FEATURES.index("retrieval_rank"), FEATURES.index("type_match")


def candidates(matches: list[float]) -> Candidates:
    data = Candidates()
    rows = np.full((len(matches), len(FEATURES)), np.nan)
    rows[:, RANK] = np.arange(len(matches))
    rows[:, MATCH] = matches
    data.doc_ids["q"] = [f"d{i}" for i in range(len(matches))]
    data.rows["q"] = rows
    data.labels["q"] = np.zeros(len(matches))
    return data


def test_the_type_boost_lifts_matching_candidates_softly() -> None:
    data = candidates(
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    )
    assert type_boost_rankings(data, 0.0)["q"] == data.doc_ids["q"]
    boosted = type_boost_rankings(data, 0.5)["q"]
    assert boosted[0] == "d3"  # 1.5 / 13 beats 1 / 10
    assert boosted.index("d17") > 1  # 1.5 / 27 does not beat 1 / 11: soft, not a filter


def test_selection_is_made_on_the_training_queries_only() -> None:
    qrels = {"a": {"x": 1}, "b": {"y": 1}}
    options = {"picks-x": {"a": ["x"], "b": ["x"]}, "picks-y": {"a": ["y"], "b": ["y"]}}
    chosen: list[str] = []
    fit = _selection_fitter(options, qrels, chosen)
    assert fit(["a"])("b") == ["x"]  # trained on a, so it picked what is right for a
    assert fit(["b"])("a") == ["y"]
    assert chosen == ["picks-x", "picks-y"]


def test_cv_section_reports_every_pipeline_against_bm25() -> None:
    queries = {f"q{i}": f"query {i}" for i in range(10)}
    qrels = {q: {"good": 2} for q in queries}
    judgments = Judgments(queries, qrels)

    def result(name: str, hit_every: int) -> PipelineResult:
        r = PipelineResult(name)
        for i, q in enumerate(queries):
            r.ranked[q] = Ranked(["good"] if i % hit_every == 0 else ["bad"], [1.0], {})
        return r

    fusion = {"k=10": {q: ["good"] for q in queries}, "k=60": {q: ["bad"] for q in queries}}
    cv = cv_section(
        judgments,
        [result("bm25", 2), result("lexical", 1)],
        None,
        fusion_runs=fusion,
        ranker_in_default=False,
        k=5,
        repeats=2,
    )
    assert set(cv["pipelines"]) == {"bm25", "lexical", "hybrid-tuned"}
    assert cv["pipelines"]["lexical"]["cv_mean"] == 1.0
    assert cv["pipelines"]["bm25"]["cv_mean"] == 0.5
    assert cv["pipelines"]["lexical"]["vs_baseline"]["ratio"] == 2.0
    assert set(cv["fusion_chosen"]) == {"k=10"}
    assert len(cv["pipelines"]["lexical"]["folds"]) == 10
    assert make_folds(queries, 5, 2)  # same folds the section used: fixed by text


def test_a_querys_true_type_is_the_majority_category_of_its_good_results() -> None:
    judgments = Judgments(
        {"a": "mouse", "b": "thing", "c": "none"},
        {"a": {"1": 3, "2": 2, "3": 2}, "b": {"1": 2, "4": 2}, "c": {"1": 1}},
    )
    category = {"1": "mice", "2": "mice", "3": "pads", "4": "pads"}
    assert true_types(judgments, category) == {"a": "mice", "b": None, "c": None}


def test_pseudo_queries_come_from_the_products_own_fields_without_filler() -> None:
    product = Product(
        id="1",
        title="StarTech.com Cat5e patch cable with snagless RJ45 connectors",
        brand="StarTech.com",
        category="Cables",
        attributes={"product_colour": "Blue"},
    )
    queries = pseudo_queries(product)
    assert queries[:3] == ["cables", "startech.com cables", "blue cables"]
    assert "patch cable" in queries
    assert "with" not in queries
    assert not any(q.endswith(" with") for q in queries)


def test_batches_never_hold_the_same_query_or_text_twice() -> None:
    products = [Product(id=str(i), title=f"Acme widget model{i}", category="Widgets") for i in range(40)]
    pairs = make_pairs(products, per_product=2, seed=1)
    batches = batches_without_duplicates(pairs, 8)
    assert sum(len(b) for b in batches) <= len(pairs)
    for batch in batches:
        assert len({p.query for p in batch}) == len(batch)
        assert len({p.text for p in batch}) == len(batch)
