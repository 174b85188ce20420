"""The `aisle` command: `aisle ingest ...`, `aisle complements learn ...`, `aisle eval ...` and `aisle serve`. The process entrypoint, so the one
place that reads the environment (`Settings.from_env(os.environ)`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

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


# Above the ALB's 60 s idle timeout, so the load balancer, not uvicorn, closes idle connections
# (otherwise a request can race uvicorn's close and get a 502).
KEEP_ALIVE_S = 75
SEVERAL_WORKERS_DOC = "docs/operations.md#several-workers-on-one-host"


def app_factory() -> Any:
    """What each of several uvicorn workers runs (`aisle serve --workers N`): a worker is a fresh
    process, so this is its entrypoint and builds its Settings from the environment it inherited
    (already validated by the parent)."""
    from app.log import configure_logging
    from app.main import create_app

    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from app.log import configure_logging
    from app.main import create_app

    host, port, workers = args.host or settings.host, args.port or settings.port, args.workers
    if workers > 1:
        refusal = several_workers_refusal(settings, workers)
        if refusal:
            print(f"aisle: {refusal} (see {SEVERAL_WORKERS_DOC})", file=sys.stderr)
            return 2
        _clear_multiprocess_dir(Path(str(settings.prometheus_multiproc_dir)))
    configure_logging(settings.log_level, settings.log_json)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
    if workers > 1:  # uvicorn starts workers from an import string: each builds its own app
        uvicorn.run("app.cli:app_factory", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
    return 0


def several_workers_refusal(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot serve with these settings, or None."""
    if settings.vector_backend == "edge":
        return (
            f"--workers {workers} needs a Qdrant server (QDRANT_URL): the embedded Qdrant Edge shard "
            "is owned by one process, so the Edge index serves with one worker"
        )
    if not settings.prometheus_multiproc_dir:
        return (
            f"--workers {workers} needs PROMETHEUS_MULTIPROC_DIR (a writable directory for this "
            "server alone), so that /metrics sums every worker instead of answering for one"
        )
    return None


def _clear_multiprocess_dir(directory: Path) -> None:
    """prometheus-client's per-process files from a previous run would be summed in: start empty."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def _positive(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 1 and 64, got {value}")
    return value


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
    serve = sub.add_parser("serve", help="serve the HTTP API (HOST, PORT)")
    serve.add_argument("--host", default=None, help="listen address (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default: PORT, else 8000)")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes (more than one needs QDRANT_URL and PROMETHEUS_MULTIPROC_DIR)",
    )
    from evals.args import add_parser

    add_parser(sub)
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
    if args.command == "eval":
        from evals.cli import main as eval_main

        return eval_main(settings, args)
    return _serve(settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
