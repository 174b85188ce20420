"""`aisle serve --workers N`: several uvicorn worker processes, each building its own app, with
prometheus-client's multi-process mode summing their metrics; refused where it cannot work.

The two-worker server runs on qdrant-client's `:memory:` mode, which is per process (each worker
has its own empty index), so it proves what does not depend on shared data: both workers start and
answer, and `/metrics`, whichever worker answers it, counts every worker's requests. Shared data
across workers is the Qdrant server's job, tested in the server adapter's contract suite.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MAX_REQUESTS = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "PROMETHEUS_", "LLM_"))}
    return {
        **env,
        "AISLE_DATA_DIR": str(tmp_path / "var"),
        "AISLE_LOG_LEVEL": "warning",
        "AISLE_AUTH": "off",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }


def _serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_several_workers_on_the_embedded_edge_index_are_refused_with_a_pointer(tmp_path: Path) -> None:
    done = _serve(_env(tmp_path), "--workers", "2")
    assert done.returncode == 2
    assert "Qdrant Edge shard is owned by one process" in done.stderr
    assert "docs/operations.md#several-workers-on-one-host" in done.stderr


def test_several_workers_without_a_multiprocess_metrics_dir_are_refused(tmp_path: Path) -> None:
    done = _serve(_env(tmp_path, QDRANT_URL=":memory:"), "--workers", "2")
    assert done.returncode == 2
    assert "PROMETHEUS_MULTIPROC_DIR" in done.stderr


def test_several_workers_with_auth_on_and_no_admin_key_are_refused(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prometheus"
    env = _env(tmp_path, QDRANT_URL=":memory:", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), AISLE_AUTH="on")
    env.pop("AISLE_ADMIN_KEY", None)
    done = _serve(env, "--workers", "2")
    assert done.returncode == 2
    assert "AISLE_ADMIN_KEY" in done.stderr


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale")  # from a previous run: must be cleared
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(tmp_path, QDRANT_URL=":memory:", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_both_workers(server, metrics_dir, url)
        yield url, metrics_dir
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _worker_pids(metrics_dir: Path) -> set[str]:
    """prometheus-client writes one file per metric type per process: `<type>_<pid>.db`."""
    return {m.group(1) for p in metrics_dir.glob("*.db") if (m := re.search(r"_(\d+)\.db$", p.name))}


def _wait_for_both_workers(server: subprocess.Popen[str], metrics_dir: Path, url: str) -> None:
    """Both workers have created their metrics (at app start-up) and one answers /healthz."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}: {server.stderr.read()[-2000:]}")
        try:
            if len(_worker_pids(metrics_dir)) >= 2 and httpx.get(f"{url}/healthz", timeout=2).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail("two workers did not come up within 120 s")


def _healthz_count(metrics_text: str) -> float:
    pattern = r'^aisle_http_request_duration_seconds_count\{[^}]*route="/healthz"[^}]*\} (\S+)$'
    return sum(float(v) for v in re.findall(pattern, metrics_text, flags=re.MULTILINE))


def _healthz_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Each worker's own /healthz count, read from its histogram file (what /metrics sums)."""
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("histogram_*.db"):
        pid = path.stem.removeprefix("histogram_")
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            _, sample, labels, _ = json.loads(key)
            # stored per bucket, not cumulative: their sum is the count
            if sample == "aisle_http_request_duration_seconds_bucket" and labels.get("route") == "/healthz":
                counts[pid] = counts.get(pid, 0.0) + value
    return counts


def test_two_workers_serve_and_metrics_are_summed_across_them(two_workers: tuple[str, Path]) -> None:
    url, metrics_dir = two_workers
    assert "1" not in _worker_pids(metrics_dir)  # the stale file was cleared at start
    sent = sum(_healthz_per_worker(metrics_dir).values())  # the fixture's readiness probes
    # A new connection per request: the kernel hands each to whichever worker accepts first, so
    # keep going (bounded) until both workers have served some.
    while sent < MAX_REQUESTS:
        for _ in range(10):
            assert httpx.get(f"{url}/healthz", timeout=5, headers={"Connection": "close"}).is_success
        sent += 10
        per_worker = _healthz_per_worker(metrics_dir)
        if len(per_worker) >= 2 and all(per_worker.values()):
            break
    assert len(per_worker) == 2, per_worker
    assert all(per_worker.values()), per_worker
    # A readiness probe the fixture gave up on (client timeout on a loaded machine) may still have
    # been served and counted: the workers' files hold at least what this test sent.
    total = sum(_healthz_per_worker(metrics_dir).values())
    assert total >= sent
    for _ in range(6):  # whichever worker answers /metrics reports both workers' requests
        assert _healthz_count(httpx.get(f"{url}/metrics", timeout=5).text) == total
