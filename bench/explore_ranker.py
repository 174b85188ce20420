"""Learned-ranker exploration (issue #11): CV of LambdaMART variants over saved candidate rows,
feature-group ablations and parameter settings, each against bm25 (per-query nDCG@10 from an eval
report). Exploratory: a choice made here is then measured by `aisle eval run --cv` (nested CV).

    python -m bench.explore_ranker var/ranker/candidates-torch.npz var/out/lexv2-torch/report.json \
        ../shared/data/icecat/judgments-dev.csv [ablate|params|importance]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from app.ranking.features import FEATURES
from evals.cv import cross_validate, fixed_scores, make_folds, summarize
from evals.datasets import read_judgments
from evals.ranker import Candidates, rank_with, train

GROUPS = {
    "retrieval": ["retrieval_rank"],
    "dense": ["dense_cos", "dense_cos_gap", "dense_rank"],
    "field_bm25": [
        f
        for f in FEATURES
        if f.startswith("bm25_") and f not in ("bm25_sum", "bm25_sum_frac", "bm25_sum_rank")
    ],
    "sum_bm25": ["bm25_sum", "bm25_sum_frac", "bm25_sum_rank"],
    "coverage": ["title_coverage", "title_all_terms", "coverage", "idf_coverage", "phrase_in_title"],
    "type": ["type_match", "type_affinity", "query_has_type"],
    "bm25f": ["bm25f", "bm25f_rank"],
    "brand_model": ["brand_in_query", "model_match"],
    "lengths": ["query_terms", "title_terms", "description_terms"],
    "price_stock": ["log_price", "price_pct", "in_stock"],
}
PARAMS = {"num_leaves": 31, "min_data_in_leaf": 60, "num_boost_round": 100}  # what v1 shipped with


def cv(
    data: Candidates,
    judgments: Any,
    columns: list[int],
    params: dict[str, Any],
    base: Any,
    name: str,
    train_data: Candidates | None = None,
) -> dict[str, Any]:
    folds = make_folds(judgments.queries, repeats=int(os.environ.get("REPEATS", "3")))

    def fit(train_q):  # type: ignore[no-untyped-def]
        return rank_with(train(train_data or data, train_q, params, columns), data, columns)

    scores, _ = cross_validate(name, fit, folds, judgments.qrels)
    out = summarize(scores, folds, base)
    vb = out["vs_baseline"]
    print(
        f"{name:40s} {out['cv_mean']:.4f} [{out['ci95'][0]:.3f},{out['ci95'][1]:.3f}] sd {out['fold_sd']:.3f} "
        f"x{vb['ratio']:.3f} p={vb['p_randomization']:.4f} pt={vb['p_corrected_t']:.4f} w/l {vb['wins']}/{vb['losses']}",
        flush=True,
    )
    return out


def main() -> None:
    data = Candidates.load(Path(sys.argv[1]))
    report = json.loads(Path(sys.argv[2]).read_text())
    judgments = read_judgments(Path(sys.argv[3]))
    mode = sys.argv[4] if len(sys.argv) > 4 else "ablate"
    base = fixed_scores(
        "bm25", report["pipelines"]["bm25"]["per_query_ndcg10"], int(os.environ.get("REPEATS", "3"))
    )
    all_cols = list(range(len(FEATURES)))
    results = {}
    if mode == "ablate":
        results["all"] = cv(data, judgments, all_cols, PARAMS, base, "all features")
        judged = Candidates()
        for q in data.doc_ids:  # train on judged candidates only (unjudged dropped, not labelled 0)
            keep = [i for i, d in enumerate(data.doc_ids[q]) if d in judgments.qrels[q]]
            judged.doc_ids[q] = [data.doc_ids[q][i] for i in keep]
            judged.rows[q] = data.rows[q][keep]
            judged.labels[q] = data.labels[q][keep]
        results["judged-only training"] = cv(
            data, judgments, all_cols, PARAMS, base, "judged-only training", judged
        )
        for group, names in GROUPS.items():
            cols = [i for i, f in enumerate(FEATURES) if f not in names]
            results[f"-{group}"] = cv(data, judgments, cols, PARAMS, base, f"without {group}")
    elif mode == "params":
        for leaves in (7, 15, 31):
            for mdl in (20, 60):
                for rounds in (100, 300):
                    p = {"num_leaves": leaves, "min_data_in_leaf": mdl, "num_boost_round": rounds}
                    results[json.dumps(p)] = cv(data, judgments, all_cols, p, base, json.dumps(p))
    else:
        model = train(data, list(judgments.queries), PARAMS, all_cols)
        gain = model.feature_importance(importance_type="gain")
        for name, g in sorted(zip(FEATURES, gain, strict=True), key=lambda t: -t[1]):
            print(f"{name:20s} {g / gain.sum():.3f}")
    out = Path(f"var/explore-ranker-{mode}.json")
    out.write_text(
        json.dumps(
            {k: {kk: vv for kk, vv in v.items() if kk != "folds"} for k, v in results.items()}, indent=1
        )
    )
    recall = np.mean(
        [
            sum(1 for d, g in judgments.qrels[q].items() if g >= 1 and d in set(data.doc_ids[q]))
            / max(1, sum(1 for g in judgments.qrels[q].values() if g >= 1))
            for q in judgments.qrels
        ]
    )
    print(f"candidate recall (grade>=1) over judged: {recall:.3f}")


if __name__ == "__main__":
    main()
