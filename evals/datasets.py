"""Judgments readers: the Chorus CSV (query, docid, ..., final_rating) and a BEIR-like layout
(queries.jsonl + qrels.tsv), both to one shape: queries by id, graded qrels by query id.

Also the deterministic dev/validation split: a query's split depends on its text alone, so it is
stable across runs and machines and nobody picks which queries are held back.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["dev", "validation"]
VALIDATION_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class Judgments:
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> grade

    def split_of(self, query_id: str) -> Split:
        return split_of(self.queries[query_id])


def split_of(text: str) -> Split:
    digest = hashlib.sha256(" ".join(text.lower().split()).encode()).digest()
    return "validation" if digest[0] / 256 < VALIDATION_SHARE else "dev"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "q"


def read_chorus_csv(path: Path) -> Judgments:
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = row["query"].strip()
            qid = _slug(text)
            queries[qid] = text
            qrels.setdefault(qid, {})[str(row["docid"]).strip()] = int(float(row["final_rating"]))
    return Judgments(queries, qrels)


def read_beir(path: Path) -> Judgments:
    """`path` is the folder (or its queries.jsonl); qrels in qrels.tsv or qrels/test.tsv beside it."""
    folder = path if path.is_dir() else path.parent
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = str(row["text"])
    qrels_path = next((p for p in (folder / "qrels.tsv", folder / "qrels" / "test.tsv") if p.is_file()), None)
    if qrels_path is None:
        raise FileNotFoundError(f"no qrels.tsv next to {folder / 'queries.jsonl'}")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return Judgments({q: t for q, t in queries.items() if q in qrels}, qrels)


def read_judgments(path: Path) -> Judgments:
    if path.suffix.lower() == ".csv":
        return read_chorus_csv(path)
    return read_beir(path)
