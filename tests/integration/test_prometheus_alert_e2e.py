"""End to end with a real Prometheus on loopback: it scrapes Aisle's /metrics, evaluates the
committed alert rules (with their `for:` shortened), and the LLM fallback-rate alert fires once the
LLM endpoint is made to fail (pointed at a closed port)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "observability" / "prometheus" / "aisle-rules.yml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} did not come up within {seconds} s")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str]]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (.ci/run installs Debian's prometheus)")
    env = {
        **os.environ,
        "AISLE_DATA_DIR": str(tmp_path / "var"),
        "AISLE_INGEST_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "AISLE_LOG_LEVEL": "warning",
        "AISLE_AUTH": "off",  # a loopback test server; auth has its own tests
    }
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text(
        "".join(
            f'{{"id": "p{i}", "title": "bluetooth speaker model {i}", "brand": "JBL", "price": {20 + i}}}\n'
            for i in range(8)
        )
    )
    subprocess.run(
        [sys.executable, "-m", "app", "ingest", str(catalog), "--catalog", "shop"],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    aisle_port, prom_port = _free_port(), _free_port()
    dead_llm = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens: every LLM call is refused
    aisle = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **env,
            "PORT": str(aisle_port),
            "LLM_BASE_URL": dead_llm,
            "LLM_MODEL": "m",
            "LLM_DEADLINE_MS": "300",
        },
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(re.sub(r"for: \d+m", "for: 1s", RULES.read_text()))
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}\n"
        f"scrape_configs:\n  - job_name: aisle\n    static_configs:\n      - targets: ['127.0.0.1:{aisle_port}']\n"
    )
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{aisle_port}/readyz", 90)
        _wait(f"http://127.0.0.1:{prom_port}/-/ready", 30)
        yield f"http://127.0.0.1:{aisle_port}", f"http://127.0.0.1:{prom_port}"
    finally:
        for process in (aisle, prom):
            process.terminate()
            process.wait(10)


def _firing(prom: str) -> set[str]:
    alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def test_the_fallback_rate_alert_fires_when_the_llm_endpoint_fails(stack: tuple[str, str]) -> None:
    aisle, prom = stack
    assert "AisleLLMFallbackRateHigh" not in _firing(prom)
    deadline = time.monotonic() + 60
    fired = False
    with httpx.Client(base_url=aisle, timeout=10) as client:
        while time.monotonic() < deadline and not fired:
            for n in range(5):
                body = client.post(
                    "/v1/catalogs/shop/search",
                    json={"query": f"speaker {n} {time.monotonic()}", "rerank": "llm"},
                ).json()
                assert body["fallback"]["reason"] in {"connection_error", "circuit_open"}
            fired = "AisleLLMFallbackRateHigh" in _firing(prom)
            time.sleep(0.5)
    assert fired, _firing(prom)
    scraped = httpx.get(f"{prom}/api/v1/query", params={"query": "sum(aisle_llm_requests_total)"}).json()
    assert float(scraped["data"]["result"][0]["value"][1]) > 0
