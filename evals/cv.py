"""Cross-validation over judged queries, and the statistics the eval report states.

Why: one fixed 73/20 split chose the previous default, and that choice did not carry over to
queries nobody had seen (issue #11). Every figure used to choose anything is now a k-fold CV mean
over the judged queries, repeated with differently shuffled folds.

- **Folds.** For repeat r the queries are ordered by SHA-256 of `"cv<r>:" + normalised text` and
  dealt round-robin into k folds: balanced sizes, fixed by the text alone (stable across runs,
  machines and query-id schemes), and nobody picks them.
- **Fold figure.** The mean per-query metric over a fold's held-out queries. A pipeline with
  nothing to tune gets the same per-query score in every fold; a tuned one (the learned ranker,
  tuned fusion) is fitted on the other k-1 folds only, its hyper-parameters chosen by an inner CV
  inside those folds (nested CV), so no held-out query ever influences its own score.
- **CV mean and spread.** Mean and standard deviation of the k x repeats fold figures.
- **Interval.** A 95 % percentile bootstrap over queries (10,000 resamples) of the mean per-query
  CV score (each query's held-out score averaged over the repeats). Queries are the sampling unit
  that matters for unseen queries; fold figures are not independent (they share queries across
  repeats and training data within one), so a t-interval over them would be too narrow.
- **Paired tests against the baseline (bm25).** (1) A two-sided paired randomisation test
  (sign-flip permutation of the per-query differences, 100,000 draws): exact under the null that
  the two systems are exchangeable per query, no normality assumed, which nDCG per query (bounded,
  many 0s and 1s) would violate; Smucker, Allan & Carterette (CIKM 2007) recommend it for IR.
  (2) For tuned pipelines, also the corrected resampled t-test over the fold differences (Nadeau &
  Bengio 2003; Bouckaert & Frank 2004): it widens the variance by n_test/n_train for the overlap
  of training sets, which the plain paired t-test over folds ignores (and so rejects too often).
  The ratio to bm25 gets a paired bootstrap interval (same resampled queries for both).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ranx import Qrels, Run, evaluate

K_FOLDS = 5
REPEATS = 3
BOOTSTRAP = 10_000
PERMUTATIONS = 100_000
SEED = 11

Folds = list[list[list[str]]]  # repeat -> fold -> query ids
Ranking = list[str]  # doc ids, best first


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def make_folds(
    queries: Mapping[str, str], k: int = K_FOLDS, repeats: int = REPEATS, salt: str = "cv"
) -> Folds:
    out: Folds = []
    for r in range(repeats):
        order = sorted(
            queries, key=lambda q: hashlib.sha256(f"{salt}{r}:{_norm(queries[q])}".encode()).hexdigest()
        )
        out.append([order[i::k] for i in range(k)])
    return out


def per_query_ndcg(
    qrels: Mapping[str, Mapping[str, int]], rankings: Mapping[str, Ranking], metric: str = "ndcg@10"
) -> dict[str, float]:
    """Per-query metric (unjudged = irrelevant) for every query in `qrels`; missing rankings score 0.
    ranx returns per-query values in its own query order (`Qrels.keys()`), not the input's."""
    data = {
        q: ({d: float(len(r) - i) for i, d in enumerate(r)} if (r := rankings.get(q)) else {"__none__": 0.0})
        for q in qrels
    }
    judged = Qrels({q: dict(v) for q, v in qrels.items()})
    values = evaluate(judged, Run(data), metric, return_mean=False, make_comparable=True)
    return {str(q): float(v) for q, v in zip(judged.keys(), values, strict=True)}


@dataclass(frozen=True, slots=True)
class CVScores:
    """One pipeline's held-out per-query scores, one dict per repeat (query id -> metric)."""

    name: str
    by_repeat: list[dict[str, float]]
    tuned: bool = False

    def fold_means(self, folds: Folds) -> list[float]:
        return [
            float(np.mean([self.by_repeat[r][q] for q in fold]))
            for r, repeat in enumerate(folds)
            for fold in repeat
        ]

    def per_query(self) -> dict[str, float]:
        """Each query's held-out score averaged over the repeats."""
        qids = self.by_repeat[0]
        return {q: float(np.mean([rep[q] for rep in self.by_repeat])) for q in qids}


def fixed_scores(name: str, per_query: Mapping[str, float], repeats: int = REPEATS) -> CVScores:
    """A pipeline with nothing fitted: its held-out score is its score."""
    return CVScores(name, [dict(per_query) for _ in range(repeats)])


Fitter = Callable[[Sequence[str]], Callable[[str], Ranking]]


def cross_validate(
    name: str,
    fit: Fitter,
    folds: Folds,
    qrels: Mapping[str, Mapping[str, int]],
    metric: str = "ndcg@10",
    progress: Callable[[str], None] | None = None,
) -> tuple[CVScores, list[dict[str, Ranking]]]:
    """Fit on k-1 folds, rank the held-out fold, for every fold of every repeat."""
    scores: list[dict[str, float]] = []
    rankings: list[dict[str, Ranking]] = []
    for r, repeat in enumerate(folds):
        ranked: dict[str, Ranking] = {}
        for f, test in enumerate(repeat):
            train = [q for g, fold in enumerate(repeat) if g != f for q in fold]
            model = fit(train)
            for q in test:
                ranked[q] = model(q)
            if progress is not None:
                progress(f"{name}: repeat {r + 1} fold {f + 1} done")
        rankings.append(ranked)
        scores.append(per_query_ndcg(qrels, ranked, metric))
    return CVScores(name, scores, tuned=True), rankings


# -- statistics -------------------------------------------------------------------------------


def bootstrap_ci(values: Sequence[float], n: int = BOOTSTRAP, seed: int = SEED) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def bootstrap_ratio_ci(
    a: Sequence[float], b: Sequence[float], n: int = BOOTSTRAP, seed: int = SEED
) -> tuple[float, float]:
    """Interval of mean(a) / mean(b), the same resampled queries for both (paired)."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(xa), size=(n, len(xa)))
    ratios = xa[idx].mean(axis=1) / np.clip(xb[idx].mean(axis=1), 1e-12, None)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def randomization_test(diffs: Sequence[float], n: int = PERMUTATIONS, seed: int = SEED) -> float:
    """Two-sided paired sign-flip test of mean(diffs) == 0; p includes the observed assignment."""
    d = np.asarray(diffs, dtype=float)
    observed = abs(d.mean())
    if observed == 0.0:
        return 1.0
    rng = np.random.default_rng(seed)
    hits = 0
    done = 0
    while done < n:
        batch = min(20_000, n - done)
        signs = rng.choice((-1.0, 1.0), size=(batch, len(d)))
        hits += int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
        done += batch
    return (hits + 1) / (n + 1)


def corrected_resampled_t(fold_diffs: Sequence[float], k: int = K_FOLDS) -> tuple[float, float]:
    """Nadeau & Bengio's corrected repeated k-fold t-test: (t, two-sided p)."""
    from scipy import stats

    d = np.asarray(fold_diffs, dtype=float)
    j = len(d)
    var = float(d.var(ddof=1))
    if var == 0.0:
        return (0.0, 1.0) if d.mean() == 0 else (math.inf, 0.0)
    t = float(d.mean()) / math.sqrt((1.0 / j + 1.0 / (k - 1)) * var)
    return t, float(2 * stats.t.sf(abs(t), df=j - 1))


def summarize(scores: CVScores, folds: Folds, baseline: CVScores | None) -> dict[str, Any]:
    fold_means = scores.fold_means(folds)
    per_query = scores.per_query()
    qids = list(per_query)
    out: dict[str, Any] = {
        "cv_mean": round(float(np.mean(fold_means)), 4),
        "fold_sd": round(float(np.std(fold_means, ddof=1)), 4),
        "fold_min": round(min(fold_means), 4),
        "fold_max": round(max(fold_means), 4),
        "ci95": [round(v, 4) for v in bootstrap_ci([per_query[q] for q in qids])],
        "folds": [round(v, 4) for v in fold_means],
        "tuned": scores.tuned,
    }
    if baseline is not None and baseline.name != scores.name:
        base_q = baseline.per_query()
        base_folds = baseline.fold_means(folds)
        a = [per_query[q] for q in qids]
        b = [base_q[q] for q in qids]
        diffs = [x - y for x, y in zip(a, b, strict=True)]
        out["vs_baseline"] = {
            "baseline": baseline.name,
            "ratio": round(float(np.mean(fold_means)) / max(1e-12, float(np.mean(base_folds))), 4),
            "ratio_ci95": [round(v, 4) for v in bootstrap_ratio_ci(a, b)],
            "mean_diff": round(float(np.mean(diffs)), 4),
            "wins": sum(d > 1e-9 for d in diffs),
            "losses": sum(d < -1e-9 for d in diffs),
            "p_randomization": round(randomization_test(diffs), 5),
        }
        if scores.tuned or baseline.tuned:
            t, p = corrected_resampled_t(
                [x - y for x, y in zip(fold_means, base_folds, strict=True)], k=len(folds[0])
            )
            out["vs_baseline"]["corrected_t"] = round(t, 3)
            out["vs_baseline"]["p_corrected_t"] = round(p, 5)
    return out
