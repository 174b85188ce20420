"""`aisle keys create|list|revoke` and `aisle db migrate`: the control plane from the command line,
on the store the server uses (SQLite in AISLE_DATA_DIR, or AISLE_DATABASE_URL). The operator at
this prompt can already read the database, so the CLI acts with every scope on every catalog."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.settings import Settings

T = TypeVar("T")
CLI_PRINCIPAL_ID = "cli"


async def with_store(settings: Settings, use: Callable[..., Awaitable[T]]) -> T:
    from app.main import build_store

    store = build_store(settings)
    try:
        await store.migrate()
        return await use(store)
    finally:
        await store.close()


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; its secret is printed once")
    create.add_argument("--name", required=True, help="who or what uses it, e.g. 'storefront search'")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=["search", "write", "admin", "events"],
        help="repeat for several: search (read routes), write (catalog data, complement maps, "
        "events), admin, events (sending shopper events only)",
    )
    bound = create.add_mutually_exclusive_group(required=True)
    bound.add_argument("--catalog", dest="catalogs", action="append", help="bind to a catalog (repeatable)")
    bound.add_argument("--all-catalogs", action="store_true", help="every catalog, present and future")
    create.add_argument("--rate-limit", type=float, default=None, help="requests per second (own bucket)")
    create.add_argument("--burst", type=int, default=None, help="bucket size (with --rate-limit)")
    actions.add_parser("list", help="every key (never its secret)")
    revoke = actions.add_parser("revoke", help="revoke a key by id (effective at once)")
    revoke.add_argument("key_id")
    db = sub.add_parser("db", help="the control-plane store")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_actions.add_parser("migrate", help="apply pending migrations and import complement-map files")


async def keys(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth.admin import KeyAdmin
    from app.auth.principal import Principal
    from app.domain.errors import AisleError
    from app.ports import ControlStore

    operator = Principal.root(CLI_PRINCIPAL_ID)

    async def run(store: ControlStore) -> int:
        admin = KeyAdmin(store)
        if args.action == "create":
            issued = await admin.create(
                operator,
                args.name,
                args.scopes,
                None if args.all_catalogs else args.catalogs,
                rate_per_s=args.rate_limit,
                burst=args.burst,
            )
            key = issued.key
            print(
                f"created key {key.id} ({', '.join(sorted(key.scopes))} on "
                f"{'every catalog' if key.catalogs is None else ', '.join(key.catalogs)}); "
                "its secret, shown only now:",
                file=sys.stderr,
            )
            print(issued.token)
        elif args.action == "list":
            print("id\tname\tscopes\tcatalogs\trate_limit\tcreated_at\trevoked_at")
            for key in await admin.list(operator):
                limit = "-" if key.rate_per_s is None else f"{key.rate_per_s:g}/s burst {key.burst}"
                print(
                    f"{key.id}\t{key.name}\t{','.join(sorted(key.scopes))}\t"
                    f"{'*' if key.catalogs is None else ','.join(key.catalogs)}\t{limit}\t"
                    f"{key.created_at.isoformat(timespec='seconds')}\t"
                    f"{key.revoked_at.isoformat(timespec='seconds') if key.revoked_at else '-'}"
                )
        else:
            await admin.revoke(operator, args.key_id)
            print(f"revoked {args.key_id}")
        return 0

    try:
        return await with_store(settings, run)
    except AisleError as e:
        print(f"aisle keys: {e}", file=sys.stderr)
        return 1


async def db(settings: Settings) -> int:
    from app.domain.errors import AisleError
    from app.main import build_store
    from app.store.complement_import import import_complement_files

    store = build_store(settings)
    try:
        applied = await store.migrate()
        imported = await import_complement_files(store, settings.complement_maps_dir)
    except AisleError as e:
        print(f"aisle db: {e}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    where = settings.redacted()["database_url"] or str(settings.store_path)
    print(
        f"{where}: applied migrations {applied or 'none (up to date)'}; imported {imported or 'no'} complement files"
    )
    return 0
