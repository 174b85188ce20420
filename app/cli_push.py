"""`aisle ingest FILE... --catalog NAME --server URL`: push a catalog file to a running server's
write API (docs/catalogs.md), for a catalog whose index that server owns.

Rows are read locally (the same readers as a local ingest: a row that does not read is reported
and never sent), sent as NDJSON in batches bounded by count and bytes (a 413 splits the batch),
with a progress bar. One retry owner: a batch is retried on connection errors, timeouts, 429
(waiting what `Retry-After` says), 502/503/504, with exponential backoff, a bounded number of
times. Retrying is safe: an upsert is by id and content hash, so a batch the server already
applied comes back `unchanged`.

`--full-sync` finishes with the server's sync route, which applies the local full sync's guards:
nothing is deleted when any row failed, and past `--max-delete-fraction` of the catalog it is
refused (exit 3). That is checked with a dry run before the first batch, so a refused sync
writes nothing; the sync itself checks again at the end. `--dry-run` asks the server for the
plan and writes nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from app.domain.models import Product
from app.domain.product_ids import id_problem
from embeddings.readers import CanonicalRow, ReadResult, RowError

# Exit codes of `aisle ingest` (local or --server).
EXIT_ROWS_FAILED = 1  # some rows failed (the others were written)
EXIT_SYNC_REFUSED = 3  # a full sync would delete too much: nothing deleted
EXIT_SHARD_HELD = 4  # local ingest into a shard a running server holds: push to it instead
EXIT_SERVER = 5  # the server refused the push (key, scope, bad request) or stayed unreachable

NDJSON = "application/x-ndjson"
SERVER_MAX_ROWS = 1000  # the server's rows per request (app/api/catalog_dto.py: MAX_ROWS)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_BATCH_BYTES = 900 * 1024  # under the server's default write body limit (1 MiB)


class PushFailed(Exception):
    """The server refused a request or stayed unreachable; the message says which and why."""


class SyncRefusedByServer(Exception):
    """The server's full-sync guard refused (409 sync_refused)."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class PushOptions:
    server: str
    catalog: str
    api_key: str | None = None
    full_sync: bool = False
    dry_run: bool = False
    force: bool = False
    max_delete_fraction: float | None = None
    batch_size: int = 500
    batch_bytes: int = DEFAULT_BATCH_BYTES
    attempts: int = 8
    max_wait_s: float = 30.0
    timeout_s: float = 300.0


@dataclass(slots=True)
class PushSummary:
    catalog: str
    counts: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0, "error": 0}
    )
    embedded: int = 0
    deleted: int = 0
    errors: list[RowError] = field(default_factory=list)  # local and server-side, by input location
    planned: dict[str, list[str]] = field(default_factory=dict)  # dry run: action -> ids
    deletion_skipped: str | None = None
    seconds: float = 0.0
    retries: int = 0

    @property
    def failed(self) -> int:
        return len(self.errors)

    def line(self, *, dry_run: bool) -> str:
        c = self.counts
        if dry_run:
            return (
                f"dry run: catalog={self.catalog} would add={c['created']} update={c['updated']} "
                f"unchanged={c['unchanged']} delete={self.deleted} failed={self.failed}"
                + (f" ({self.deletion_skipped})" if self.deletion_skipped else "")
            )
        seen = c["created"] + c["updated"] + c["unchanged"]
        rate = seen / self.seconds if self.seconds > 0 else 0.0
        return (
            f"catalog={self.catalog} added={c['created']} updated={c['updated']} unchanged={c['unchanged']} "
            f"deleted={self.deleted} failed={self.failed} in {self.seconds:.1f}s ({rate:.0f} products/s; "
            f"embedded {self.embedded}; {self.retries} retries)"
            + (f"; {self.deletion_skipped}" if self.deletion_skipped else "")
        )


@dataclass(frozen=True, slots=True)
class _Batch:
    rows: tuple[tuple[str, str], ...]  # (input location, product id) per NDJSON line
    lines: tuple[bytes, ...]

    @property
    def body(self) -> bytes:
        return b"\n".join(self.lines) + b"\n"

    def halves(self) -> tuple[_Batch, _Batch]:
        mid = len(self.lines) // 2
        return _Batch(self.rows[:mid], self.lines[:mid]), _Batch(self.rows[mid:], self.lines[mid:])


def wire_row(product: Product) -> CanonicalRow:
    """The canonical wire form of a product (docs/catalog-format.md; the server's ProductIn)."""
    return CanonicalRow(
        id=product.id,
        title=product.title,
        brand=product.brand,
        description=product.description,
        category=product.category,
        price=product.price,
        currency=product.currency,
        attributes=dict(product.attributes),
        in_stock=product.in_stock,
    )


def batches(products: Sequence[tuple[str, Product]], max_rows: int, max_bytes: int) -> Iterator[_Batch]:
    """(location, product) pairs as NDJSON batches of at most `max_rows` rows and `max_bytes`."""
    rows: list[tuple[str, str]] = []
    lines: list[bytes] = []
    size = 0
    for location, product in products:
        line = msgspec.json.encode(wire_row(product))
        if lines and (len(lines) == max_rows or size + len(line) + 1 > max_bytes):
            yield _Batch(tuple(rows), tuple(lines))
            rows, lines, size = [], [], 0
        rows.append((location, product.id))
        lines.append(line)
        size += len(line) + 1
    if lines:
        yield _Batch(tuple(rows), tuple(lines))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('error')}: {body.get('message')}"
    except ValueError:
        return f"{response.status_code}: {response.text[:200]}"


class Pusher:
    def __init__(self, options: PushOptions, client: httpx.Client, *, sleep: Callable[[float], None]) -> None:
        self._o = options
        self._client = client
        self._sleep = sleep
        self.retries = 0
        self._base = f"/v1/catalogs/{options.catalog}"

    # -- one request, retried -----------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = min(self._o.max_wait_s, 0.5 * 2.0 ** (state.attempt_number - 1))
        if isinstance(error, _Retryable) and error.retry_after_s is not None:
            return min(self._o.max_wait_s, max(error.retry_after_s, 0.1))
        return backoff

    def _before_sleep(self, _state: RetryCallState) -> None:
        self.retries += 1

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Sends with retries; returns the final response whatever its status, or raises
        PushFailed when the server stayed unreachable or overloaded through every attempt."""

        def once() -> httpx.Response:
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as e:
                raise _Retryable(f"{type(e).__name__}: {e}") from e
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(_message(response), _retry_after(response))
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self._o.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(once)
        except _Retryable as e:
            raise PushFailed(f"{method} {path}: gave up after {self._o.attempts} attempts ({e})") from e

    def _fail(self, response: httpx.Response, what: str) -> PushFailed:
        hint = ""
        if response.status_code == 401:
            hint = " (set AISLE_API_KEY or pass --api-key)"
        elif response.status_code in (403, 404):
            hint = f" (does the key have the scope, and is it bound to catalog {self._o.catalog!r}?)"
        return PushFailed(f"{what}: {_message(response)}{hint}")

    # -- the steps ------------------------------------------------------------------------------

    def ensure_catalog(self) -> None:
        """Create the catalog (an `admin` key); it existing already is fine."""
        response = self.request("POST", self._base)
        if response.status_code not in (201, 409):
            raise self._fail(response, f"catalog {self._o.catalog!r} does not exist and creating it failed")

    def upsert(self, batch: _Batch, summary: PushSummary, *, created_catalog: bool = False) -> None:
        params = {"dry_run": "true"} if self._o.dry_run else None
        headers = {"content-type": NDJSON}
        response = self.request(
            "POST", f"{self._base}/products", content=batch.body, headers=headers, params=params
        )
        if response.status_code == 413 and len(batch.lines) > 1:
            for half in batch.halves():
                self.upsert(half, summary, created_catalog=created_catalog)
            return
        if response.status_code == 404 and not created_catalog and not self._o.dry_run:
            self.ensure_catalog()
            self.upsert(batch, summary, created_catalog=True)
            return
        if response.status_code == 404 and self._o.dry_run:  # a catalog that does not exist yet
            for _, product_id in batch.rows:
                summary.counts["created"] += 1
                summary.planned.setdefault("add", []).append(product_id)
            return
        if response.status_code != 200:
            raise self._fail(response, "upsert")
        body = response.json()
        summary.embedded += int(body.get("embedded", 0))
        for result in body["results"]:
            location, product_id = batch.rows[int(result["line"]) - 1]
            summary.counts[result["result"]] += 1
            if result["result"] == "error":
                summary.errors.append(RowError(location, result.get("id"), str(result.get("message"))))
            elif self._o.dry_run and result["result"] != "unchanged":
                action = "add" if result["result"] == "created" else "update"
                summary.planned.setdefault(action, []).append(product_id)

    def sync(
        self, ids: list[str], failed_rows: int, *, dry_run: bool, refusal_raises: bool = True
    ) -> dict[str, Any] | None:
        """The server's sync answer; None when the catalog does not exist (nothing to delete).
        Raises SyncRefusedByServer on the guard's 409, or on a dry run that says it would be
        refused when `refusal_raises`."""
        payload: dict[str, Any] = {
            "ids": ids,
            "failed_rows": failed_rows,
            "force": self._o.force,
            "dry_run": dry_run,
        }
        if self._o.max_delete_fraction is not None:
            payload["max_delete_fraction"] = self._o.max_delete_fraction
        response = self.request("POST", f"{self._base}/sync", json=payload)
        if response.status_code == 404 and dry_run:
            return None
        if response.status_code == 409:
            raise SyncRefusedByServer(response.json().get("message", "refused"))
        if response.status_code != 200:
            raise self._fail(response, "full sync")
        answer: dict[str, Any] = response.json()
        if refusal_raises and dry_run and answer.get("refused"):
            raise SyncRefusedByServer(str(answer.get("deletion_skipped")))
        return answer


def push(
    items: Sequence[tuple[str, ReadResult]],
    options: PushOptions,
    client: httpx.Client,
    *,
    progress: Callable[[int], None] = lambda _n: None,
    sleep: Callable[[float], None] = time.sleep,
) -> PushSummary:
    """`items`: (where the row is, for error lines; the row). Raises PushFailed, or
    SyncRefusedByServer (before anything is written when the dry run that opens a full sync is
    refused)."""
    started = time.perf_counter()
    summary = PushSummary(options.catalog)
    pusher = Pusher(options, client, sleep=sleep)
    products: list[tuple[str, Product]] = []
    all_ids: list[str] = []  # every id of the input, failed rows' included: a full sync keeps them
    for location, item in items:
        if isinstance(item, RowError):
            summary.errors.append(item)
            if item.product_id and id_problem(item.product_id) is None:  # else never stored
                all_ids.append(item.product_id)
        else:
            products.append((location, item))
            all_ids.append(item.id)
    progress(len(summary.errors))
    if options.full_sync and not options.dry_run:
        pusher.sync(all_ids, len(summary.errors), dry_run=True)  # refused: nothing written yet
    for batch in batches(products, min(options.batch_size, SERVER_MAX_ROWS), options.batch_bytes):
        pusher.upsert(batch, summary)
        progress(len(batch.lines))
    if options.full_sync:
        answer = pusher.sync(all_ids, summary.failed, dry_run=options.dry_run, refusal_raises=False)
        if answer is not None:
            summary.deleted = len(answer["deleted"])
            summary.deletion_skipped = answer.get("deletion_skipped")
            if options.dry_run:
                summary.planned["delete"] = list(answer["deleted"])
    summary.retries = pusher.retries
    summary.seconds = time.perf_counter() - started
    return summary


def run(paths: Sequence[str], options: PushOptions) -> int:
    """The command: read, push, report; the exit code."""
    from tqdm import tqdm

    from embeddings.readers import read_products

    items = [
        (f"{path} row {n}", item)
        for path in paths
        for n, item in enumerate(read_products(Path(path)), start=1)
    ]
    headers = {"authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    timeout = httpx.Timeout(options.timeout_s, connect=10.0)
    try:
        with (
            httpx.Client(base_url=options.server.rstrip("/"), headers=headers, timeout=timeout) as client,
            tqdm(total=len(items), unit="product", desc=f"push {options.catalog}", file=sys.stderr) as bar,
        ):
            summary = push(items, options, client, progress=bar.update)
    except SyncRefusedByServer as e:
        print(f"aisle: full sync refused by the server, nothing deleted: {e}", file=sys.stderr)
        return EXIT_SYNC_REFUSED
    except PushFailed as e:
        print(f"aisle: push to {options.server} failed: {e}", file=sys.stderr)
        return EXIT_SERVER
    for error in summary.errors[:50]:
        print(f"error: {error.location} id={error.product_id or '-'}: {error.message}", file=sys.stderr)
    if len(summary.errors) > 50:
        print(f"error: ... and {len(summary.errors) - 50} more", file=sys.stderr)
    for action, ids in summary.planned.items():
        for product_id in ids:
            print(f"would {action}: {product_id}")
    print(summary.line(dry_run=options.dry_run))
    return EXIT_ROWS_FAILED if summary.failed else 0
