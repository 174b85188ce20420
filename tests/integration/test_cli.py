"""`aisle ingest` end to end: real model, real Edge shard, a file with a broken row."""

from __future__ import annotations

import json
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
    sync = ["ingest", str(catalog), "--catalog", "shop", "--full-sync", "--metrics-file", str(metrics)]
    assert main(sync) == 3  # 1 of 2 is over the 20 % a full sync may delete: refused
    assert "refused, nothing written" in capsys.readouterr().err
    assert main([*sync, "--dry-run"]) == 0
    assert "would delete: c" in capsys.readouterr().out
    assert main([*sync, "--max-delete-fraction", "0.5"]) == 0
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


def test_complements_learn_writes_a_map_from_compatibility_statements_or_outfits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        '{"id": "p1", "title": "HP LaserJet M404dn printer", "category": "Printers"}',
        '{"id": "p2", "title": "HP LaserJet M428fdw printer", "category": "Printers"}',
        '{"id": "t1", "title": "HP 59A toner", "category": "Toner", "attributes": {"compatibility": "LaserJet M404, M428"}}',
        '{"id": "t2", "title": "HP 59X toner", "category": "Toner", "attributes": {"compatibility": "M404dn"}}',
    ]
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("AISLE_COMPLEMENTS_DIR", str(tmp_path / "maps"))
    assert main(["complements", "learn", "--catalog", "shop", "--from-compatibility", str(catalog)]) == 0
    learned = json.loads((tmp_path / "maps" / "shop.learned.json").read_text())
    assert learned["complements"] == {"printers": ["toner"]}
    outfits = tmp_path / "outfits.tsv"
    outfits.write_text(
        "image_signature label\n" + "".join(f"o{n}\tx\tPants\no{n}\tx\tShoes\n" for n in range(6))
    )
    assert main(["complements", "learn", "--catalog", "fashion", "--from-outfits", str(outfits)]) == 0
    assert json.loads((tmp_path / "maps" / "fashion.learned.json").read_text())["complements"]["pants"] == [
        "shoes"
    ]
    assert "learned 2 complements" in capsys.readouterr().out


def test_full_sync_guards_an_empty_file_and_a_truncated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"id": f"p{i}", "title": f"usb cable {i} m", "price": i} for i in range(10)]
    full = tmp_path / "full.jsonl"
    full.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AISLE_INGEST_THREADS", "1")
    assert main(["ingest", str(full), "--catalog", "shop"]) == 0

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["ingest", str(empty), "--catalog", "shop", "--full-sync"]) == 3
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("".join(json.dumps(r) + "\n" for r in rows[:8]) + json.dumps(rows[8])[:20] + "\n")
    assert main(["ingest", str(truncated), "--catalog", "shop", "--full-sync", "--force"]) == 1
    out = capsys.readouterr().out
    assert "deleted=0" in out
    assert "deleted nothing" in out
    assert main(["ingest", str(full), "--catalog", "shop", "--dry-run"]) == 0
    assert "would add=0 update=0 unchanged=10 delete=0" in capsys.readouterr().out


def test_a_file_whose_every_row_fails_creates_no_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "title": "x", "price": Infinity}\n{"id": "b", "title": "\xff"}\n')
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    assert main(["ingest", str(bad), "--catalog", "shop"]) == 1
    assert "id=a" in capsys.readouterr().err
    assert not (tmp_path / "var" / "edge" / "shop").exists()
