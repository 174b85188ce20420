from __future__ import annotations

import numpy as np
import pytest

from evals.cv import (
    bootstrap_ci,
    corrected_resampled_t,
    cross_validate,
    fixed_scores,
    make_folds,
    per_query_ndcg,
    randomization_test,
    summarize,
)

QUERIES = {f"q{i}": f"query number {i}" for i in range(23)}


def test_folds_are_balanced_disjoint_cover_every_query_and_depend_on_the_text_only() -> None:
    folds = make_folds(QUERIES, k=5, repeats=3)
    assert len(folds) == 3
    for repeat in folds:
        assert sorted(q for fold in repeat for q in fold) == sorted(QUERIES)
        assert {len(f) for f in repeat} <= {4, 5}
    assert folds[0] != folds[1]  # repeats reshuffle
    renamed = {f"other-{q}": t for q, t in QUERIES.items()}
    again = make_folds(renamed, k=5, repeats=3)
    assert [[[q.removeprefix("other-") for q in f] for f in r] for r in again] == folds


def test_per_query_ndcg_counts_unjudged_as_irrelevant_and_missing_rankings_as_zero() -> None:
    qrels = {"a": {"d1": 3, "d2": 1}, "b": {"d9": 2}}
    scores = per_query_ndcg(qrels, {"a": ["d1", "d2", "x"]})
    assert scores["a"] == pytest.approx(1.0)
    assert scores["b"] == 0.0
    worse = per_query_ndcg(qrels, {"a": ["x", "d2", "d1"]})
    assert 0 < worse["a"] < 1


def test_cross_validation_scores_every_query_with_a_model_that_never_saw_it() -> None:
    qrels = {q: {"good": 1} for q in QUERIES}
    folds = make_folds(QUERIES, k=4, repeats=2)
    seen_by: dict[str, list[set[str]]] = {}

    def fit(train: list[str]):  # type: ignore[no-untyped-def]
        trained_on = set(train)

        def rank(q: str) -> list[str]:
            seen_by.setdefault(q, []).append(trained_on)
            return ["good"]

        return rank

    scores, _ = cross_validate("m", fit, folds, qrels)
    assert all(q not in s for q, sets in seen_by.items() for s in sets)
    assert all(len(sets) == 2 for sets in seen_by.values())
    assert scores.tuned
    assert scores.per_query() == dict.fromkeys(QUERIES, 1.0)


def test_randomization_test_separates_a_consistent_gain_from_noise() -> None:
    rng = np.random.default_rng(0)
    assert randomization_test(0.05 + rng.normal(0, 0.02, 60), n=20_000) < 0.001
    assert randomization_test(rng.normal(0, 0.1, 60), n=20_000) > 0.05
    assert randomization_test([0.0, 0.0]) == 1.0


def test_corrected_t_is_more_conservative_than_the_plain_paired_t() -> None:
    from scipy import stats

    diffs = np.array(
        [0.03, 0.01, 0.04, 0.02, 0.05, 0.0, 0.03, 0.02, 0.04, 0.01, 0.03, 0.02, 0.02, 0.04, 0.01]
    )
    _, p_corrected = corrected_resampled_t(diffs, k=5)
    p_plain = stats.ttest_1samp(diffs, 0.0).pvalue
    assert p_plain < p_corrected < 1


def test_bootstrap_interval_holds_the_mean() -> None:
    values = np.linspace(0, 1, 50)
    low, high = bootstrap_ci(values, n=2000)
    assert low < values.mean() < high


def test_summary_states_mean_interval_ratio_and_paired_test_against_the_baseline() -> None:
    folds = make_folds(QUERIES, k=5, repeats=3)
    base = fixed_scores("bm25", dict.fromkeys(QUERIES, 0.5))
    better = fixed_scores("x", dict.fromkeys(QUERIES, 0.6))
    out = summarize(better, folds, base)
    assert out["cv_mean"] == pytest.approx(0.6)
    assert out["ci95"] == [pytest.approx(0.6), pytest.approx(0.6)]
    assert len(out["folds"]) == 15
    vb = out["vs_baseline"]
    assert vb["ratio"] == pytest.approx(1.2)
    assert vb["wins"] == 23
    assert vb["losses"] == 0
    assert vb["p_randomization"] < 0.001
    assert "p_corrected_t" not in vb  # only for tuned pipelines
    assert "vs_baseline" not in summarize(base, folds, base)


def test_per_query_scores_stay_with_their_query_whatever_order_ranx_uses() -> None:
    qrels = {"b": {"x": 1}, "a": {"y": 1}, "c": {"z": 1}}
    scores = per_query_ndcg(qrels, {"a": ["y"], "b": ["nope"], "c": ["z"]})
    assert scores == {"a": 1.0, "b": 0.0, "c": 1.0}
