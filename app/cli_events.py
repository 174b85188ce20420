"""`aisle experiments create|list|stop|report` and `aisle events prune`: A/B tests and the online
report from the command line, on the store the server uses (docs/events.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from app.cli_control import with_store
from app.settings import Settings

VARIANT_HELP = (
    "NAME[:key=value,...] with keys weight (default 1), rerank (none|llm|auto), blend (0..1, the "
    "events' weight in recommendations); repeat for each variant, the control first"
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ex = sub.add_parser("experiments", help="A/B tests: create, list, stop, report")
    actions = ex.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="start an experiment (at most one per catalog and route)")
    create.add_argument("--catalog", required=True)
    create.add_argument("--name", required=True, help="a-z, 0-9, _ and -, up to 40 characters")
    create.add_argument(
        "--unit", choices=["user", "session"], default="user", help="what a variant is assigned by"
    )
    create.add_argument(
        "--route",
        dest="routes",
        action="append",
        required=True,
        choices=["search", "similar", "recommendations", "bundles"],
        help="repeatable",
    )
    create.add_argument("--variant", dest="variants", action="append", required=True, help=VARIANT_HELP)
    listing = actions.add_parser("list", help="every experiment")
    listing.add_argument("--catalog", default=None)
    stop = actions.add_parser("stop", help="stop an experiment (its data stays for the report)")
    stop.add_argument("--catalog", required=True)
    stop.add_argument("--name", required=True)
    report = actions.add_parser(
        "report", help="CTR, add-to-cart and conversion by route, ranking and variant"
    )
    report.add_argument("--catalog", required=True)
    report.add_argument("--name", default=None, help="one experiment (default: every one of the catalog)")
    report.add_argument("--days", type=float, default=14.0, help="the window, ending now (default 14)")
    ev = sub.add_parser("events", help="shopper events: retention")
    ev_actions = ev.add_subparsers(dest="action", required=True)
    ev_actions.add_parser("prune", help="delete events and impressions past AISLE_EVENTS_RETENTION_DAYS now")


def parse_variant(spec: str) -> Any:
    from app.domain.errors import InvalidRequest
    from app.domain.experiments import Variant

    name, _, options = spec.partition(":")
    fields: dict[str, Any] = {}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "weight":
            fields["weight"] = float(value)
        elif key == "blend":
            fields["blend"] = float(value)
        elif key == "rerank":
            fields["rerank"] = value
        else:
            raise InvalidRequest("variant", f"unknown option {key!r} in {spec!r} (weight, rerank, blend)")
    return Variant(name.strip(), **fields)


async def experiments(settings: Settings, args: argparse.Namespace) -> int:
    from app.domain.errors import AisleError
    from app.experiments.report import render
    from app.experiments.service import Experiments
    from app.ports import ControlStore

    async def run(store: ControlStore) -> int:
        service = Experiments(store, store)
        if args.action == "create":
            e = await service.create(
                args.catalog, args.name, args.unit, [parse_variant(v) for v in args.variants], args.routes
            )
            shares = ", ".join(f"{v.name} ({v.weight:g})" for v in e.variants)
            print(f"started {e.name} on {e.catalog} ({', '.join(e.routes)}; by {e.unit}): {shares}")
        elif args.action == "list":
            print("catalog\tname\tunit\troutes\tvariants\tcreated_at\tstopped_at")
            for e in await service.list_all(args.catalog):
                variants = ",".join(f"{v.name}:{v.weight:g}" for v in e.variants)
                print(
                    f"{e.catalog}\t{e.name}\t{e.unit}\t{','.join(e.routes)}\t{variants}\t"
                    f"{e.created_at.isoformat(timespec='seconds')}\t"
                    f"{e.stopped_at.isoformat(timespec='seconds') if e.stopped_at else '-'}"
                )
        elif args.action == "stop":
            await service.stop(args.catalog, args.name)
            print(f"stopped {args.name}")
        else:
            print(f"catalog {args.catalog}, the last {args.days:g} days")
            print(render(await service.report(args.catalog, days=args.days, name=args.name)))
        return 0

    try:
        return await with_store(settings, run)
    except (AisleError, ValueError) as e:
        print(f"aisle experiments: {e}", file=sys.stderr)
        return 1


async def events(settings: Settings, _args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from app.ports import ControlStore

    before = datetime.now(UTC) - timedelta(days=settings.events_retention_days)

    async def prune(store: ControlStore) -> tuple[int, int]:
        return await store.prune_events(before), await store.prune_impressions(before)

    pruned = cast(tuple[int, int], await with_store(settings, prune))
    print(
        f"pruned {pruned[0]} events and {pruned[1]} impressions older than {before.isoformat(timespec='seconds')}"
    )
    return 0
