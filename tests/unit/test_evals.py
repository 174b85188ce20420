from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.settings import Settings
from evals.cli import check_gate, llm_gate_entries
from evals.datasets import read_beir, read_chorus_csv, read_judgments, split_of
from evals.pipelines import Ranked
from evals.report import baseline_ratio
from evals.runner import PipelineResult, score

SAMPLE_JUDGMENTS = Path(__file__).resolve().parents[2] / "data" / "sample" / "judgments-dev.csv"


def test_the_chorus_csv_gives_93_queries_with_graded_judgments() -> None:
    judgments = read_chorus_csv(SAMPLE_JUDGMENTS)
    assert len(judgments.queries) == 93
    assert judgments.qrels["bluetooth-speaker"]["1993197"] == 3
    assert all(0 <= g <= 3 for q in judgments.qrels.values() for g in q.values())


def test_a_beir_folder_reads_queries_and_qrels(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text(
        '{"_id": "q1", "text": "usb cable"}\n{"_id": "q2", "text": "unjudged"}\n'
    )
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n")
    judgments = read_judgments(tmp_path)
    assert judgments.queries == {"q1": "usb cable"}
    assert judgments.qrels == {"q1": {"d1": 2, "d2": 0}}
    assert read_beir(tmp_path / "queries.jsonl") == judgments


def test_the_split_is_stable_and_holds_back_about_a_third() -> None:
    judgments = read_chorus_csv(SAMPLE_JUDGMENTS)
    splits = [judgments.split_of(q) for q in judgments.queries]
    assert 0.2 < splits.count("validation") / len(splits) < 0.4
    assert split_of("Bluetooth  Speaker") == split_of("bluetooth speaker")


def _result(name: str, runs: dict[str, list[str]]) -> PipelineResult:
    result = PipelineResult(name)
    for qid, docs in runs.items():
        result.ranked[qid] = Ranked(docs, [1.0 / (i + 1) for i in range(len(docs))], {"total": 1.0})
    return result


def test_scoring_counts_unjudged_as_irrelevant_or_drops_them_on_judged_only_lists() -> None:
    judgments = read_chorus_csv(SAMPLE_JUDGMENTS)
    relevant = [d for d, g in judgments.qrels["bluetooth-speaker"].items() if g == 3]
    runs = {q: [] for q in judgments.qrels}
    runs["bluetooth-speaker"] = ["unjudged-1", "unjudged-2", *relevant]
    scored = score(judgments, [_result("p", runs)])["p"]
    assert scored["judged_only"]["all"]["ndcg@10"] > scored["unjudged_irrelevant"]["all"]["ndcg@10"] > 0
    assert scored["latency_ms"]["total"] == {"p50": 1.0, "p95": 1.0}


def test_the_target_ratio_compares_default_with_the_best_baseline() -> None:
    def entry(v: float) -> dict[str, object]:
        return {"unjudged_irrelevant": {"dev": {"ndcg@10": v}}}

    ratio = baseline_ratio({"bm25": entry(0.5), "dense": entry(0.4), "default": entry(0.6)}, "dev")
    assert ratio == {"default": 0.6, "best_baseline": 0.5, "ratio": 1.2}
    assert baseline_ratio({"dense": entry(0.4)}, "dev") is None


@pytest.mark.parametrize(("measured", "code"), [(0.70, 0), (0.681, 0), (0.679, 1), (0.5, 1)])
def test_the_gate_fails_only_below_baseline_minus_tolerance(measured: float, code: int) -> None:
    baseline = {"pipeline": "default", "metric": "ndcg@10", "value": 0.70, "tolerance": 0.02}
    assert check_gate(baseline, measured) == code


def test_the_gate_can_record_a_new_baseline(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    baseline = {"pipeline": "default", "metric": "ndcg@10", "value": 0.70, "tolerance": 0.02}
    assert check_gate(baseline, 0.75, update=True, path=path) == 0
    assert json.loads(path.read_text())["value"] == 0.75


def test_llm_gate_entries_say_whether_the_llm_beat_its_vector_pipeline() -> None:
    def entry(v: float) -> dict[str, object]:
        return {"unjudged_irrelevant": {"all": {"ndcg@10": v}}}

    scored = {"hybrid": entry(0.6), "hybrid+llm": entry(0.65), "dense": entry(0.5)}
    [gate] = llm_gate_entries(scored, Settings(llm_model="m"), "rerank/v1")
    assert (gate["prompt"], gate["model"], gate["wins"]) == ("rerank/v1", "m", True)
