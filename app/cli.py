"""The `aisle` command: `aisle ingest ...`, `aisle complements learn ...`, `aisle keys ...`,
`aisle db migrate`, `aisle experiments ...`, `aisle events prune`, `aisle eval ...`,
`aisle embeddings adapt ...`, `aisle serve`, `aisle mcp` and `aisle tools`. The process
entrypoint, so the one place that reads the environment (`Settings.from_env(os.environ)`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from app.cli_control import add_parsers, db, keys, with_store
from app.cli_events import add_parsers as add_event_parsers
from app.cli_events import events, experiments
from app.cli_integrations import add_parsers as add_integration_parsers
from app.cli_push import EXIT_SHARD_HELD, EXIT_SYNC_REFUSED
from app.settings import Settings, SettingsError, embedding_model_id


async def _ingest(settings: Settings, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app.domain.errors import CatalogNotFound, IndexLocked, InvalidRequest
    from app.domain.models import validate_catalog_name
    from app.main import build_embedder, build_index
    from embeddings.ingest import SyncRefused, ingest
    from embeddings.readers import read_catalog

    try:
        validate_catalog_name(args.catalog)
    except InvalidRequest as e:
        print(f"aisle: --catalog: {e.message}", file=sys.stderr)
        return 2
    items, categories = read_catalog(Path(path) for path in args.paths)
    if categories is not None:
        print(categories.line(), file=sys.stderr)
    index = build_index(settings)
    fraction = (
        settings.ingest_max_delete_fraction if args.max_delete_fraction is None else args.max_delete_fraction
    )
    try:
        # Before the model loads: a shard a running server holds fails fast (IndexLocked).
        with contextlib.suppress(CatalogNotFound):
            await index.fingerprints(args.catalog, [])
        embedder = build_embedder(settings, threads=settings.ingest_threads or (os.cpu_count() or 1))
        with tqdm(total=len(items), unit="product", desc=f"ingest {args.catalog}", file=sys.stderr) as bar:
            summary = await ingest(
                items,
                args.catalog,
                embedder,
                index,
                model_id=embedding_model_id(settings),
                full_sync=args.full_sync,
                max_delete_fraction=fraction,
                force=args.force,
                dry_run=args.dry_run,
                batch_size=args.batch_size or 256,
                optimize=not args.no_optimize,
                progress=bar.update,
            )
        if not args.dry_run and summary.added + summary.updated + summary.deleted:
            await _relearn(settings, index, args.catalog)
    except SyncRefused as e:
        print(f"aisle: refused, nothing written: {e}", file=sys.stderr)
        return EXIT_SYNC_REFUSED
    except IndexLocked:
        print(
            f"aisle: catalog {args.catalog!r} is held by a running server (its Qdrant Edge shard in "
            f"{settings.data_dir} is locked by another process), so it cannot be written here; "
            f"push the file to that server instead: aisle ingest {' '.join(args.paths)} "
            f"--catalog {args.catalog} --server http://HOST:PORT, with a write key in AISLE_API_KEY "
            "(docs/catalogs.md)",
            file=sys.stderr,
        )
        return EXIT_SHARD_HELD
    finally:
        await index.close()
    if not args.dry_run and summary.added + summary.updated + summary.unchanged:
        await _register(settings, args.catalog)  # only a catalog that now exists
    for error in summary.errors[:50]:
        print(f"error: {error.location} id={error.product_id or '-'}: {error.message}", file=sys.stderr)
    if len(summary.errors) > 50:
        print(f"error: ... and {len(summary.errors) - 50} more", file=sys.stderr)
    for action, ids in summary.planned_ids.items():  # a dry run's plan, id by id
        for product_id in ids:
            print(f"would {action}: {product_id}")
    print(summary.line())
    if args.metrics_file and not args.dry_run:
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


def _push(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli_push import PushOptions, run
    from app.domain.errors import InvalidRequest
    from app.domain.models import validate_catalog_name

    try:
        validate_catalog_name(args.catalog)
    except InvalidRequest as e:
        print(f"aisle: --catalog: {e.message}", file=sys.stderr)
        return 2
    options = PushOptions(
        server=args.server,
        catalog=args.catalog,
        api_key=args.api_key or os.environ.get("AISLE_API_KEY") or None,
        full_sync=args.full_sync,
        dry_run=args.dry_run,
        force=args.force,
        max_delete_fraction=args.max_delete_fraction,
        batch_size=args.batch_size or 500,
        max_wait_s=30.0,
    )
    del settings  # the server's own settings govern the write; nothing local is opened
    return run(args.paths, options)


async def _relearn(settings: Settings, index: Any, catalog: str) -> None:
    """The catalog changed: relearn its complement priors from everything it now holds."""
    from app.bundles.priors import relearn

    done = await with_store(settings, lambda store: relearn(index, store, catalog))
    slots = sum(len(v) for v in done.mapping.complements.values())
    print(
        f"complements: {slots} for {len(done.mapping.complements)} categories "
        f"({'stored' if done.stored else 'not stored'}: {done.note})",
        file=sys.stderr,
    )


async def _register(settings: Settings, catalog: str) -> None:
    """Record the catalog's settings (its creation time) the first time it is ingested."""
    from datetime import UTC, datetime

    from app.domain.control_plane import CatalogSettings

    await with_store(settings, lambda store: store.add_catalog(CatalogSettings(catalog, datetime.now(UTC))))


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


async def _complements(settings: Settings, args: argparse.Namespace) -> int:
    from app.bundles.complements import learn_from_outfits, read_outfits
    from app.bundles.priors import catalog_products, learn_from_catalog
    from app.domain.models import Product, validate_catalog_name
    from embeddings.readers import read_catalog

    validate_catalog_name(args.catalog)
    if args.from_outfits:
        mapping = learn_from_outfits(read_outfits(Path(args.from_outfits)))
    elif args.from_compatibility:
        rows, _ = read_catalog(Path(path) for path in args.from_compatibility)
        mapping = learn_from_catalog([p for p in rows if isinstance(p, Product)])
    else:  # what the catalog holds now, as `aisle ingest` does after each run
        from app.main import build_index

        index = build_index(settings)
        try:
            mapping = learn_from_catalog(await catalog_products(index, args.catalog))
        finally:
            await index.close()
    await with_store(settings, lambda store: store.put(args.catalog, mapping))
    print(
        f"learned {sum(len(v) for v in mapping.complements.values())} complements for "
        f"{len(mapping.complements)} categories ({mapping.provenance}) -> the control-plane store"
    )
    return 0


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

    from app.main import create_app

    host, port, workers = args.host or settings.host, args.port or settings.port, args.workers
    if workers > 1:
        refusal = several_workers_refusal(settings, workers)
        if refusal:
            print(f"aisle: {refusal} (see {SEVERAL_WORKERS_DOC})", file=sys.stderr)
            return 2
        if not asyncio.run(_an_admin_key_exists(settings)):
            # uvicorn's supervisor exits 0 when every worker fails its start-up: refuse here instead.
            from app.auth.startup import NO_ADMIN_KEY

            print(f"aisle: {NO_ADMIN_KEY}", file=sys.stderr)
            return 2
        _clear_multiprocess_dir(Path(str(settings.prometheus_multiproc_dir)))
    options = {**server_options(settings), "host": host, "port": port}
    if workers > 1:  # uvicorn starts workers from an import string: each builds its own app
        uvicorn.run("app.cli:app_factory", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
    return 0


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options. Its loggers are left to ours (log_config=None: JSON, scrubbed, via the
    root handler app/log.py installs). Keep-alive outlives the load balancer's idle timeout (ALB:
    60 s) so the balancer, never the server, closes an idle connection: uvicorn's default 5 s
    closed connections the client was about to reuse, a read error on the next request."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": settings.keep_alive_s,
    }


async def _an_admin_key_exists(settings: Settings) -> bool:
    """What each worker's start-up gate (app/auth/startup.py) will require, checked once up front."""
    if not settings.auth or settings.admin_key:
        return True
    keys = await with_store(settings, lambda store: store.list_keys())
    return any(k.active and "admin" in k.scopes for k in keys)


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
    ing.add_argument(
        "--max-delete-fraction",
        type=_fraction,
        default=None,
        help="a full sync refuses (exit 3, nothing written) to delete more than this share of the "
        "catalog (default: AISLE_INGEST_MAX_DELETE_FRACTION, 0.2)",
    )
    ing.add_argument("--force", action="store_true", help="delete past --max-delete-fraction")
    ing.add_argument("--dry-run", action="store_true", help="print what would be added, updated, deleted")
    ing.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="products per batch (default: 256 embedded locally; 500 per request with --server)",
    )
    ing.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="push to a running server's write API instead of writing the index here (docs/catalogs.md)",
    )
    ing.add_argument("--api-key", default=None, help="with --server: the key (default: AISLE_API_KEY)")
    ing.add_argument("--no-optimize", action="store_true", help="skip building the HNSW index afterwards")
    ing.add_argument(
        "--metrics-file", default=None, help="write the run's counters for node_exporter's textfile collector"
    )
    comp = sub.add_parser(
        "complements",
        help="learn a catalog's complement map: from what it holds (the default, as ingest does), "
        "catalog files, or real outfits",
    )
    comp.add_argument("action", choices=["learn"])
    comp.add_argument("--catalog", required=True)
    source = comp.add_mutually_exclusive_group()
    source.add_argument(
        "--from-compatibility",
        nargs="+",
        metavar="FILE",
        help="catalog files whose accessories fit devices (statements, model numbers)",
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
    add_parsers(sub)
    add_event_parsers(sub)
    add_integration_parsers(sub)
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
    from app.log import configure_logging

    # Every command, not only `serve`: structlog's own default renders tracebacks with their locals.
    configure_logging(settings.log_level, settings.log_json)
    if args.command == "ingest" and args.server:
        return _push(settings, args)
    if args.command == "ingest":
        return asyncio.run(_ingest(settings, args))
    if args.command == "complements":
        return asyncio.run(_complements(settings, args))
    if args.command == "keys":
        return asyncio.run(keys(settings, args))
    if args.command == "db":
        return asyncio.run(db(settings))
    if args.command == "experiments":
        return asyncio.run(experiments(settings, args))
    if args.command == "events":
        return asyncio.run(events(settings, args))
    if args.command in ("mcp", "tools"):
        from app import cli_integrations

        return (
            asyncio.run(cli_integrations.mcp(settings, args))
            if args.command == "mcp"
            else cli_integrations.tools(args)
        )
    if args.command == "embeddings":
        from embeddings.adapt import main as adapt_main

        return adapt_main(args)
    if args.command == "eval":
        from evals.cli import main as eval_main

        return eval_main(settings, args)
    return _serve(settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
