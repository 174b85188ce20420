"""`aisle eval run | compare | gate`: the commands (their arguments are in evals/args.py, which
`aisle` imports for every command, so the heavy imports here load only for an eval)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ranx import Qrels, Run, compare, evaluate

from app.llm.prompts import load_prompts
from app.settings import Settings, embedding_model_id
from evals.args import ROOT
from evals.cvrun import cv_section, ship_ranker
from evals.datasets import read_judgments
from evals.report import write
from evals.runner import METRICS, run_pipelines, score


def llm_gate_entries(scored: dict[str, Any], settings: Settings, prompt: str) -> list[dict[str, Any]]:
    entries = []
    for name in scored:
        if name.endswith("+llm") and name.removesuffix("+llm") in scored:
            llm = scored[name]["unjudged_irrelevant"]["all"]["ndcg@10"]
            vector = scored[name.removesuffix("+llm")]["unjudged_irrelevant"]["all"]["ndcg@10"]
            entries.append(
                {
                    "prompt": prompt,
                    "model": settings.llm_model,
                    "pipeline": name,
                    "metric": "ndcg@10",
                    "llm": llm,
                    "vector": vector,
                    "wins": llm > vector,
                }
            )
    return entries


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    judgments = read_judgments(args.judgments)
    names = args.pipelines or ["bm25", "dense", "hybrid", "default"]
    settings = replace(settings, data_dir=args.work_dir)
    want_rows = args.cv or args.candidates_out is not None
    run = asyncio.run(
        run_pipelines(
            settings,
            judgments,
            names,
            files=args.catalog_files,
            embed_cache=args.embed_cache,
            collect_candidates=want_rows,
        )
    )
    results, meta = run.results, run.meta
    if args.candidates_out is not None and run.candidates is not None:
        run.candidates.save(args.candidates_out)
    scored = score(judgments, results)
    cv = None
    if args.cv:
        cv = cv_section(
            judgments,
            results,
            run.candidates,
            fusion_runs=run.fusion_runs,
            ranker_in_default=settings.ranker_model is not None
            and meta.get("ranker") not in (None, "ranker_disabled", "ranker_unavailable"),
            k=args.folds,
            repeats=args.repeats,
            progress=lambda line: print(line, flush=True),
        )
        if args.ranker_out is not None and run.candidates is not None:
            ship_ranker(run.candidates, judgments, cv, args.ranker_out, embedder=embedding_model_id(settings))
    prompt = load_prompts(settings.prompts_dir, dict(settings.prompt_pins))["rerank"].key
    gate = llm_gate_entries(scored, settings, prompt)
    report = write(args.out, judgments, results, scored, meta, gate, cv)
    if args.write_gate is not None and gate:
        args.write_gate.write_text(json.dumps({"entries": gate}, indent=2) + "\n")
    for name, entry in scored.items():
        m = entry["unjudged_irrelevant"]
        print(
            f"{name:16s} nDCG@10 all={m['all']['ndcg@10']:.4f} dev={m['dev']['ndcg@10']:.4f} "
            f"validation={m['validation']['ndcg@10']:.4f}"
        )
    if cv is not None:
        for name, s in cv["pipelines"].items():
            vb = s.get("vs_baseline", {})
            print(
                f"CV {name:22s} {s['cv_mean']:.4f} [{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}] "
                f"ratio {vb.get('ratio', 1.0):.3f} p={vb.get('p_randomization', 1.0)}"
            )
    print(f"target: {json.dumps(report['target'])}")
    print(f"report: {args.out / 'report.md'} (wall {meta['wall_seconds']} s)")
    return 0


def _load(spec: str) -> tuple[Qrels, Run, str]:
    folder, _, name = spec.partition(":")
    name = name or "default"
    path = Path(folder)
    qrels = Qrels.from_file(str(path / "qrels.trec"), kind="trec")
    run = Run.from_file(str(path / "runs" / f"{name}.trec"), kind="trec")
    run.name = f"{path.name}:{name}"
    return qrels, run, name


def cmd_compare(args: argparse.Namespace) -> int:
    qrels, run_a, _ = _load(args.a)
    _, run_b, _ = _load(args.b)
    report = compare(qrels, [run_a, run_b], METRICS, stat_test="student", max_p=0.05, make_comparable=True)
    print(report)
    print("(a superscript letter marks a significant improvement over that run: paired t-test, p < 0.05)\n")
    mean_a = evaluate(qrels, run_a, METRICS, make_comparable=True)
    mean_b = evaluate(qrels, run_b, METRICS, make_comparable=True)
    for metric in METRICS:
        a, b = float(mean_a[metric]), float(mean_b[metric])
        print(f"  {metric:13s} {a:.4f} -> {b:.4f} ({b - a:+.4f})")
    per_a = evaluate(qrels, run_a, "ndcg@10", return_mean=False, make_comparable=True)
    per_b = evaluate(qrels, run_b, "ndcg@10", return_mean=False, make_comparable=True)
    moved = sorted(zip(qrels.keys(), per_a, per_b, strict=True), key=lambda t: abs(t[2] - t[1]), reverse=True)
    print("\nqueries that moved most (nDCG@10, A -> B):")
    for qid, a, b in moved[:10]:
        print(f"  {qid:30s} {a:.3f} -> {b:.3f} ({b - a:+.3f})")
    return 0


def cmd_gate(settings: Settings, args: argparse.Namespace) -> int:
    baseline = json.loads(args.baseline.read_text())
    judgments = read_judgments(ROOT / baseline["judgments"])
    settings = replace(settings, data_dir=args.work_dir)
    results = asyncio.run(
        run_pipelines(
            settings, judgments, [baseline["pipeline"]], files=[ROOT / baseline["catalog"]], catalog="gate"
        )
    ).results
    measured = score(judgments, results)[baseline["pipeline"]]["unjudged_irrelevant"]["all"][
        baseline["metric"]
    ]
    return check_gate(baseline, measured, update=args.update, path=args.baseline)


def check_gate(
    baseline: dict[str, Any], measured: float, *, update: bool = False, path: Path | None = None
) -> int:
    floor = baseline["value"] - baseline["tolerance"]
    print(
        f"eval gate: {baseline['pipeline']} {baseline['metric']} = {measured:.4f} "
        f"(baseline {baseline['value']:.4f}, tolerance {baseline['tolerance']}, floor {floor:.4f})"
    )
    if update and path is not None:
        path.write_text(json.dumps({**baseline, "value": round(measured, 4)}, indent=2) + "\n")
        print(f"eval gate: baseline updated in {path}")
        return 0
    if measured < floor:
        print("eval gate: FAILED, retrieval quality regressed", file=sys.stderr)
        return 1
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    if args.eval_command == "run":
        return cmd_run(settings, args)
    if args.eval_command == "compare":
        return cmd_compare(args)
    if args.eval_command == "cv-merge":
        from evals.cvmerge import main as merge_main

        return merge_main(args.runs, args.out)
    return cmd_gate(settings, args)
