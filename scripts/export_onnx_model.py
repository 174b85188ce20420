"""Export the int8 ONNX embedding model where `aisle serve` with AISLE_EMBED_BACKEND=onnx reads it
(`<data dir>/models/...`), then embed one query with it as a check. The Dockerfile's build stage
runs this with torch, so the runtime image serves the ONNX model without torch installed.

    python -m scripts.export_onnx_model --data-dir /srv/aisle/var
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.main import build_embedder
from app.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the server's AISLE_DATA_DIR")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="the server's AISLE_EMBED_MODEL")
    parser.add_argument("--max-seq-length", type=int, default=256, help="AISLE_EMBED_MAX_SEQ_LENGTH")
    args = parser.parse_args(argv)
    settings = Settings(
        data_dir=args.data_dir,
        embed_backend="onnx",
        embed_model=args.model,
        embed_max_seq_length=args.max_seq_length,
    )
    start = time.perf_counter()
    embedder = build_embedder(settings)  # exports on first use, as the server would
    (vector,) = embedder.embed(["bluetooth speaker"])
    if len(vector) != embedder.dimension:
        raise SystemExit(f"the exported model returned {len(vector)} dimensions, not {embedder.dimension}")
    models = sorted(p for p in (args.data_dir / "models").rglob("*.onnx"))
    print(f"exported {', '.join(map(str, models))} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
