"""`aisle ingest` end to end: real model, real Edge shard, a file with a broken row."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main

pytestmark = pytest.mark.integration


def test_ingest_reports_bad_rows_ingests_the_rest_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text(
        '{"id": "a", "title": "JBL Flip 5 portable bluetooth speaker", "brand": "JBL", "price": 99}\n'
        '{"id": "b", "title": "", "brand": "Nobody"}\n'
        '{"id": "c", "title": "Anker USB-C cable 1 m", "brand": "Anker", "price": 9.5}\n'
    )
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AISLE_INGEST_THREADS", "1")
    assert main(["ingest", str(catalog), "--catalog", "shop"]) == 1
    out, err = capsys.readouterr()
    assert f"{catalog}:2 id=b" in err
    assert "added=2 updated=0 unchanged=0 deleted=0 failed=1" in out

    catalog.write_text(catalog.read_text().splitlines()[0] + "\n")
    metrics = tmp_path / "aisle_ingest.prom"
    assert (
        main(["ingest", str(catalog), "--catalog", "shop", "--full-sync", "--metrics-file", str(metrics)])
        == 0
    )
    assert "added=0 updated=0 unchanged=1 deleted=1 failed=0" in capsys.readouterr().out
    text = metrics.read_text()
    assert 'aisle_ingest_products{catalog="shop",outcome="deleted"} 1.0' in text
    assert 'aisle_ingest_products{catalog="shop",outcome="unchanged"} 1.0' in text


def test_a_bad_setting_exits_with_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    assert main(["serve"]) == 2
    assert "PORT" in capsys.readouterr().err
