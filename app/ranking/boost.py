"""The product-type soft boost as a `Ranker`: without a learned model, candidates of the type the
query names (app/ranking/query_types.py) move up, softly: score = 1 / (10 + retrieval rank),
times (1 + boost) on a type match. A boost of 0.5 lifts a match at rank 13 above a non-match at
rank 10, not above rank 9: a nudge, never a filter. Off unless `AISLE_TYPE_BOOST` > 0; its CV
lift over the retrieval order is in docs/evals.md."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from app.ranking.features import FEATURES

_RANK = FEATURES.index("retrieval_rank")
_MATCH = FEATURES.index("type_match")


class TypeBoost:
    def __init__(self, boost: float) -> None:
        self.boost = boost

    @property
    def version(self) -> str:
        return f"type-boost@{self.boost:g}"

    @property
    def features(self) -> tuple[str, ...]:
        return FEATURES

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        match = np.nan_to_num(rows[:, _MATCH], nan=0.0)
        scores: NDArray[np.float64] = (1.0 / (10.0 + rows[:, _RANK])) * (1.0 + self.boost * match)
        return scores
