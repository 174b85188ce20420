"""`aisle ingest` end to end: real model, real Edge shard, a file with a broken row."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.adapters.sqlite_store import SQLiteControlStore
from app.auth.tokens import key_id_of
from app.cli import main
from app.domain.complements import ComplementMap

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
        '{"id": "c1", "title": "Canon EOS 250D camera", "category": "Cameras"}',
        '{"id": "t1", "title": "HP 59A toner", "category": "Toner", "attributes": {"compatibility": "LaserJet M404, M428"}}',
        '{"id": "t2", "title": "HP 59X toner", "category": "Toner", "attributes": {"compatibility": "M404dn"}}',
        '{"id": "t3", "title": "HP 59Y toner", "category": "Toner", "attributes": {"compatibility": "M428fdw"}}',
    ]
    rows += [  # lift: each accessory category is particular to one device category
        f'{{"id": "b{n}", "title": "Canon LP-E17 battery {n}", "category": "Batteries", '
        '"attributes": {"compatibility": "EOS 250D"}}'
        for n in range(3)
    ]
    catalog = tmp_path / "shop.jsonl"
    catalog.write_text("\n".join(rows) + "\n")
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    assert main(["complements", "learn", "--catalog", "shop", "--from-compatibility", str(catalog)]) == 0
    store = SQLiteControlStore(tmp_path / "var" / "control.db")
    learned = asyncio.run(store.get("shop", "learned"))
    assert learned is not None
    assert learned.complements == {"cameras": ("batteries",), "printers": ("toner",)}
    outfits = tmp_path / "outfits.tsv"
    outfits.write_text(
        "image_signature label\n"
        + "".join(f"o{n}\tx\tPants\no{n}\tx\tShoes\n" for n in range(6))
        + "".join(f"d{n}\tx\tDresses\nd{n}\tx\tHandbags\n" for n in range(6))
    )
    assert main(["complements", "learn", "--catalog", "fashion", "--from-outfits", str(outfits)]) == 0
    fashion = asyncio.run(store.get("fashion", "learned"))
    assert fashion is not None
    assert fashion.complements["pants"] == ("shoes",)
    assert "learned 2 complements" in capsys.readouterr().out
    asyncio.run(store.close())


def test_keys_create_list_revoke_on_the_store_the_server_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    args = ["keys", "create", "--name", "storefront", "--scope", "search", "--catalog", "shop"]
    assert main([*args, "--catalog", "outlet", "--rate-limit", "5", "--burst", "10"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    key_id = key_id_of(token)
    assert key_id is not None
    assert f"created key {key_id} (search on shop, outlet)" in err
    assert (
        main(["keys", "create", "--name", "ops", "--scope", "admin", "--scope", "search", "--all-catalogs"])
        == 0
    )
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"{key_id}\tstorefront\tsearch\tshop,outlet\t5/s burst 10\t" in listing
    assert "\tops\tadmin,search\t*\t-\t" in listing
    assert token not in listing
    assert main(["keys", "revoke", key_id]) == 0
    assert main(["keys", "revoke", "nosuchkeyx"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    revoked = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(key_id))
    assert not revoked.endswith("\t-")
    assert main(["keys", "create", "--name", "x", "--scope", "search", "--catalog", "Bad Name"]) == 1


def test_db_migrate_is_idempotent_and_imports_complement_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    maps = tmp_path / "var" / "complements"
    maps.mkdir(parents=True)
    (maps / "shop.merchandiser.json").write_text(
        json.dumps({"source": "merchandiser", "provenance": "api", "complements": {"cameras": ["bags"]}})
    )
    (maps / "notes.txt").write_text("not a map")
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    assert main(["db", "migrate"]) == 0
    out = capsys.readouterr().out
    assert "applied migrations [1, 3, 4]" in out
    assert "shop.merchandiser.json" in out
    assert main(["db", "migrate"]) == 0
    assert "none (up to date); imported no complement files" in capsys.readouterr().out
    store = SQLiteControlStore(tmp_path / "var" / "control.db")
    assert asyncio.run(store.get("shop", "merchandiser")) == ComplementMap(
        "merchandiser", {"cameras": ("bags",)}, "api"
    )
    assert asyncio.run(store.delete_catalog("shop")) is False  # the map goes with the catalog
    asyncio.run(store.close())
    assert main(["db", "migrate"]) == 0  # a deleted map stays deleted: the file was imported once
    assert "imported no complement files" in capsys.readouterr().out
    store = SQLiteControlStore(tmp_path / "var" / "control.db")
    assert asyncio.run(store.get("shop", "merchandiser")) is None
    asyncio.run(store.close())


def test_serve_refuses_to_start_with_auth_on_and_no_admin_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AISLE_DATA_DIR": str(tmp_path),
        "QDRANT_URL": ":memory:",
        "PORT": "1",
        "HF_HUB_OFFLINE": "1",
    }
    for name in ("AISLE_AUTH", "AISLE_ADMIN_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        env=env,
        capture_output=True,
        timeout=180,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode != 0
    assert "AISLE_ADMIN_KEY" in (result.stdout + result.stderr).decode()


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
