"""The `aisle` command: `aisle ingest ...`, `aisle complements learn ...`, `aisle eval ...`,
`aisle embeddings adapt ...` and `aisle serve`. The process entrypoint, so the one
place that reads the environment (`Settings.from_env(os.environ)`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from app.settings import Settings, SettingsError, embedding_model_id


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.main import build_embedder, build_index
    from embeddings.ingest import ingest
    from embeddings.readers import read_products

    items = [item for path in args.paths for item in read_products(Path(path))]
    embedder = build_embedder(settings, threads=settings.ingest_threads or (os.cpu_count() or 1))
    index = build_index(settings)
    try:
        with tqdm(total=len(items), unit="product", desc=f"ingest {args.catalog}", file=sys.stderr) as bar:
            summary = await ingest(
                items,
                args.catalog,
                embedder,
                index,
                model_id=embedding_model_id(settings),
                full_sync=args.full_sync,
                batch_size=args.batch_size,
                optimize=not args.no_optimize,
                progress=bar.update,
            )
    finally:
        await index.close()
    for error in summary.errors[:50]:
        print(f"error: {error.location} id={error.product_id or '-'}: {error.message}", file=sys.stderr)
    if len(summary.errors) > 50:
        print(f"error: ... and {len(summary.errors) - 50} more", file=sys.stderr)
    print(summary.line())
    if args.metrics_file:
        from app.observability.metrics import write_ingest_metrics

        counts = {
            "added": summary.added,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "deleted": summary.deleted,
            "failed": summary.failed,
        }
        write_ingest_metrics(args.metrics_file, args.catalog, counts, summary.seconds)
    return 1 if summary.failed else 0


async def _complements(settings: Settings, args: argparse.Namespace) -> int:
    from app.adapters.complement_files import FileComplementStore
    from app.bundles.complements import learn_from_compatibility, learn_from_outfits, read_outfits
    from app.domain.models import Product, validate_catalog_name
    from embeddings.readers import read_products

    validate_catalog_name(args.catalog)
    if args.from_outfits:
        mapping = learn_from_outfits(read_outfits(Path(args.from_outfits)))
    else:
        products = [
            p for path in args.from_compatibility for p in read_products(Path(path)) if isinstance(p, Product)
        ]
        mapping = learn_from_compatibility(products)
    await FileComplementStore(settings.complement_maps_dir).put(args.catalog, mapping)
    print(
        f"learned {sum(len(v) for v in mapping.complements.values())} complements for "
        f"{len(mapping.complements)} categories ({mapping.provenance}) -> "
        f"{settings.complement_maps_dir / (args.catalog + '.learned.json')}"
    )
    return 0


def _serve(settings: Settings) -> int:
    import uvicorn

    from app.log import configure_logging
    from app.main import create_app

    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, log_level="warning", access_log=False
    )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="aisle", description="Aisle product recommendation API")
    sub = root.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="embed a catalog file into the vector index (incremental)")
    ing.add_argument(
        "paths", nargs="+", help="catalog files: canonical .json/.jsonl/.csv or raw Icecat .json"
    )
    ing.add_argument("--catalog", required=True, help="catalog name (a-z, 0-9, _ and -)")
    ing.add_argument("--full-sync", action="store_true", help="delete stored products missing from the input")
    ing.add_argument("--batch-size", type=int, default=256, help="products embedded and upserted per batch")
    ing.add_argument("--no-optimize", action="store_true", help="skip building the HNSW index afterwards")
    ing.add_argument(
        "--metrics-file", default=None, help="write the run's counters for node_exporter's textfile collector"
    )
    comp = sub.add_parser("complements", help="learn a catalog's complement map from co-occurrence data")
    comp.add_argument("action", choices=["learn"])
    comp.add_argument("--catalog", required=True)
    source = comp.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-compatibility",
        nargs="+",
        metavar="FILE",
        help="catalog files whose accessories state compatibility",
    )
    source.add_argument(
        "--from-outfits", metavar="TSV", help="outfits: one row per item, signature + category label"
    )
    sub.add_parser("serve", help="serve the HTTP API (HOST, PORT)")
    from embeddings.adapt import add_parser as add_embeddings_parser
    from evals.args import add_parser

    add_parser(sub)
    add_embeddings_parser(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as e:
        print(f"aisle: configuration error: {e}", file=sys.stderr)
        return 2
    if args.command == "ingest":
        return asyncio.run(_ingest(settings, args))
    if args.command == "complements":
        return asyncio.run(_complements(settings, args))
    if args.command == "embeddings":
        from embeddings.adapt import main as adapt_main

        return adapt_main(args)
    if args.command == "eval":
        from evals.cli import main as eval_main

        return eval_main(settings, args)
    return _serve(settings)


if __name__ == "__main__":
    raise SystemExit(main())
