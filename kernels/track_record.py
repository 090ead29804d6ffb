"""A trader's track record: its signals' outcomes (:mod:`kernels.outcomes`) summed up.

The same summary serves ``vyx backtest --outcomes``, the daemon's ``/metrics``, the dashboard
and ``vyx trader show``:

- ``signals``: signals counted; ``complete``: those whose every horizon has closed;
- ``hit_rate[N]``: the share of signals with a positive +N return, among those whose +N bar
  has closed; ``mean_return[N]`` and ``median_return[N]`` over the same signals;
- per *trade* (a complete signal, out at the level touched first, else at the last horizon's
  close: :attr:`~kernels.outcomes.Outcome.trade_return`): ``expectancy`` (the mean trade
  return) and ``profit_factor`` (gains over losses; infinite without a loss, None without
  either);
- ``worst_mae``: the lowest MAE of any signal; ``targets`` / ``stops``: signals whose target /
  stop was touched first.

Values are fractions (0.012 = +1.2 %); a figure over no signal is None.

One computation for every caller: an outcome becomes a row of numbers (:func:`outcome_row`: NaN
where a value is unknown) and a record is summed up from such rows (:func:`record_of`: one
kernel call over the columns, with the bits numpy gives them); :func:`track_record` does both
for a few outcomes, and the daemon keeps
each trader's rows as its outcomes complete (``vyx.outcomes.records``) and sums them up at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
import numpy as np
import numpy.typing as npt

from kernels.outcomes import (
    HORIZON,
    HORIZONS,
    R0,
    SEEN,
    TOUCH,
    Outcome,
    excursions,
    trade_returns,
)
from kernels.outcomes import STOP as STOP_TOUCH
from kernels.outcomes import TARGET as TARGET_TOUCH
from kernels.record_sums import (
    AFTER_HORIZONS,
    COMPLETES,
    GAINS,
    LOSSES,
    PER_HORIZON,
    STOPS,
    TARGETS,
    TRADE_SUM,
    TRADES,
    record_sums_nb,
)

#: The recent window of a track record (besides all time).
RECENT_MS = 7 * 86_400_000

#: Columns of an outcome's row (:func:`outcome_row`): its return at each horizon, its MAE, its
#: trade's return (a complete signal's), then 1.0 or 0.0: complete, target touched first, stop
#: touched first.
MAE = len(HORIZONS)
TRADE = MAE + 1
COMPLETE = TRADE + 1
TARGET = COMPLETE + 1
STOP = TARGET + 1
WIDTH = STOP + 1

Rows = npt.NDArray[np.float64]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: ``record_of``'s kernel without sorted values: it selects every median.
_NOT_ORDERED: tuple[Rows, I64] = (np.empty((0, 0)), np.empty(0, dtype=np.int64))


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def outcome_row(o: Outcome) -> tuple[float, ...]:
    """``o`` as a row of :data:`WIDTH` numbers (columns above; NaN where unknown: a value that
    is NaN counts as unknown too)."""
    trade = o.trade_return if o.complete else None
    return (
        *map(_nan, o.returns),
        _nan(o.mae),
        _nan(trade),
        float(o.complete),
        float(o.touch == "target"),
        float(o.touch == "stop"),
    )


def outcome_rows(block: F64) -> Rows:
    """:func:`outcome_row` of the :class:`~kernels.outcomes.Outcome` of each state row
    (:data:`~kernels.outcomes.COLUMNS`) of ``block``, at once: the same numbers (NaN where
    unknown)."""
    n_h = len(HORIZONS)
    rows = np.empty((len(block), WIDTH))
    rows[:, :n_h] = block[:, R0 : R0 + n_h]
    rows[:, MAE] = excursions(block)[1]
    trade, known = trade_returns(block)
    complete = block[:, SEEN] >= HORIZON
    rows[:, TRADE] = np.where(known & complete, trade, np.nan)
    rows[:, COMPLETE] = complete
    rows[:, TARGET] = block[:, TOUCH] == TARGET_TOUCH
    rows[:, STOP] = block[:, TOUCH] == STOP_TOUCH
    # NaN as math.nan (the bits outcome_row gives an unknown value).
    rows[np.isnan(rows)] = np.nan
    return rows


def _json_number(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


@attrs.frozen
class TrackRecord:
    """The summary of some outcomes (module docstring)."""

    signals: int
    complete: int
    hit_rate: tuple[float | None, ...]
    mean_return: tuple[float | None, ...]
    median_return: tuple[float | None, ...]
    expectancy: float | None
    profit_factor: float | None
    worst_mae: float | None
    targets: int
    stops: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready; per-horizon figures keyed by horizon (``"24"``); an infinite profit
        factor (no losing trade) is null with ``"noLosses": true``."""

        def by_h(values: tuple[float | None, ...]) -> dict[str, float | None]:
            return {str(h): v for h, v in zip(HORIZONS, values, strict=True)}

        pf = self.profit_factor
        return {
            "signals": self.signals,
            "complete": self.complete,
            "hitRate": by_h(self.hit_rate),
            "meanReturn": by_h(self.mean_return),
            "medianReturn": by_h(self.median_return),
            "expectancy": self.expectancy,
            "profitFactor": _json_number(pf),
            "noLosses": pf is not None and math.isinf(pf),
            "worstMae": self.worst_mae,
            "targets": self.targets,
            "stops": self.stops,
        }


def track_record(outcomes: Iterable[Outcome]) -> TrackRecord:
    """The track record of ``outcomes`` (any order)."""
    rows = [outcome_row(o) for o in outcomes]
    return record_of(np.asarray(rows, dtype=np.float64).reshape(len(rows), WIDTH))


def record_of(rows: Rows, ordered: tuple[Rows, I64] | None = None) -> TrackRecord:
    """The track record of the outcomes whose :func:`outcome_row` are ``rows`` (shape
    ``(n, WIDTH)``, any order). The sums, counts and medians in one kernel call
    (:func:`~kernels.record_sums.record_sums_nb`: numpy's own arithmetic, so the bits numpy
    gives column by column). ``ordered``: each horizon's known returns of ``rows``, sorted,
    and their counts, when the caller keeps them (:func:`~kernels.record_sums.window_nb`):
    the medians are read there rather than selected (the same values)."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    if not rows.flags.writeable:  # the kernel's compiled type: a read-only one would compile
        rows = rows.copy()
    n_h = len(HORIZONS)
    sums = np.empty(PER_HORIZON * n_h + AFTER_HORIZONS)
    values, counts = _NOT_ORDERED if ordered is None else ordered
    scratch = np.empty((n_h + 2) * len(rows))
    record_sums_nb(rows, n_h, TRADE, COMPLETE, scratch, sums, values, counts)
    s = sums.tolist()
    per_h = [s[PER_HORIZON * k : PER_HORIZON * (k + 1)] for k in range(n_h)]
    t = s[PER_HORIZON * n_h :]
    trades = int(t[TRADES])
    gains, losses = t[GAINS], -t[LOSSES]
    if losses > 0:
        pf: float | None = gains / losses
    else:
        pf = math.inf if gains > 0 else None
    maes = rows[:, MAE]
    maes = maes[~np.isnan(maes)]
    return TrackRecord(
        len(rows),
        int(t[COMPLETES]),
        tuple(int(pos) / int(n) if n else None for n, pos, _, _ in per_h),
        tuple(total / int(n) if n else None for n, _, total, _ in per_h),
        tuple(median if n else None for n, _, _, median in per_h),
        t[TRADE_SUM] / trades if trades else None,
        pf,
        float(maes.min()) if len(maes) else None,
        int(t[TARGETS]),
        int(t[STOPS]),
    )
