"""The bundle eval: electronics on the full Icecat catalog, fashion on Myntra, vector composition
next to an unconstrained nearest-neighbour baseline and (with an LLM) the LLM's composition, all
through the HTTP API (litestar's test client over the real app, real model, Qdrant Edge).

    python -m evals.bundles --icecat-dir ../shared/data/icecat --myntra ../shared/data/myntra/products.csv \\
        --outfits ../shared/data/pinterest-ctl/outfits.tsv [--llm-url URL --llm-anchors 10]

Electronics: anchors are devices that at least one accessory's `compatibility` statement names
(matched with app/bundles/compatibility.py), sampled; the plan is the map learned from the whole
catalog's statements. Per bundle item: does its own statement name the anchor (compatibility
precision)? Per anchor: is at least one item a verified fit? Items without a statement count as
not verified, so precision is a floor.
Fashion: outfits are split 80/20 by signature; the complement map is learned from the 80%, and
a bundle item counts as co-occurring when its category and the anchor's appear together in a
held-out outfit. Also gender consistency (same gender, unisex with adults) and budget adherence
(budget = the anchor's own price).
Baseline `nearest`: for the same planned slots, the nearest product to the anchor in that category
(POST /similar), with no gender, compatibility, budget or diversity rule.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from app.adapters.edge_index import EdgeVectorIndex
from app.adapters.memory_cache import MemoryCache
from app.adapters.memory_store import MemoryControlStore
from app.adapters.openai_llm_client import OpenAILLMClient
from app.bundles.candidates import gender_compatible
from app.bundles.compatibility import compatibility_text, fits, model_tokens
from app.bundles.complements import learn_from_outfits, read_outfits
from app.bundles.defaults import load_defaults
from app.bundles.fit import fit
from app.bundles.priors import learn_from_catalog
from app.domain.complements import ComplementMap
from app.domain.models import Product, filter_key
from app.main import Deps, build_embedder
from app.main import create_app as build_app
from app.ports import Embedder
from app.settings import Settings, embedding_model_id
from embeddings.ingest import ingest
from embeddings.readers import read_catalog
from evals.embed_cache import CachedEmbedder, cache_path
from evals.fashion import OTHER, read_myntra

ROOT = Path(__file__).resolve().parents[1]


def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)


@contextmanager
def api(
    settings: Settings, embedder: Embedder, llm: OpenAILLMClient | None, catalog: str, learned: ComplementMap
) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """The real app over the catalog's index, with the learned map in an in-memory control store
    (ready-made Deps come without a store, and without one nothing is planned)."""
    index = EdgeVectorIndex(settings.data_dir)
    store = MemoryControlStore()
    asyncio.run(store.put(catalog, learned))
    app = build_app(settings, Deps(embedder=embedder, index=index, llm=llm, cache=MemoryCache(), store=store))
    try:
        with TestClient(app, timeout=300) as client:
            yield client
    finally:
        asyncio.run(index.close())


def prepare(settings: Settings, products: list[Product], catalog: str, embedder: Embedder) -> None:
    async def run() -> None:
        index = EdgeVectorIndex(settings.data_dir)
        try:
            summary = await ingest(products, catalog, embedder, index, model_id=embedding_model_id(settings))
            print(f"{catalog}: {summary}", flush=True)
            if isinstance(embedder, CachedEmbedder):
                embedder.save()
        finally:
            await index.close()

    asyncio.run(run())


def bundles(
    client: TestClient,  # type: ignore[type-arg]
    catalog: str,
    anchors: Sequence[Product],
    compose: str,
    budget: bool,
    max_items: int,
) -> list[dict[str, Any]]:
    out = []
    for anchor in anchors:
        body: dict[str, Any] = {"anchor_ids": [anchor.id], "max_items": max_items, "compose": compose}
        if budget and anchor.price:
            body["budget"] = {"max_total": anchor.price}
        start = time.perf_counter()
        response = client.post(f"/v1/catalogs/{catalog}/bundles", json=body)
        wall = (time.perf_counter() - start) * 1000
        data = response.json() if response.status_code == 200 else {"error": response.json()}
        data["wall_ms"] = wall
        data["budget"] = body.get("budget", {}).get("max_total")
        out.append(data)
    return out


def nearest(client: TestClient, catalog: str, anchor: Product, slots: Sequence[str]) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    items = []
    for slot in slots:
        body = {
            "positive": [anchor.id],
            "limit": 1,
            "rerank": "none",
            "filters": {"category": [slot], "in_stock": True},
        }
        found = client.post(f"/v1/catalogs/{catalog}/similar", json=body).json().get("items", [])
        items += found[:1]
    return items


def similar(client: TestClient, catalog: str, anchor: Product, n: int) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    """What a "more like this" widget would show: the n nearest in-stock products, any category."""
    body = {"positive": [anchor.id], "limit": n, "rerank": "none", "filters": {"in_stock": True}}
    items: list[dict[str, Any]] = (
        client.post(f"/v1/catalogs/{catalog}/similar", json=body).json().get("items", [])
    )
    return items


def items_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [s["item"] for s in result.get("slots", []) if s.get("item")]


def latency(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in results if "error" not in r]
    return {
        "bundles": len(results),
        "errors": len(results) - len(ok),
        "http_p50_ms": pct([r["wall_ms"] for r in ok], 50),
        "http_p95_ms": pct([r["wall_ms"] for r in ok], 95),
        "fallbacks": dict(sorted(Counter(str((r.get("fallback") or {}).get("reason")) for r in ok).items())),
        "llm_composed": sum(1 for r in ok if r.get("ranking") == "llm"),
    }


Row = tuple[Product, list[dict[str, Any]], float | None]  # anchor, bundle items, budget


def compare(  # noqa: PLR0913 - the eval's inputs and its three keyword-only knobs
    settings: Settings,
    embedder: Embedder,
    llm: OpenAILLMClient | None,
    catalog: str,
    anchors: Sequence[Product],
    score: Callable[[list[Row]], dict[str, Any]],
    *,
    learned: ComplementMap,
    budget: bool,
    max_items: int,
    llm_anchors: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The variants side by side: similar items, nearest per planned slot, Aisle's vector
    composition and (with an LLM) its LLM composition on the first `llm_anchors` anchors.
    Returns (figures by variant, vector bundles, LLM bundles)."""

    def cap(anchor: Product) -> float | None:
        return anchor.price if budget else None

    out: dict[str, Any] = {}
    with api(settings, embedder, None, catalog, learned) as client:
        vector = bundles(client, catalog, anchors, "vector", budget=budget, max_items=max_items)
        base = [
            (a, nearest(client, catalog, a, r.get("plan", {}).get("slots", [])), cap(a))
            for a, r in zip(anchors, vector, strict=True)
        ]
        alike = [(a, similar(client, catalog, a, max_items), cap(a)) for a in anchors]
    out["similar"] = score(alike)
    out["nearest"] = score(base)
    out["vector"] = {
        **score([(a, items_of(r), r["budget"]) for a, r in zip(anchors, vector, strict=True)]),
        **latency(vector),
    }
    composed: list[dict[str, Any]] = []
    if llm is not None and llm_anchors:
        subset = anchors[:llm_anchors]
        with api(settings, embedder, llm, catalog, learned) as client:
            composed = bundles(client, catalog, subset, "llm", budget=budget, max_items=max_items)
        out["llm"] = {
            **score([(a, items_of(r), r["budget"]) for a, r in zip(subset, composed, strict=True)]),
            **latency(composed),
        }
        out["vector_same_anchors_as_llm"] = score(
            [(a, items_of(r), r["budget"]) for a, r in zip(subset, vector[: len(subset)], strict=True)]
        )
    return out, vector, composed


# -- electronics ---------------------------------------------------------------------------------


def fitting_accessories(products: Sequence[Product]) -> dict[str, set[str]]:
    """device id -> ids of accessories whose statement names it (other category than the device)."""
    by_prefix: dict[str, set[int]] = defaultdict(set)
    for n, p in enumerate(products):
        for token in model_tokens(p.title):
            for size in range(3, len(token) + 1):
                by_prefix[token[:size]].add(n)
    out: dict[str, set[str]] = defaultdict(set)
    for accessory in products:
        statement = compatibility_text(accessory)
        if statement is None:
            continue
        seen: set[int] = set()
        for token in model_tokens(statement):
            seen |= by_prefix.get(token, set())
        for n in seen:
            device = products[n]
            if (
                device.id != accessory.id
                and device.category != accessory.category
                and fits(accessory, device)
            ):
                out[device.id].add(accessory.id)
    return out


DEVICE_CATEGORIES = (
    "Cameras",
    "Printers & Scanners",
    "Laptops",
    "Phones",
    "Tablets & E-readers",
    "TV & Video",
)


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def fit_scores(rows: Sequence[Row], by_id: dict[str, Product]) -> dict[str, Any]:
    """Per item: does its statement name the anchor (the old definition: `fits`), does it fit
    verifiably (statement or model number: `fit`), and by which kind; per anchor: at least one
    fitting item, slots filled."""
    items = old = stated = new = hit_old = hit_new = three = 0
    kinds: Counter[str] = Counter()
    for anchor, chosen, _budget in rows:
        products = [by_id[i["id"]] for i in chosen]
        said = [fits(p, anchor) for p in products]
        found = [fit(p, anchor) for p in products]
        items += len(products)
        old += sum(v is True for v in said)
        stated += sum(v is not None for v in said)
        new += sum(f is not None and f.verified for f in found)
        kinds.update(f.kind if f else "none" for f in found)
        hit_old += any(v is True for v in said)
        hit_new += any(f is not None and f.verified for f in found)
        three += len(products) >= 3
    return {
        "anchors": len(rows),
        "items": items,
        "compatibility_precision": _share(old, items),
        "precision_among_items_with_a_statement": _share(old, stated),
        "anchors_with_a_fitting_accessory": _share(hit_old, len(rows)),
        "verified_fit_precision": _share(new, items),
        "anchors_with_a_verified_fit": _share(hit_new, len(rows)),
        "fit_kinds": dict(kinds.most_common()),
        "mean_filled_slots": round(items / len(rows), 2) if rows else None,
        "anchors_with_3_filled_slots": _share(three, len(rows)),
    }


def slot_sources(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many planned slots came from each source (request, merchandiser, learned, default)."""
    counts: Counter[str] = Counter()
    for result in results:
        plan = result.get("plan", {})
        counts.update(plan.get("sources") or [plan.get("source")] * len(plan.get("slots", [])))
    return dict(counts.most_common())


def model_matches(
    anchors: Sequence[Product], results: Sequence[dict[str, Any]], by_id: dict[str, Product], n: int = 50
) -> list[dict[str, str]]:
    """Bundled items verified by a model-number match only (no statement), for a hand check."""
    out = []
    for anchor, result in zip(anchors, results, strict=True):
        for item in items_of(result):
            product = by_id[item["id"]]
            found = fit(product, anchor)
            if found is not None and found.kind == "model":
                out.append(
                    {
                        "anchor_id": anchor.id,
                        "anchor": anchor.title,
                        "item_id": product.id,
                        "item": product.title,
                        "item_text": product.description[:200],
                        "evidence": found.evidence,
                    }
                )
    return random.Random(16).sample(out, min(n, len(out)))


def electronics(
    args: argparse.Namespace, settings: Settings, embedder: Embedder, llm: OpenAILLMClient | None
) -> dict[str, Any]:
    rows, categories = read_catalog(sorted(args.icecat_dir.glob("products-*.json")))
    products = [p for p in rows if isinstance(p, Product)]
    learned = learn_from_catalog(products)
    planned = {**load_defaults().complements, **learned.complements}  # what the planner can use
    settings = replace(settings, data_dir=args.work_dir / "icecat")
    prepare(settings, products, "icecat", embedder)
    by_id = {p.id: p for p in products}
    fitting = fitting_accessories(products)
    candidates = sorted(
        d
        for d in fitting
        if by_id[d].category not in ("", "Other", "Accessories") and filter_key(by_id[d].category) in planned
    )
    anchors = [by_id[i] for i in random.Random(7).sample(candidates, min(args.anchors, len(candidates)))]

    def score(rows: list[Row]) -> dict[str, Any]:
        out = fit_scores(rows, by_id)
        out["device_anchors"] = fit_scores([r for r in rows if r[0].category in DEVICE_CATEGORIES], by_id)
        return out

    report: dict[str, Any] = {
        "catalog_products": len(products),
        "categories": categories.line() if categories else None,
        "devices_named_by_accessories": len(fitting),
        "eligible_anchors": len(candidates),
        "anchor_categories": dict(Counter(a.category for a in anchors).most_common()),
        "learned_map": learned.as_json()["complements"],
    }
    variants, vector, composed = compare(
        settings,
        embedder,
        llm,
        "icecat",
        anchors,
        score,
        learned=learned,
        budget=False,
        max_items=4,
        llm_anchors=args.llm_anchors,
    )
    report |= variants
    report["vector"]["slot_sources"] = slot_sources(vector)
    report["model_match_sample"] = model_matches(anchors, vector, by_id)
    if composed:
        report["llm_examples"] = composed[:2]
    report["vector_examples"] = vector[:2]
    return report


# -- fashion -------------------------------------------------------------------------------------


def _held_out(signature_outfits: Sequence[set[str]]) -> tuple[list[set[str]], list[set[str]]]:
    train: list[set[str]] = []
    test: list[set[str]] = []
    for n, outfit in enumerate(signature_outfits):
        digest = hashlib.sha256(f"{n}:{sorted(outfit)}".encode()).digest()[0]
        (test if digest % 5 == 0 else train).append(outfit)
    return train, test


def fashion(
    args: argparse.Namespace, settings: Settings, embedder: Embedder, llm: OpenAILLMClient | None
) -> dict[str, Any]:
    products = read_myntra(args.myntra)
    outfits = read_outfits(args.outfits)
    train, test = _held_out(outfits)
    learned = learn_from_outfits(train)
    pairs = {(filter_key(a), filter_key(b)) for o in test for a in o for b in o if a != b}
    single: dict[str, int] = defaultdict(int)
    joint: dict[tuple[str, str], int] = defaultdict(int)
    for outfit in test:
        keys = {filter_key(c) for c in outfit}
        for a in keys:
            single[a] += 1
            for b in keys - {a}:
                joint[(a, b)] += 1

    def lift(a: str, b: str) -> float:
        if not single.get(a) or not single.get(b):
            return 0.0
        return joint.get((a, b), 0) * len(test) / (single[a] * single[b])

    settings = replace(settings, data_dir=args.work_dir / "myntra")
    prepare(settings, products, "myntra", embedder)
    by_id = {p.id: p for p in products}
    pool = sorted(p.id for p in products if p.category != OTHER and learned.for_category(p.category))
    anchors = [by_id[i] for i in random.Random(11).sample(pool, min(args.anchors, len(pool)))]

    def score(rows: list[Row]) -> dict[str, Any]:
        items = together = lifted = same_gender = within = budgeted = 0
        for anchor, chosen, budget in rows:
            for item in chosen:
                product = by_id[item["id"]]
                items += 1
                pair = (filter_key(anchor.category), filter_key(product.category))
                together += pair in pairs
                lifted += lift(*pair) > 1.0
                same_gender += gender_compatible(product, [anchor])
            if budget is not None:
                budgeted += 1
                within += sum(i["price"] or 0 for i in chosen) <= budget + 1e-6
        return {
            "anchors": len(rows),
            "items": items,
            "category_cooccurs_in_held_out_outfits": round(together / items, 4) if items else None,
            "category_pair_lift_above_1": round(lifted / items, 4) if items else None,
            "gender_consistency": round(same_gender / items, 4) if items else None,
            "budget_adherence": round(within / budgeted, 4) if budgeted else None,
        }

    report: dict[str, Any] = {
        "catalog_products": len(products),
        "outfits_train": len(train),
        "outfits_held_out": len(test),
        # Myntra and Pinterest data may not be copied into the repo (../shared/data/README.md), so
        # this report keeps figures only: no example bundles, no learned outfit map.
        "note": "figures only: Myntra and Pinterest data may not be copied into the repo",
    }
    report |= compare(
        settings,
        embedder,
        llm,
        "myntra",
        anchors,
        score,
        learned=learned,
        budget=True,
        max_items=3,
        llm_anchors=args.llm_anchors,
    )[0]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--icecat-dir", type=Path, required=True)
    parser.add_argument("--myntra", type=Path, required=True)
    parser.add_argument("--outfits", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, default=ROOT / "var" / "evals-bundles")
    parser.add_argument("--anchors", type=int, default=200)
    parser.add_argument("--llm-url", default=None)
    parser.add_argument("--llm-model", default="smollm2")
    parser.add_argument("--llm-anchors", type=int, default=10)
    parser.add_argument("--llm-deadline-ms", type=int, default=60_000)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "evals" / "bundles-report.json")
    parser.add_argument(
        "--embed-cache",
        type=Path,
        default=ROOT / "var" / "embed-cache",
        help="vectors by text, reused across runs (evals/embed_cache.py)",
    )
    parser.add_argument(
        "--embed-backend",
        choices=["onnx", "torch"],
        default=Settings().embed_backend,
        help="the embedder (docs/bundles.md's earlier figures: torch, the default then)",
    )
    args = parser.parse_args(argv)
    settings = Settings(
        embed_backend=args.embed_backend,
        llm_base_url=args.llm_url,
        llm_model=args.llm_model if args.llm_url else None,
        llm_deadline_ms=args.llm_deadline_ms,
    )
    embedder = CachedEmbedder(
        build_embedder(settings, threads=2), cache_path(args.embed_cache, embedding_model_id(settings))
    )
    llm = OpenAILLMClient(args.llm_url, "unused", args.llm_model) if args.llm_url else None
    started = time.perf_counter()
    report: dict[str, Any] = {
        "electronics_icecat": electronics(args, settings, embedder, llm),
        "fashion_myntra": fashion(args, settings, embedder, llm),
    }
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["llm"] = (
        {"url": args.llm_url, "model": args.llm_model, "deadline_ms": args.llm_deadline_ms} if llm else None
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for domain in ("electronics_icecat", "fashion_myntra"):
        summary = {
            k: v
            for k, v in report[domain].items()
            if k in ("nearest", "vector", "llm", "vector_same_anchors_as_llm")
        }
        print(domain, json.dumps(summary, indent=1))
    print(f"wall {report['wall_s']} s -> {args.out}")
    # The LLM client's connections belong to the test clients' event loops, closed with them.
    return 0


if __name__ == "__main__":
    sys.exit(main())
