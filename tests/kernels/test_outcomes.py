"""Signal outcomes: against an independent computation from the real klines CSVs, the touch
rule on hand-made candles, and the streaming tracker against the history computation."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.backtest import run_backtest
from kernels.fire_outcomes import fire_outcomes
from kernels.klines_csv import load_klines
from kernels.outcomes import (
    HORIZON,
    HORIZONS,
    Levels,
    OutcomeTracker,
    TrackerFull,
    atr_levels,
    history_outcomes,
)
from kernels.program import Program, TraderDef


def _csv_columns(path: Path) -> tuple[list[int], list[float], list[float], list[float]]:
    """Open times, highs, lows and closes read with the csv module (not our reader)."""
    times, highs, lows, closes = [], [], [], []
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if not row[0].isdigit():
                continue
            times.append(int(row[0]))
            highs.append(float(row[2]))
            lows.append(float(row[3]))
            closes.append(float(row[4]))
    return times, highs, lows, closes


def _expected(
    highs: list[float], lows: list[float], closes: list[float], t: int, sign: float
) -> tuple[list[float | None], float, float]:
    """Returns at each horizon and MFE/MAE over the horizon, by the issue's definitions."""
    entry = closes[t]
    rets: list[float | None] = [
        sign * (closes[t + h] / entry - 1) if t + h < len(closes) else None for h in HORIZONS
    ]
    after = range(t + 1, min(len(closes), t + 1 + HORIZON))
    hi, lo = max(highs[i] for i in after), min(lows[i] for i in after)
    if sign > 0:
        return rets, hi / entry - 1, lo / entry - 1
    return rets, -(lo / entry - 1), -(hi / entry - 1)


def _klines_file(shared_data: Path) -> Path:
    return next((shared_data / "binance" / "klines" / "spot_5m").glob("BTCUSDT-5m-*.csv"))


def test_returns_and_excursions_equal_the_csv_exactly(shared_data: Path) -> None:
    path = _klines_file(shared_data)
    _, highs, lows, closes = _csv_columns(path)
    starts = np.asarray([*range(20, len(closes), 389), len(closes) - 5], dtype=np.int64)
    for direction, sign in (("long", 1.0), ("short", -1.0)):
        outcomes = history_outcomes(
            np.asarray(highs),
            np.asarray(lows),
            np.asarray(closes),
            starts,
            [direction] * len(starts),
        )
        for t, o in zip(starts.tolist(), outcomes, strict=True):
            rets, mfe, mae = _expected(highs, lows, closes, t, sign)
            assert o.returns == tuple(rets), (direction, t)
            assert (o.mfe, o.mae) == (mfe, mae), (direction, t)
            assert o.bars == min(HORIZON, len(closes) - 1 - t)
            assert o.complete == (t + HORIZON < len(closes))


def test_a_backtests_signals_are_scored_from_their_own_candles(shared_data: Path) -> None:
    path = _klines_file(shared_data)
    times, highs, lows, closes = _csv_columns(path)
    trader = TraderDef("cross", "crosses_above(close, sma(close, 50))", "5m", direction="short")
    data = {"5m": {"BTCUSDT": load_klines(path)}}
    fires = run_backtest(Program([trader]), data)
    assert len(fires) > 50
    scored = fire_outcomes(fires, data, {"cross": "short"})
    index = {ot: i for i, ot in enumerate(times)}
    for fire, o in zip(fires, scored, strict=True):
        t = index[fire.open_time]
        assert o.entry == closes[t] == fire.price
        rets, mfe, mae = _expected(highs, lows, closes, t, -1.0)
        assert (o.returns, o.mfe, o.mae) == (tuple(rets), mfe, mae)
        # +N close-to-close, the long way round: the short's return is its negative.
        if o.returns[0] is not None:
            assert -o.returns[0] == closes[t + 1] / closes[t] - 1


def _series(bars: list[tuple[float, float, float]]) -> tuple[np.ndarray, ...]:
    arr = np.asarray(bars, dtype=np.float64)
    return arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy()


def _touch(
    bars: list[tuple[float, float, float]], direction: str, stop: float, target: float
) -> tuple[str, int | None]:
    """First touch after bar 0 with the given levels, through the tracker."""
    high, low, close = _series(bars)
    tracker = OutcomeTracker(2)
    row = tracker.open(float(close[0]), direction, Levels(stop, target, "analysis"))
    for t in range(1, len(bars)):
        tracker.advance(np.asarray([row]), high[t : t + 1], low[t : t + 1], close[t : t + 1])
    o = tracker.outcome(row)
    return o.touch, o.touch_bar


# (high, low, close); entry 100 at bar 0; long: stop 95, target 110; short mirrored.
@pytest.mark.parametrize(
    ("bars", "direction", "expected"),
    [
        ([(101, 99, 100), (111, 96, 105)], "long", ("target", 1)),
        ([(101, 99, 100), (104, 95, 96), (111, 99, 110)], "long", ("stop", 1)),
        ([(101, 99, 100), (111, 94, 100)], "long", ("stop", 1)),  # both in one bar: the stop
        ([(101, 99, 100), (103, 97, 101), (110, 100, 109)], "long", ("target", 2)),
        ([(120, 80, 100), (104, 96, 100)], "long", ("none", None)),  # the signal bar is not
        ([(101, 99, 100), (90, 85, 88)], "long", ("stop", 1)),  # a gap through the stop
        ([(101, 99, 100), (104, 90, 92)], "short", ("target", 1)),
        ([(101, 99, 100), (105, 96, 104)], "short", ("stop", 1)),
        ([(101, 99, 100), (106, 89, 100)], "short", ("stop", 1)),  # both: the stop
    ],
)
def test_first_touch_on_hand_made_candles(
    bars: list[tuple[float, float, float]], direction: str, expected: tuple[str, int | None]
) -> None:
    stop, target = (95.0, 110.0) if direction == "long" else (105.0, 90.0)
    assert _touch(bars, direction, stop, target) == expected


def test_touch_stops_counting_after_the_horizon() -> None:
    bars = [(101.0, 99.0, 100.0)] + [(101.0, 99.0, 100.0)] * HORIZON + [(200.0, 99.0, 150.0)]
    assert _touch(bars, "long", 95.0, 110.0) == ("none", None)


def test_trade_return_leaves_at_the_level_touched_first() -> None:
    bars = [(101.0, 99.0, 100.0), (111.0, 99.0, 109.0)] + [(101.0, 99.0, 100.0)] * HORIZON
    high, low, close = _series(bars)
    tracker = OutcomeTracker(1)
    row = tracker.open(100.0, "long", Levels(95.0, 110.0, "analysis"))
    for t in range(1, len(bars)):
        tracker.advance(np.asarray([row]), high[t : t + 1], low[t : t + 1], close[t : t + 1])
    o = tracker.outcome(row)
    assert o.complete
    assert o.bars == HORIZON
    assert o.trade_return == pytest.approx(0.10)
    assert o.returns[0] == pytest.approx(0.09)
    assert o.to_json()["touch"] == "target"


def test_atr_levels_are_a_simple_mean_of_14_true_ranges() -> None:
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, 40))
    high = close + rng.uniform(0, 2, 40)
    low = close - rng.uniform(0, 2, 40)
    t = 30
    tr = [
        max(high[k] - low[k], abs(high[k] - close[k - 1]), abs(low[k] - close[k - 1]))
        for k in range(t - 13, t + 1)
    ]
    atr = sum(tr) / 14
    long = atr_levels(high, low, close, t, "long")
    short = atr_levels(high, low, close, t, "short")
    assert long.source == short.source == "atr"
    assert long.stop == pytest.approx(close[t] - 1.5 * atr)
    assert long.target == pytest.approx(close[t] + 3 * atr)
    assert short.stop == pytest.approx(close[t] + 1.5 * atr)
    assert short.target == pytest.approx(close[t] - 3 * atr)
    assert atr_levels(high, low, close, 13, "long").source == "none"  # 13 bars before: too few


def test_analysis_levels_must_fit_the_direction() -> None:
    assert Levels.checked(100.0, "long", 95.0, 110.0) == Levels(95.0, 110.0, "analysis")
    assert Levels.checked(100.0, "short", 95.0, 110.0) is None
    assert Levels.checked(100.0, "short", 105.0, 90.0) is not None
    assert Levels.checked(100.0, "long", math.nan, 110.0) is None


def test_the_tracker_is_bounded() -> None:
    tracker = OutcomeTracker(2)
    a = tracker.open(1.0, "long", Levels.none())
    tracker.open(1.0, "long", Levels.none())
    with pytest.raises(TrackerFull):
        tracker.open(1.0, "long", Levels.none())
    tracker.release(a)
    assert len(tracker) == 1
    tracker.open(2.0, "short", Levels.none())
    assert len(tracker) == 2


@st.composite
def _market(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[str]]:
    n = draw(st.integers(20, 80))
    steps = draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n))
    close = 100 * np.exp(np.cumsum(steps))
    wick = draw(st.lists(st.floats(0, 0.03), min_size=2 * n, max_size=2 * n))
    high = close * (1 + np.asarray(wick[:n]))
    low = close * (1 - np.asarray(wick[n:]))
    starts = sorted(draw(st.sets(st.integers(0, n - 2), min_size=1, max_size=8)))
    dirs = [draw(st.sampled_from(["long", "short"])) for _ in starts]
    return high, low, close, starts, dirs


@settings(max_examples=60, deadline=None)
@given(_market(), st.integers(1, 30))
def test_streaming_equals_history(
    market: tuple[np.ndarray, np.ndarray, np.ndarray, list[int], list[str]], restart_at: int
) -> None:
    """Signals opened as their bar closes and stepped bar by bar — one of them started over
    midway (a restart, or an analysis' levels) and stepped again — give the history's
    outcomes, bit for bit."""
    high, low, close, starts, dirs = market
    expected = history_outcomes(high, low, close, np.asarray(starts, dtype=np.int64), dirs)
    tracker = OutcomeTracker(len(starts))
    rows: dict[int, int] = {}
    for t in range(len(close)):
        open_rows = np.asarray(list(rows.values()), dtype=np.int64)
        if len(open_rows):
            k = len(open_rows)
            tracker.advance(
                open_rows, np.full(k, high[t]), np.full(k, low[t]), np.full(k, close[t])
            )
        if t == restart_at and rows:
            j, row = next(iter(rows.items()))
            tracker.restart(row, atr_levels(high, low, close, starts[j], dirs[j]))
            for u in range(starts[j] + 1, t + 1):
                one = np.asarray([row])
                tracker.advance(one, high[u : u + 1], low[u : u + 1], close[u : u + 1])
        for j, s in enumerate(starts):
            if s == t:
                levels = atr_levels(high, low, close, s, dirs[j])
                rows[j] = tracker.open(float(close[s]), dirs[j], levels)
    for j in range(len(starts)):
        assert tracker.outcome(rows[j]) == expected[j]
