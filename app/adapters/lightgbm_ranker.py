"""`LightGBMRanker`: a LambdaMART model trained by `evals/ranker.py`, loaded from a versioned
directory (models/ranker/<version>/: `model.txt` in LightGBM's text format and `manifest.json`
with the feature names, parameters, training data hash and CV figures).

Prediction runs single-threaded: a request scores about 100 rows, where LightGBM's thread pool
costs more than it saves, and serving keeps one CPU-bound thread per request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.domain.errors import RankerUnavailable


class LightGBMRanker:
    def __init__(self, booster: Any, version: str, features: tuple[str, ...]) -> None:
        self._booster = booster
        self._version = version
        self._features = features

    @classmethod
    def load(cls, directory: Path) -> LightGBMRanker:
        try:
            import lightgbm

            manifest = json.loads((directory / "manifest.json").read_text())
            booster = lightgbm.Booster(model_file=str(directory / manifest.get("model_file", "model.txt")))
            features = tuple(str(f) for f in manifest["features"])
            version = str(manifest["version"])
        except Exception as e:
            raise RankerUnavailable(f"cannot load the ranking model from {directory}: {e}") from e
        if booster.num_feature() != len(features):
            raise RankerUnavailable(
                f"{directory}: the model has {booster.num_feature()} features, the manifest names {len(features)}"
            )
        return cls(booster, version, features)

    @property
    def version(self) -> str:
        return self._version

    @property
    def features(self) -> tuple[str, ...]:
        return self._features

    def score(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        scores: NDArray[np.float64] = np.asarray(self._booster.predict(rows, num_threads=1), dtype=np.float64)
        return scores
