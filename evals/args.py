"""The `aisle eval` arguments, kept apart from evals/cli.py so that building the `aisle` parser
(every command, `serve` included) does not import ranx, numba, bm25s and matplotlib (about 5 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "evals" / "baseline.json"
PIPELINES = ("bm25", "dense", "lexical", "hybrid", "hybrid-weighted", "default")


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="offline evaluation runs")
    cmds = ev.add_subparsers(dest="eval_command", required=True)
    run = cmds.add_parser("run", help="run pipelines over judged queries and write a report")
    run.add_argument("--catalog-file", action="append", required=True, type=Path, dest="catalog_files")
    run.add_argument(
        "--judgments", required=True, type=Path, help="Chorus CSV, or a BEIR folder/queries.jsonl"
    )
    run.add_argument(
        "--pipeline", action="append", dest="pipelines", help=f"{', '.join(PIPELINES)}; +llm suffix"
    )
    run.add_argument("--out", required=True, type=Path)
    run.add_argument("--work-dir", type=Path, default=Path("var/evals"), help="where the eval index lives")
    run.add_argument("--write-gate", type=Path, default=None, help="write the LLM eval gate file here")
    run.add_argument("--cv", action="store_true", help="add the cross-validated section (evals/cv.py)")
    run.add_argument("--folds", type=int, default=5, help="CV folds (with --cv)")
    run.add_argument("--repeats", type=int, default=3, help="CV repeats with reshuffled folds (with --cv)")
    run.add_argument(
        "--candidates-out",
        type=Path,
        default=None,
        help="also save the learned ranker's training rows here (.npz, for evals.ranker train)",
    )
    run.add_argument(
        "--ranker-out",
        type=Path,
        default=None,
        help="with --cv: train the shipped ranker on every judged query and write it here (models/ranker/vN)",
    )
    run.add_argument(
        "--embed-cache",
        type=Path,
        default=Path("var/embed-cache"),
        help="reuse product vectors across eval ingests (keyed by text and model id)",
    )
    cmp = cmds.add_parser("compare", help="paired comparison of two pipelines: DIR[:PIPELINE] DIR[:PIPELINE]")
    cmp.add_argument("a")
    cmp.add_argument("b")
    merge = cmds.add_parser("cv-merge", help="one CV table over several --cv reports, paired across runs")
    merge.add_argument(
        "--run", action="append", required=True, dest="runs", help="LABEL=REPORT_DIR (first: reference)"
    )
    merge.add_argument("--out", required=True, type=Path)
    gate = cmds.add_parser("gate", help="fail if the default pipeline's nDCG@10 fell below the baseline")
    gate.add_argument("--baseline", type=Path, default=BASELINE)
    gate.add_argument("--work-dir", type=Path, default=Path("var/evals-gate"))
    gate.add_argument("--update", action="store_true", help="record the measured value as the new baseline")
