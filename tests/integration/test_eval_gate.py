"""The CI eval gate runs the committed sample + judgments end to end, and fails on a deliberately
degraded pipeline (the learned ranking stage switched off)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.settings import Settings
from evals.args import BASELINE
from evals.cli import cmd_gate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate")


def gate(settings: Settings, work_dir: Path, baseline: Path = BASELINE) -> int:
    return cmd_gate(settings, argparse.Namespace(baseline=baseline, work_dir=work_dir, update=False))


def test_the_default_pipeline_passes_the_committed_gate(work_dir: Path) -> None:
    assert gate(Settings(), work_dir) == 0


def test_a_degraded_pipeline_fails_the_gate(work_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    degraded = replace(Settings(), ranker_model=None)  # serves the retrieval order, no learned ranker
    assert gate(degraded, work_dir) == 1
    assert "FAILED" in capsys.readouterr().err


def test_the_baseline_names_committed_files() -> None:
    baseline = json.loads(BASELINE.read_text())
    root = BASELINE.parents[1]
    assert (root / baseline["catalog"]).is_file()
    assert (root / baseline["judgments"]).is_file()
    assert 0 < baseline["tolerance"] < 0.1
