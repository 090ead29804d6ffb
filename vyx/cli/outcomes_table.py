"""Track records for people: the per-trader table ``vyx backtest --outcomes`` and
``vyx trader show`` print."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import click

from kernels.outcomes import HORIZONS, Outcome
from kernels.track_record import RECENT_MS, TrackRecord, track_record


def pct(v: float | None, digits: int = 2) -> str:
    """A fraction as a signed percentage (``-`` for none)."""
    return "-" if v is None else f"{v * 100:+.{digits}f}%"


def share(v: float | None) -> str:
    """A share as a whole percentage."""
    return "-" if v is None else f"{v * 100:.0f}%"


def factor(v: float | None) -> str:
    """A profit factor (``inf`` without a losing trade)."""
    if v is None:
        return "-"
    return "inf" if math.isinf(v) else f"{v:.2f}"


HEADER = (
    "signals",
    *(f"hit+{h}" for h in HORIZONS),
    f"mean+{HORIZONS[-1]}",
    f"med+{HORIZONS[-1]}",
    "expect.",
    "PF",
    "worstMAE",
    "tgt/stop",
)


def record_cells(r: TrackRecord) -> list[str]:
    """One row of the table."""
    return [
        str(r.signals),
        *(share(h) for h in r.hit_rate),
        pct(r.mean_return[-1]),
        pct(r.median_return[-1]),
        pct(r.expectancy, 3),
        factor(r.profit_factor),
        pct(r.worst_mae),
        f"{r.targets}/{r.stops}",
    ]


def records_by_trader(
    trader_ids: Sequence[str],
    opened: Sequence[int],
    outcomes: Sequence[Outcome],
    order: Sequence[str],
) -> dict[str, tuple[TrackRecord, TrackRecord]]:
    """Per trader of ``order``: its record over all its signals and over the last
    :data:`RECENT_MS` before the newest signal of any trader."""
    newest = max(opened, default=0)
    mine: dict[str, list[tuple[int, Outcome]]] = {t: [] for t in order}
    for tid, at, o in zip(trader_ids, opened, outcomes, strict=True):
        mine.setdefault(tid, []).append((at, o))
    return {
        t: (
            track_record(o for _, o in mine[t]),
            track_record(o for at, o in mine[t] if at > newest - RECENT_MS),
        )
        for t in order
    }


def print_records(
    records: Mapping[str, tuple[TrackRecord, TrackRecord]], names: Mapping[str, str]
) -> None:
    """The per-trader table: all time, then the recent window, per trader."""
    label = {t: names.get(t) or t for t in records}
    width = max([len(v) for v in label.values()] + [6]) + 9
    days = RECENT_MS // 86_400_000
    click.echo(
        f"\noutcomes (returns at +N bars, close to close; trades out at target/stop/+"
        f"{HORIZONS[-1]}):"
    )
    click.echo(f"{'trader':<{width}}" + "".join(f"{h:>10}" for h in HEADER))
    for tid, (whole, recent) in records.items():
        for suffix, r in (("", whole), (f" last {days}d", recent)):
            cells = record_cells(r)
            click.echo(f"{label[tid] + suffix:<{width}}" + "".join(f"{c:>10}" for c in cells))
