"""One contract, every Ranker: the fake and the LightGBM adapter (a real model trained and
exported by evals/ranker.py into a temporary directory, then loaded as serving loads it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.adapters.lightgbm_ranker import LightGBMRanker
from app.domain.errors import RankerUnavailable
from app.ports import Ranker
from app.ranking.features import FEATURES
from evals.ranker import Candidates, export, train
from tests.fakes import LinearRanker

pytestmark = pytest.mark.integration


def synthetic(queries: int = 12, per_query: int = 20) -> Candidates:
    """Grade follows title coverage: a model that learns anything ranks covered titles first."""
    rng = np.random.default_rng(3)
    data = Candidates()
    cov = FEATURES.index("title_coverage")
    for q in range(queries):
        rows = rng.random((per_query, len(FEATURES)))
        rows[rng.random(rows.shape) < 0.1] = np.nan
        rows[:, cov] = rng.random(per_query)
        data.doc_ids[f"q{q}"] = [f"d{q}-{i}" for i in range(per_query)]
        data.rows[f"q{q}"] = rows
        data.labels[f"q{q}"] = np.floor(rows[:, cov] * 3.99)
    return data


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = synthetic()
    params = {"num_leaves": 7, "min_data_in_leaf": 5, "num_boost_round": 30}
    model = train(data, list(data.doc_ids), params, list(range(len(FEATURES))))
    out = tmp_path_factory.mktemp("ranker") / "v-test"
    export(model, out, version="v-test", params=params, data=data, extra={"cv": {}})
    return out


@pytest.fixture(params=["fake", "lightgbm"])
def ranker(request: pytest.FixtureRequest, model_dir: Path) -> Ranker:
    if request.param == "fake":
        return LinearRanker({"title_coverage": 1.0})
    return LightGBMRanker.load(model_dir)


def test_names_its_version_and_the_features_it_was_trained_on(ranker: Ranker) -> None:
    assert ranker.version
    assert tuple(ranker.features) == FEATURES


def test_scores_one_finite_float_per_row_missing_values_included(ranker: Ranker) -> None:
    rows = synthetic(1, 30).rows["q0"]
    scores = ranker.score(rows)
    assert scores.shape == (30,)
    assert np.isfinite(scores).all()
    assert np.array_equal(scores, ranker.score(rows.copy()))  # deterministic


def test_learns_the_signal_it_was_trained_on(ranker: Ranker) -> None:
    rows = synthetic(1, 40).rows["q0"]
    scores = ranker.score(rows)
    cov = rows[:, FEATURES.index("title_coverage")]
    assert np.corrcoef(scores, cov)[0, 1] > 0.5


def test_the_manifest_records_features_params_data_hash_and_importances(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["features"] == list(FEATURES)
    assert manifest["version"] == "v-test"
    assert len(manifest["training_data_sha256"]) == 64
    assert manifest["params"]["objective"] == "lambdarank"
    top = next(iter(manifest["feature_importance_gain_share"]))
    assert top == "title_coverage"


def test_a_missing_or_mismatched_model_is_unavailable(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(RankerUnavailable):
        LightGBMRanker.load(tmp_path / "nothing-here")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.txt").write_text((model_dir / "model.txt").read_text())
    manifest = json.loads((model_dir / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "features": manifest["features"][:-1]}))
    with pytest.raises(RankerUnavailable, match="features"):
        LightGBMRanker.load(broken)
