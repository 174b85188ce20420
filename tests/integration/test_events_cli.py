"""`aisle experiments ...`, `aisle events prune` and `aisle eval events` end to end (SQLite store in
AISLE_DATA_DIR; the replay on the SYNTHETIC shopper simulation, which proves the evaluator finds
the structure planted in it: correctness, never a quality claim)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.adapters.sqlite_store import SQLiteControlStore
from app.cli import main
from app.domain.events import Event, Impression
from evals.event_logs import main as logs_main
from evals.event_logs import outfit_events, read_outfits, synthetic
from evals.events import items_as_products, read_events, replay
from tests.fakes import HashingEmbedder, InMemoryVectorIndex

pytestmark = pytest.mark.integration


def test_experiments_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path))
    create = ["experiments", "create", "--catalog", "shop", "--name", "rr", "--route", "search"]
    assert main([*create, "--variant", "control:rerank=none", "--variant", "llm:rerank=llm,weight=3"]) == 0
    assert "started rr on shop (search; by user): control (1), llm (3)" in capsys.readouterr().out
    assert main([*create[:-1], "similar", "--variant", "a", "--variant", "b"]) == 1  # the name is taken
    assert "exists" in capsys.readouterr().err
    assert main([*create[:-3], "x", "--route", "search", "--variant", "a", "--variant", "b"]) == 1
    assert "already runs" in capsys.readouterr().err  # one experiment per catalog and route
    assert main([*create[:-3], "y", "--route", "similar", "--variant", "a:colour=red", "--variant", "b"]) == 1
    assert "unknown option" in capsys.readouterr().err

    now = datetime.now(UTC)
    store = SQLiteControlStore(tmp_path / "control.db")
    shown = [
        Impression(
            "shop",
            f"r{n}",
            "search",
            "llm" if n % 2 else "vector",
            ("a", "b"),
            now,
            "rr",
            "llm" if n % 2 else "control",
        )
        for n in range(40)
    ]
    clicks = [Event(f"c{n}", "click", "a", "s", now, request_id=f"r{n}") for n in range(0, 40, 3)]

    async def seed() -> None:
        await store.record_impressions(shown)
        await store.append_events("shop", clicks)
        await store.append_events("shop", [Event("old", "view", "a", "s", now - timedelta(days=400))])
        await store.close()

    asyncio.run(seed())
    assert main(["experiments", "report", "--catalog", "shop", "--name", "rr"]) == 0
    out = capsys.readouterr().out
    assert "search / llm" in out
    assert "experiment rr (each variant against control)" in out
    assert "click: z = " in out
    assert main(["experiments", "list"]) == 0
    assert "shop\trr\tuser\tsearch\tcontrol:1,llm:3" in capsys.readouterr().out
    assert main(["experiments", "stop", "--catalog", "shop", "--name", "rr"]) == 0
    assert main(["experiments", "stop", "--catalog", "shop", "--name", "rr-typo"]) == 1
    capsys.readouterr()
    assert main(["events", "prune"]) == 0
    assert "pruned 1 events and 0 impressions" in capsys.readouterr().out


def test_the_replay_finds_what_the_synthetic_simulation_planted() -> None:
    """SYNTHETIC data: the complement of each bought item is planted in the next category, and
    sessions browse within a style. Behaviour must find both; content alone cannot know which
    category completes which. Correctness of the evaluator and models, not a quality claim."""
    products, rows = synthetic(users=150, days=20, seed=3)
    events = [
        Event(
            f"e{n}",
            r["type"],
            r["item_id"],
            r["session_id"],
            datetime.fromisoformat(r["timestamp"]),
            r.get("user_id"),
            r.get("order_id"),
            category=r["category"],
        )
        for n, r in enumerate(rows)
    ]
    from app.domain.models import Product

    catalog = [
        Product(id=p["id"], title=p["title"], category=p["category"], brand=p["brand"], price=p["price"])
        for p in products
    ]
    report = asyncio.run(
        replay(events, catalog, HashingEmbedder(), InMemoryVectorIndex(), ks=(10,), max_targets=150)
    )
    results = report["results"]
    assert set(results) == {"bought_together", "viewed_together", "for_session", "for_user", "trending"}
    bought = results["bought_together"]
    assert bought["aisle"]["10"]["hit_rate"] > bought["popularity"]["10"]["hit_rate"]
    session = results["for_session"]
    assert session["aisle"]["10"]["mrr"] > session["popularity"]["10"]["mrr"]
    assert session["aisle"]["10"]["coverage"] > session["popularity"]["10"]["coverage"]
    assert "content" not in results["trending"]
    assert report["throughput"]["train_events_per_s"] > 0


def test_the_outfit_converter_keeps_file_order_and_the_cli_replays_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tsv = tmp_path / "outfits.tsv"
    lines = ["image_signature bounding_x  bounding_y  bounding_width  bounding_height label"]
    looks = [
        ["Shoes", "Pants", "Shirts & Tops"],
        ["Shoes", "Skirts", "Bags"],
        ["Pants", "Shoes", "Bags"],
    ] * 10
    for n, look in enumerate(looks):
        lines += [f"sig{n}\t0\t0\t1\t1\t{label}" for label in look]
    tsv.write_text("\n".join(lines) + "\n")
    assert read_outfits(tsv)[0] == ["Shoes", "Pants", "Shirts & Tops"]
    rows = list(outfit_events(read_outfits(tsv)))
    assert [r["type"] for r in rows[:6]] == ["view"] * 3 + ["purchase"] * 3
    out = tmp_path / "events.jsonl"
    assert logs_main(["outfits", "--outfits", str(tsv), "--out", str(out)]) == 0
    events = read_events(out)
    assert len(events) == 180
    assert [p.id for p in items_as_products(events)][:3] == ["Shoes", "Pants", "Shirts & Tops"]

    monkeypatch.setenv("AISLE_DATA_DIR", str(tmp_path / "var"))
    report = tmp_path / "report.json"
    argv = ["eval", "events", "--events", str(out), "--k", "3", "--max-targets", "20", "--out", str(report)]
    assert main([*argv, "--work-dir", str(tmp_path / "work"), "--label", "tiny outfits"]) == 0
    printed = capsys.readouterr().out
    assert "offline replay: tiny outfits" in printed
    assert "bought_together" in printed
    saved = json.loads(report.read_text())
    assert saved["label"] == "tiny outfits"
    assert saved["k"] == [3]
