"""The online report, pure: impressions and the events attributed to them, in; rates by route and
ranking, and per experiment variant with intervals and tests, out.

A response (impression) counts as clicked, carted or purchased when at least one event of that
type carried its request id and named an item it showed. Rates are per impression: CTR = clicked
impressions / impressions; add-to-cart rate and conversion likewise. Each variant is compared with
the experiment's first variant (the control).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.domain.events import AttributedEvent, ImpressionGroup
from app.experiments.stats import Difference, Rate, two_proportion_test, wilson

OUTCOMES = ("click", "add_to_cart", "purchase")


@dataclass(frozen=True, slots=True)
class Row:
    label: str  # "search / llm", or a variant name
    impressions: int
    rates: dict[str, Rate]  # by outcome
    versus_control: dict[str, Difference]  # empty for the control and the route table


@dataclass(frozen=True, slots=True)
class Report:
    by_route: list[Row]
    experiments: dict[str, list[Row]]  # experiment -> its variants' rows, control first


def _outcomes(attributed: Sequence[AttributedEvent]) -> dict[str, set[str]]:
    """request id -> the outcome types that happened on an item it showed."""
    out: dict[str, set[str]] = {}
    for a in attributed:
        if a.item_id in a.impression.item_ids and a.type in OUTCOMES:
            out.setdefault(a.impression.request_id, set()).add(a.type)
    return out


def _rates(impressions: int, hits: Mapping[str, int]) -> dict[str, Rate]:
    return {o: wilson(hits.get(o, 0), impressions) for o in OUTCOMES}


def build(
    counts: Mapping[ImpressionGroup, int],
    attributed: Sequence[AttributedEvent],
    variants: Mapping[str, Sequence[str]],
) -> Report:
    """`variants`: each experiment to report, with its variant names in their declared order."""
    outcomes = _outcomes(attributed)
    groups: dict[ImpressionGroup, dict[str, int]] = {}
    for a in {a.impression.request_id: a for a in attributed}.values():
        i = a.impression
        hits = groups.setdefault(ImpressionGroup(i.shown_by, i.ranking, i.experiment, i.variant), {})
        for o in outcomes.get(i.request_id, ()):
            hits[o] = hits.get(o, 0) + 1

    def merged(keep: str, fold: object) -> dict[tuple[str, ...], tuple[int, dict[str, int]]]:
        table: dict[tuple[str, ...], tuple[int, dict[str, int]]] = {}
        for g, n in counts.items():
            if keep == "route":
                key: tuple[str, ...] = (g.shown_by, g.ranking)
            elif g.experiment == fold and g.variant is not None:
                key = (g.variant,)
            else:
                continue
            total, hits = table.get(key, (0, {}))
            hits = dict(hits)
            for o, h in groups.get(g, {}).items():
                hits[o] = hits.get(o, 0) + h
            table[key] = (total + n, hits)
        return table

    by_route = [
        Row(" / ".join(key), n, _rates(n, hits), {})
        for key, (n, hits) in sorted(merged("route", None).items())
    ]
    experiments: dict[str, list[Row]] = {}
    for name, order in variants.items():
        table = merged("experiment", name)
        rows: list[Row] = []
        control: dict[str, Rate] | None = None
        for variant in order:
            n, hits = table.get((variant,), (0, {}))
            rates = _rates(n, hits)
            tests = (
                {} if control is None else {o: two_proportion_test(control[o], rates[o]) for o in OUTCOMES}
            )
            control = control or rates
            rows.append(Row(variant, n, rates, tests))
        experiments[name] = rows
    return Report(by_route, experiments)


def render(report: Report) -> str:
    """The report as text tables (the CLI prints this)."""
    lines = ["CTR, add-to-cart rate and conversion per impression (95% Wilson intervals)", ""]
    header = f"{'':28s} {'impressions':>11s}  {'CTR':>22s}  {'add to cart':>22s}  {'conversion':>22s}"

    def cell(r: Rate) -> str:
        return f"{r.value:6.2%} [{r.low:6.2%},{r.high:6.2%}]"

    lines += ["by route / ranking", header]
    for row in report.by_route:
        lines.append(
            f"{row.label:28s} {row.impressions:11d}  " + "  ".join(cell(row.rates[o]) for o in OUTCOMES)
        )
    for name, rows in report.experiments.items():
        lines += ["", f"experiment {name} (each variant against {rows[0].label if rows else '-'})", header]
        for row in rows:
            lines.append(
                f"{row.label:28s} {row.impressions:11d}  " + "  ".join(cell(row.rates[o]) for o in OUTCOMES)
            )
            for o, d in row.versus_control.items():
                verdict = "significant" if d.significant() else "not significant"
                lines.append(f"{'':30s}{o}: z = {d.z:+.2f}, p = {d.p_value:.4f} ({verdict} at 0.05)")
    return "\n".join(lines)
