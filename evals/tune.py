"""Tune the hybrid fusion (weights, RRF k, per-list depth) on the dev split only, then report the
chosen setting on the held-back validation split. Reuses an index built by `aisle eval run`.

    python -m evals.tune --work-dir var/evals-full --judgments ../shared/data/icecat/judgments-dev.csv
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from pathlib import Path

from ranx import Qrels, Run, evaluate

from app.adapters.edge_index import EdgeVectorIndex
from app.domain.models import Fusion
from app.main import build_embedder
from app.search.service import RecommendationService, Retrieval
from app.settings import Settings
from evals.datasets import read_judgments

SPARSE_WEIGHTS = [1.0, 1.5, 2.0, 3.0]
RRF_KS = [10, 30, 60]
DEPTHS = [50, 100, 200]


async def main(work_dir: Path, judgments_path: Path, catalog: str) -> None:
    judgments = read_judgments(judgments_path)
    settings = Settings(data_dir=work_dir)
    embedder = build_embedder(settings)
    index = EdgeVectorIndex(work_dir)
    splits = {s: [q for q in judgments.qrels if judgments.split_of(q) == s] for s in ("dev", "validation")}
    results = []
    try:
        for sparse_weight, k, depth in itertools.product(SPARSE_WEIGHTS, RRF_KS, DEPTHS):
            fusion = Fusion(k=k, dense_weight=1.0, sparse_weight=sparse_weight, depth=depth)
            service = RecommendationService(embedder, index, None, Retrieval("hybrid", fusion))
            run: dict[str, dict[str, float]] = {}
            for qid, text in judgments.queries.items():
                items = (await service.search(catalog, text, limit=10)).items
                run[qid] = {h.product.id: float(10 - i) for i, h in enumerate(items)} or {"__none__": 0.0}
            row: dict[str, float] = {"sparse_weight": sparse_weight, "k": k, "depth": depth}
            for split, ids in splits.items():
                qrels = Qrels({q: judgments.qrels[q] for q in ids})
                row[split] = round(float(evaluate(qrels, Run({q: run[q] for q in ids}), "ndcg@10")), 4)
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        await index.close()
    best = max(results, key=lambda r: r["dev"])
    print("best on dev:", json.dumps(best))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--judgments", type=Path, required=True)
    parser.add_argument("--catalog", default="eval")
    args = parser.parse_args()
    asyncio.run(main(args.work_dir, args.judgments, args.catalog))
