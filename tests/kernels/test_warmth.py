"""When a trader may fire in a backtest: the first warm step per symbol (what the interpreter
tests) against the step-by-step rule."""

from __future__ import annotations

import numpy as np

from kernels.bar_grid import BarGrid
from kernels.klines_csv import Klines
from kernels.program import Program, TraderDef
from kernels.timeframes import timeframe_ms
from kernels.warmth import Warmth
from tests.kernels.synthetic import random_klines


def _with_gap(k: Klines, lo: int, hi: int) -> Klines:
    bars = k.bars.copy()
    bars[lo:hi, 3] = np.nan  # no close: no bar
    return Klines(k.open_time, bars)


def test_the_first_warm_step_is_where_the_step_by_step_rule_starts_to_hold() -> None:
    five_ms, hour_ms = timeframe_ms("5m"), timeframe_ms("1h")
    start = 1_700_000_000_000 // hour_ms * hour_ms
    five = {s: random_klines(i, 900, five_ms, start) for i, s in enumerate("ABCD")}
    hour = {
        "A": random_klines(10, 80, hour_ms, start),
        "B": _with_gap(random_klines(11, 80, hour_ms, start), 0, 30),  # warms later
        "C": random_klines(12, 80, hour_ms, start + 70 * hour_ms),  # starts late: never
        # D has no 1h klines: never warm
    }
    program = Program(
        [
            TraderDef("a", 'on("1h", rsi(5) > 0) and close > 0', "5m"),
            TraderDef("b", 'on("1h", sma(close, 20) > 0) and close > 0', "5m"),
            TraderDef("c", "close > 0", "5m"),
        ]
    )
    data = {"5m": five, "1h": hour}
    slot = {tf: {s: i for i, s in enumerate(sorted(data[tf]))} for tf in data}
    grids = {tf: BarGrid.of(data[tf], list(slot[tf])) for tf in data}
    warmth = Warmth(program, grids, slot, program.layouts())
    assert warmth.ready("c") is None
    assert warmth.others("c") is None
    n_t = len(grids["5m"].times)
    seen = set()
    for trader in ("a", "b"):
        ok, first = warmth.others(trader), warmth.ready(trader)
        assert ok is not None
        assert first is not None
        steps = np.arange(n_t)
        assert np.array_equal(ok, steps[None, :] >= first[:, None])
        seen.update(first.tolist())
    assert n_t in seen  # C and D never warm
    assert len(seen - {0, n_t}) >= 2  # warm part-way, at different steps


def test_bars_present_are_the_same_marked_as_rows_are_stacked_or_computed_when_read() -> None:
    hour = {
        s: _with_gap(random_klines(i, 80, timeframe_ms("1h")), 9 * i, 9 * i + 4)
        for i, s in enumerate("ABC")
    }
    want = np.stack([~np.isnan(hour[s].bars[:, 3]) for s in "ABC"])
    stacked = BarGrid.of(hour, list("ABC"))
    assert stacked.full is None  # the same open times: rows stacked per group
    stacked.rows(0, 2)  # A and B marked as their bars are stacked, C when read
    assert np.array_equal(stacked.present, want)
    assert np.array_equal(BarGrid.of(hour, list("ABC")).present, want)
