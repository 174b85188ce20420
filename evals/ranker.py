"""The learned ranker's training data, training, nested cross-validation and versioned export.

Training rows come from the serving path itself: the search use case runs with a ranking stage
whose model only records the feature rows it is given (`RecordingRanker`) and keeps the retrieval
order, so the features a model is trained on are exactly those it will be served. Labels are the
judged grades (0-3); unjudged candidates count 0, as the metric counts them.

Model: LightGBM LambdaMART (`objective=lambdarank`, gains 2^grade - 1, the same gains ranx's
nDCG uses). Hyper-parameters are chosen by an inner CV inside each outer training split (nested
CV); the shipped model is trained on all judged queries with the parameters the inner CV picks
over all of them, and its manifest records the outer CV figures of that very recipe.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.ranking.features import FEATURES
from app.search.service import RecommendationService
from evals.cv import Folds, Ranking, make_folds, per_query_ndcg

SEED = 7
BASE_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "lambdarank_truncation_level": 20,
    "verbosity": -1,
    "num_threads": 1,  # OpenMP threads spin-wait: on a shared 2-core box 2 threads were 100x slower
    "seed": SEED,
    "deterministic": True,
    "force_row_wise": True,
}
# Small on purpose: on the saved torch rows every setting of leaves {7, 15, 31} x min leaf
# {20, 60} x rounds {100, 300} scored 0.705-0.713 in CV (bench/explore_ranker.py params).
GRID: dict[str, list[Any]] = {
    "num_leaves": [7, 31],
    "min_data_in_leaf": [60],
    "num_boost_round": [100, 300],
}


class RecordingRanker:
    """A `Ranker` that keeps the retrieval order and records the rows it was asked to score."""

    version = "record"
    features = FEATURES

    def __init__(self) -> None:
        self.rows: list[NDArray[np.float64]] = []

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        self.rows.append(rows.copy())
        return -np.arange(len(rows), dtype=np.float64)


@dataclass(slots=True)
class Candidates:
    """Per query: candidate ids in retrieval order, their feature rows and labels."""

    doc_ids: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    labels: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def digest(self) -> str:
        h = hashlib.sha256()
        for q in sorted(self.doc_ids):
            h.update(q.encode())
            h.update("\x1f".join(self.doc_ids[q]).encode())
            h.update(np.nan_to_num(self.rows[q], nan=-999.0).round(6).tobytes())
            h.update(self.labels[q].tobytes())
        return h.hexdigest()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"queries": np.array(sorted(self.doc_ids)), "features": np.array(FEATURES)}
        for i, q in enumerate(sorted(self.doc_ids)):
            arrays[f"ids{i}"] = np.array(self.doc_ids[q])
            arrays[f"x{i}"] = self.rows[q]
            arrays[f"y{i}"] = self.labels[q]
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Candidates:
        out = cls()
        with np.load(path) as data:
            if tuple(str(f) for f in data["features"]) != FEATURES:
                raise ValueError(f"{path} holds other features than app/ranking/features.py makes")
            for i, q in enumerate(str(q) for q in data["queries"]):
                out.doc_ids[q] = [str(d) for d in data[f"ids{i}"]]
                out.rows[q] = data[f"x{i}"]
                out.labels[q] = data[f"y{i}"]
        return out


async def collect(
    service: RecommendationService,
    recorder: RecordingRanker,
    catalog: str,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    depth: int,
) -> Candidates:
    """`service` must rank with a stage around `recorder`."""
    out = Candidates()
    for qid, text in queries.items():
        recorder.rows.clear()
        result = await service.search(catalog, text, limit=depth)
        ids = [h.product.id for h in result.items]
        if len(ids) >= 2:
            if len(recorder.rows) != 1 or len(recorder.rows[0]) != len(ids):
                raise RuntimeError(
                    f"query {qid!r}: the ranking stage did not score ({result.ranker_fallback})"
                )
            rows = recorder.rows[0]
        else:
            rows = np.full((len(ids), len(FEATURES)), np.nan)
        out.doc_ids[qid] = ids
        out.rows[qid] = rows
        out.labels[qid] = np.array([qrels.get(qid, {}).get(d, 0) for d in ids], dtype=np.float64)
    return out


def _stack(
    data: Candidates, qids: Sequence[str], columns: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    use = [q for q in qids if len(data.doc_ids[q])]
    x = np.vstack([data.rows[q][:, columns] for q in use]) if use else np.zeros((0, len(columns)))
    y = np.concatenate([data.labels[q] for q in use]) if use else np.zeros(0)
    return x, y, [len(data.doc_ids[q]) for q in use]


def train(data: Candidates, qids: Sequence[str], params: Mapping[str, Any], columns: Sequence[int]) -> Any:
    import lightgbm

    x, y, groups = _stack(data, qids, columns)
    rounds = int(params.get("num_boost_round", 200))
    lgb_params = {**BASE_PARAMS, **{k: v for k, v in params.items() if k != "num_boost_round"}}
    dataset = lightgbm.Dataset(
        x, y, group=groups, feature_name=[FEATURES[c] for c in columns], free_raw_data=False
    )
    return lightgbm.train(lgb_params, dataset, num_boost_round=rounds)


def rank_with(model: Any, data: Candidates, columns: Sequence[int]) -> Callable[[str], Ranking]:
    def ranked(qid: str) -> Ranking:
        ids = data.doc_ids[qid]
        if len(ids) < 2:
            return list(ids)
        scores = model.predict(data.rows[qid][:, columns], num_threads=1)
        order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), i))
        return [ids[i] for i in order]

    return ranked


def grid(space: Mapping[str, Sequence[Any]] = GRID) -> list[dict[str, Any]]:
    keys = list(space)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]


def select_params(
    data: Candidates,
    qids: Sequence[str],
    qrels: Mapping[str, Mapping[str, int]],
    columns: Sequence[int],
    candidates: Sequence[Mapping[str, Any]],
    inner_k: int = 3,
) -> tuple[dict[str, Any], list[float]]:
    """Inner CV over `qids` only: the parameter set with the best mean held-out nDCG@10."""
    if len(candidates) == 1:
        return dict(candidates[0]), []
    inner = make_folds({q: q for q in qids}, k=inner_k, repeats=1, salt="inner")[0]
    sub = {q: qrels[q] for q in qids}
    means = []
    for params in candidates:
        ranked: dict[str, Ranking] = {}
        for f, test in enumerate(inner):
            model = train(data, [q for g, fold in enumerate(inner) if g != f for q in fold], params, columns)
            fn = rank_with(model, data, columns)
            ranked.update({q: fn(q) for q in test})
        means.append(float(np.mean(list(per_query_ndcg(sub, ranked).values()))))
    best = int(np.argmax(means))
    return dict(candidates[best]), means


def nested_fitter(
    data: Candidates,
    qrels: Mapping[str, Mapping[str, int]],
    columns: Sequence[int],
    candidates: Sequence[Mapping[str, Any]],
    chosen: list[dict[str, Any]] | None = None,
) -> Callable[[Sequence[str]], Callable[[str], Ranking]]:
    """For `evals.cv.cross_validate`: inner-CV parameter choice, then a fit on the whole split."""

    def fit(train_qids: Sequence[str]) -> Callable[[str], Ranking]:
        params, _ = select_params(data, train_qids, qrels, columns, candidates)
        if chosen is not None:
            chosen.append(params)
        return rank_with(train(data, train_qids, params, columns), data, columns)

    return fit


def folds_for(queries: Mapping[str, str]) -> Folds:
    return make_folds(queries)


def export(
    model: Any,
    out: Path,
    *,
    version: str,
    params: Mapping[str, Any],
    data: Candidates,
    extra: Mapping[str, Any],
) -> None:
    """models/ranker/<version>/: model.txt + manifest.json."""
    import lightgbm

    out.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out / "model.txt"))
    importance_gain = model.feature_importance(importance_type="gain")
    importance_split = model.feature_importance(importance_type="split")
    total = float(sum(importance_gain)) or 1.0
    manifest = {
        "version": version,
        "model_file": "model.txt",
        "features": list(FEATURES),
        "params": {**BASE_PARAMS, **params},
        "training_data_sha256": data.digest(),
        "training_queries": len(data.doc_ids),
        "training_rows": int(sum(len(v) for v in data.doc_ids.values())),
        "lightgbm": lightgbm.__version__,
        "python": platform.python_version(),
        "feature_importance_gain_share": {
            name: round(float(g) / total, 4)
            for name, g in sorted(zip(FEATURES, importance_gain, strict=True), key=lambda t: -t[1])
        },
        "feature_importance_splits": {
            name: int(s) for name, s in zip(FEATURES, importance_split, strict=True)
        },
        **extra,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
