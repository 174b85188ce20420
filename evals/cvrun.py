"""`aisle eval run --cv`: the cross-validated section of the eval report (method in evals/cv.py).

Pipelines with nothing fitted score their per-query nDCG@10 in every fold. The learned ranker is
trained inside each fold on the rows the serving path computes (evals/ranker.py), hyper-parameters
chosen by an inner CV: when `default` serves the ranker, `default`'s CV figure is that in-fold
recipe, never the shipped model scored on the queries it was trained on. The product-type soft
boost is likewise a nested choice of its weight (0 included) on the training folds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.ranking.boost import TypeBoost
from app.ranking.features import FEATURES
from evals.cv import (
    CVScores,
    Folds,
    Ranking,
    cross_validate,
    fixed_scores,
    make_folds,
    per_query_ndcg,
    summarize,
)
from evals.datasets import Judgments
from evals.ranker import GRID, Candidates, export, grid, nested_fitter, select_params, train
from evals.runner import PipelineResult

TYPE_BOOSTS = (0.0, 0.25, 0.5, 1.0, 2.0)
METHOD = (
    "k-fold CV over the judged queries, folds fixed by SHA-256 of the query text; fold figure = mean "
    "held-out nDCG@10 (unjudged = irrelevant); interval = 95% bootstrap over queries of the mean "
    "per-query CV score; p_randomization = two-sided paired sign-flip test against the baseline; "
    "p_corrected_t = Nadeau-Bengio corrected resampled t-test over the fold differences (tuned "
    "pipelines); tuned pipelines choose hyper-parameters by an inner CV on the training folds"
)


def _selection_fitter(
    options: Mapping[Any, Mapping[str, Ranking]], qrels: Mapping[str, Mapping[str, int]], chosen: list[Any]
) -> Callable[[Sequence[str]], Callable[[str], Ranking]]:
    """Pick the option with the best mean nDCG@10 on the training queries (no model is fitted, so
    choosing on the whole training split is already nested with respect to the held-out fold)."""
    scores = {o: per_query_ndcg(qrels, r) for o, r in options.items()}

    def fit(train: Sequence[str]) -> Callable[[str], Ranking]:
        best = max(
            options, key=lambda o: (float(np.mean([scores[o][q] for q in train])), -list(options).index(o))
        )
        chosen.append(best)
        return lambda q: list(options[best].get(q, []))

    return fit


def type_boost_rankings(data: Candidates, boost: float) -> dict[str, Ranking]:
    """Retrieval order with the product-type soft boost, exactly as served (app/ranking/boost.py)."""
    model = TypeBoost(boost)
    out: dict[str, Ranking] = {}
    for q, ids in data.doc_ids.items():
        if not len(ids):
            out[q] = []
            continue
        score = model.score(data.rows[q])
        out[q] = [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-score[i], i))]
    return out


def cv_section(  # noqa: PLR0913 - the CV run's knobs, all keyword-only
    judgments: Judgments,
    results: Sequence[PipelineResult],
    candidates: Candidates | None,
    *,
    fusion_runs: Mapping[str, Mapping[str, Ranking]] | None = None,
    ranker_in_default: bool,
    k: int,
    repeats: int,
    param_grid: Sequence[Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    folds: Folds = make_folds(judgments.queries, k, repeats)
    qrels = judgments.qrels
    scores: dict[str, CVScores] = {}
    extra: dict[str, Any] = {}
    for result in results:
        per_query = per_query_ndcg(qrels, {q: r.doc_ids for q, r in result.ranked.items()})
        scores[result.name] = fixed_scores(result.name, per_query, repeats)
    if candidates is not None:
        columns = list(range(len(FEATURES)))
        chosen: list[dict[str, Any]] = []
        fitter = nested_fitter(candidates, qrels, columns, param_grid or grid(GRID), chosen)
        name = "default" if ranker_in_default and "default" in scores else "learned"
        learned, _ = cross_validate(name, fitter, folds, qrels, progress=progress)
        scores[name] = learned
        extra["ranker_params_chosen"] = chosen
        boosts: list[float] = []
        options = {b: type_boost_rankings(candidates, b) for b in TYPE_BOOSTS}
        boosted, _ = cross_validate(
            "retrieval+typeboost", _selection_fitter(options, qrels, boosts), folds, qrels
        )
        scores["retrieval+typeboost"] = boosted
        extra["type_boost_chosen"] = boosts
        scores["retrieval-top100"] = fixed_scores(
            "retrieval-top100",
            per_query_ndcg(qrels, dict(candidates.doc_ids)),
            repeats,
        )
    if fusion_runs:
        fusions: list[str] = []
        tuned, _ = cross_validate(
            "hybrid-tuned", _selection_fitter(fusion_runs, qrels, fusions), folds, qrels
        )
        scores["hybrid-tuned"] = tuned
        extra["fusion_chosen"] = fusions
        extra["fusion_grid_ndcg10"] = {
            key: round(float(np.mean(list(per_query_ndcg(qrels, runs).values()))), 4)
            for key, runs in fusion_runs.items()
        }
    baseline = scores.get("bm25")
    return {
        "k": k,
        "repeats": repeats,
        "method": METHOD,
        "baseline": baseline.name if baseline else None,
        "queries": dict(judgments.queries),
        "pipelines": {name: summarize(s, folds, baseline) for name, s in scores.items()},
        "per_query": {name: s.per_query() for name, s in scores.items()},
        "by_repeat": {name: s.by_repeat for name, s in scores.items() if s.tuned},
        **extra,
    }


def cv_markdown(cv: Mapping[str, Any]) -> str:
    rows = [
        f"## Cross-validated nDCG@10 ({cv['k']} folds x {cv['repeats']} repeats)",
        "",
        cv["method"] + ".",
        "",
        "| pipeline | CV mean | 95% CI | fold sd | ratio to bm25 [95% CI] | W/L vs bm25 | p (randomization) | p (corrected t) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in cv["pipelines"].items():
        vb = s.get("vs_baseline")
        ratio = f"{vb['ratio']:.3f} [{vb['ratio_ci95'][0]:.3f}, {vb['ratio_ci95'][1]:.3f}]" if vb else "1"
        wl = f"{vb['wins']}/{vb['losses']}" if vb else ""
        p_rand = f"{vb['p_randomization']:.4f}" if vb else ""
        p_t = f"{vb['p_corrected_t']:.4f}" if vb and "p_corrected_t" in vb else ""
        tuned = " (tuned in-fold)" if s["tuned"] else ""
        rows.append(
            f"| {name}{tuned} | {s['cv_mean']:.4f} | [{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}] | "
            f"{s['fold_sd']:.4f} | {ratio} | {wl} | {p_rand} | {p_t} |"
        )
    return "\n".join(rows)


def ship_ranker(
    data: Candidates, judgments: Judgments, cv: Mapping[str, Any], out: Path, *, embedder: str
) -> dict[str, Any]:
    """The shipped model: parameters chosen by CV over every judged query, trained on all of them;
    the manifest records the outer CV figures of exactly this recipe."""
    columns = list(range(len(FEATURES)))
    params, inner = select_params(data, list(data.doc_ids), judgments.qrels, columns, grid(GRID))
    model = train(data, list(data.doc_ids), params, columns)
    learned = cv["pipelines"].get("default") or cv["pipelines"].get("learned") or {}
    extra = {
        "trained_on": "every judged query's top candidates from the default retrieval, through the serving path",
        "embedder": embedder,
        "command": "aisle " + " ".join(sys.argv[1:]),
        "cv": {k: v for k, v in learned.items() if k != "folds"},
        "cv_folds": cv["k"],
        "cv_repeats": cv["repeats"],
        "params_by_outer_fold": cv.get("ranker_params_chosen", []),
        "inner_cv_ndcg10_by_grid_point": [
            {**g, "ndcg@10": round(m, 4)} for g, m in zip(grid(GRID), inner, strict=False)
        ],
    }
    export(model, out, version=out.name, params=params, data=data, extra=extra)
    print(f"ranker: {out} (params {params})", flush=True)
    return extra
