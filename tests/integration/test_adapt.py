"""`aisle embeddings adapt` end to end on a few products: a real (tiny) fine-tuning run whose output
the serving path loads, with torch and with the ONNX int8 export it ships."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.adapters.onnx_embedder import ONNX_FILE
from app.cli import main
from app.main import build_embedder
from app.settings import Settings

pytestmark = pytest.mark.integration

ROWS = [
    {"id": f"p{i}", "title": title, "brand": brand, "category": category}
    for i, (title, brand, category) in enumerate(
        [
            ("Logitech M185 wireless mouse", "Logitech", "Keyboards & Mice"),
            ("Corsair Harpoon gaming mouse", "Corsair", "Keyboards & Mice"),
            ("Targus classic laptop case", "Targus", "Bags & Cases"),
            ("JBL Flip 5 bluetooth speaker", "JBL", "Speakers & Audio"),
            ("StarTech HDMI cable 2m", "StarTech.com", "Cables"),
            ("Duracell AA batteries 4 pack", "Duracell", "Batteries"),
            ("Samsung 27in curved monitor", "Samsung", "Monitors"),
            ("HP LaserJet Pro printer", "HP", "Printers & Scanners"),
        ]
    )
]


def test_adapt_writes_a_model_the_serving_path_loads(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    out = tmp_path / "adapted"
    argv = ["embeddings", "adapt", "--catalog-file", str(catalog), "--out", str(out)]
    assert main([*argv, "--batch-size", "4", "--max-seq-length", "32", "--threads", "1", "--onnx"]) == 0
    provenance = json.loads((out / "aisle-adapt.json").read_text())
    assert provenance["products"] == len(ROWS)
    assert provenance["steps"] >= 1
    assert provenance["wall_s"] > 0
    assert (out / ONNX_FILE).is_file()

    texts = ["wireless mouse", "hdmi cable"]
    torch = build_embedder(Settings(embed_backend="torch", embed_model=str(out), embed_int8=False))
    onnx = build_embedder(Settings(data_dir=tmp_path / "data", embed_backend="onnx", embed_model=str(out)))
    a, b = np.array(torch.embed(texts)), np.array(onnx.embed(texts))
    assert a.shape == b.shape == (2, 384)
    assert (a * b).sum(axis=1).min() > 0.97  # int8 export of the same adapted weights
    assert not (tmp_path / "data" / "models").exists()  # the shipped export was used, not re-exported
