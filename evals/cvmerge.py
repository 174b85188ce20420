"""`aisle eval cv-merge`: one CV table over several `aisle eval run --cv` reports, e.g. the same
pipelines with torch-int8, ONNX-int8 and domain-adapted vectors, with paired tests between runs.

Folds depend on the query text alone, so the runs' folds are identical and their per-query CV
scores pair up. Each pipeline is reported against bm25 and, for every run after the first,
against the same pipeline of the first run (the reference): the mean difference with its 95%
paired bootstrap interval and the randomisation test. "Not worse within the CV interval" means
the interval of the difference reaches 0 or above.

    aisle eval cv-merge --run torch=out/torch --run onnx=out/onnx --out out/backends
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from evals.cv import (
    BOOTSTRAP,
    SEED,
    CVScores,
    corrected_resampled_t,
    fixed_scores,
    make_folds,
    randomization_test,
    summarize,
)


def _scores(cv: Mapping[str, Any], name: str) -> CVScores:
    by_repeat = cv.get("by_repeat", {}).get(name)
    if by_repeat is not None:
        return CVScores(name, [dict(r) for r in by_repeat], tuned=True)
    return fixed_scores(name, cv["per_query"][name], cv["repeats"])


def diff_ci(a: list[float], b: list[float]) -> tuple[float, float]:
    d = np.asarray(a) - np.asarray(b)
    idx = np.random.default_rng(SEED).integers(0, len(d), size=(BOOTSTRAP, len(d)))
    means = d[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def merge(runs: Mapping[str, Mapping[str, Any]], queries: Mapping[str, str]) -> dict[str, Any]:
    first = next(iter(runs))
    cvs = {label: report["cv"] for label, report in runs.items()}
    k, repeats = cvs[first]["k"], cvs[first]["repeats"]
    folds = make_folds(queries, k, repeats)
    base = _scores(cvs[first], "bm25")
    table: dict[str, Any] = {}
    for label, cv in cvs.items():
        for name in cv["pipelines"]:
            if name == "bm25" and label != first:
                continue
            scores = _scores(cv, name)
            entry = summarize(scores, folds, base)
            if label != first and name in cvs[first]["pipelines"]:
                ref = _scores(cvs[first], name)
                qids = list(ref.per_query())
                a = [scores.per_query()[q] for q in qids]
                b = [ref.per_query()[q] for q in qids]
                low, high = diff_ci(a, b)
                _, p_t = corrected_resampled_t(
                    [x - y for x, y in zip(scores.fold_means(folds), ref.fold_means(folds), strict=True)], k=k
                )
                entry["vs_reference"] = {
                    "reference": f"{first}:{name}",
                    "mean_diff": round(float(np.mean(a) - np.mean(b)), 4),
                    "diff_ci95": [round(low, 4), round(high, 4)],
                    "not_worse": high >= 0.0,
                    "p_randomization": round(
                        randomization_test([x - y for x, y in zip(a, b, strict=True)]), 5
                    ),
                    "p_corrected_t": round(p_t, 5),
                }
            table[f"{label}:{name}"] = entry
    return {"k": k, "repeats": repeats, "reference": first, "pipelines": table}


def markdown(merged: Mapping[str, Any]) -> str:
    rows = [
        f"# CV across runs ({merged['k']} folds x {merged['repeats']} repeats; reference run: "
        f"{merged['reference']})",
        "",
        "| run:pipeline | CV mean | 95% CI | ratio to bm25 | p vs bm25 | diff vs reference [95% CI] | p vs reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in merged["pipelines"].items():
        vb = s.get("vs_baseline", {})
        vr = s.get("vs_reference")
        ref = f"{vr['mean_diff']:+.4f} [{vr['diff_ci95'][0]:+.4f}, {vr['diff_ci95'][1]:+.4f}]" if vr else ""
        rows.append(
            f"| {name} | {s['cv_mean']:.4f} | [{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}] | "
            f"{vb.get('ratio', 1.0):.3f} | {vb.get('p_randomization', '')} | {ref} | "
            f"{vr['p_randomization'] if vr else ''} |"
        )
    return "\n".join(rows) + "\n"


def main(runs: list[str], out: Path) -> int:
    reports: dict[str, Any] = {}
    for spec in runs:
        label, _, folder = spec.partition("=")
        reports[label] = json.loads((Path(folder) / "report.json").read_text())
    queries = next(iter(reports.values()))["cv"]["queries"]
    merged = merge(reports, queries)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cv-merged.json").write_text(json.dumps(merged, indent=2) + "\n")
    (out / "cv-merged.md").write_text(markdown(merged))
    print(markdown(merged))
    return 0
