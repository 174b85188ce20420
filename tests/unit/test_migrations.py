"""The migration runner's pure parts: numbering rules and what is left to apply. Migration
numbers are handed out to branches developed side by side (0002 and 0003 together), so a gap
must load, and a number filled in later must still be applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.store.migrations import Migration, load, pending


def _write(root: Path, *names: str) -> Path:
    (root / "sqlite").mkdir(parents=True)
    for name in names:
        (root / "sqlite" / name).write_text(f"CREATE TABLE t_{name[:4]} (id TEXT);\n", encoding="utf-8")
    return root


def test_a_gap_in_the_numbers_loads_in_version_order(tmp_path: Path) -> None:
    root = _write(tmp_path, "0003_events.sql", "0001_control_plane.sql")
    assert [(m.version, m.name) for m in load("sqlite", root)] == [(1, "control_plane"), (3, "events")]


@pytest.mark.parametrize(
    "names",
    [("0002_writes.sql",), ("0001_a.sql", "0001_b.sql"), ()],
    ids=["no-0001", "duplicate", "none"],
)
def test_numbers_start_at_one_and_are_unique(tmp_path: Path, names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="unique, from 1 up"):
        load("sqlite", _write(tmp_path, *names))


def test_a_number_filled_in_later_is_still_pending() -> None:
    shipped = [Migration(v, f"m{v}", f"-- {v}\n") for v in (1, 2, 3)]
    applied = {m.version: m.checksum for m in shipped if m.version != 2}  # 0002 merged after 0003
    assert [m.version for m in pending(shipped, applied)] == [2]
