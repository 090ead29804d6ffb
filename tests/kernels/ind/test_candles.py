"""TA-Lib's 61 candlestick patterns (``cdl_*``): equal to TA-Lib's ``CDL*`` output, bar for bar.

Checked on every real klines file (CSV and REST JSON), on synthetic candles made to hit the
patterns the real data never shows (coarse price grids: ties, gaps, doji, marubozu, trends; a
hand-made mat hold), and on Hypothesis bars: a NaN gap restarts a pattern as TA-Lib started on
the run alone; a forming bar peeked at then closed leaves the state as if stepped directly;
rings exactly as deep as declared suffice. Equality is exact: the kernel keeps TA-Lib's running
totals in TA-Lib's order (:mod:`kernels.ind.candles`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import given
from hypothesis import strategies as st
from talib import abstract

from kernels import ops
from kernels.graph import F64, Graph
from kernels.graph import layout as make_layout
from kernels.ind.candle_patterns import PATTERNS
from kernels.lang.catalog import FUNCTIONS, candle_name
from kernels.series import make_bars, run_graph
from tests.kernels.ind.parity import SETTINGS, check_forming_then_closed, forming_bar, valid_runs
from tests.kernels.ind.test_trend_volume import FILES, _load_bars

Candles = tuple[F64, F64, F64, F64]


def _graph(patterns: range = range(len(PATTERNS))) -> tuple[Graph, list[int]]:
    g = Graph()
    src = [g.src(f) for f in (ops.OPEN, ops.HIGH, ops.LOW, ops.CLOSE)]
    nodes = [g.add(ops.CANDLE, src, (i, PATTERNS[i].penetration or 0.0)) for i in patterns]
    return g, nodes


def _ours(candles: Candles) -> F64:
    """Every pattern's output at every bar: ``[n, 61]``."""
    g, nodes = _graph()
    o, h, lo, c = candles
    return run_graph(g, nodes, make_bars(open=o, high=h, low=lo, close=c))[0]


def reference(i: int, candles: Candles) -> F64:
    """TA-Lib's pattern ``i``, NaN before its lookback (where TA-Lib emits nothing)."""
    p = PATTERNS[i]
    fn = getattr(talib, p.name)
    args = () if p.penetration is None else (p.penetration,)
    out = np.asarray(fn(*candles, *args), dtype=np.float64)
    out[: p.lookback] = np.nan
    return out


def assert_equal_to_talib(candles: Candles, ours: F64) -> int:
    """Every pattern equals TA-Lib; returns how many patterns fired at least once."""
    fired = 0
    for i, p in enumerate(PATTERNS):
        ref = reference(i, candles)
        bad = ~((ours[:, i] == ref) | (np.isnan(ours[:, i]) & np.isnan(ref)))
        at = int(np.argmax(bad))
        assert not bad.any(), f"{p.name} bar {at}: ours {ours[at, i]}, TA-Lib {ref[at]}"
        fired += bool(np.nan_to_num(ref).any())
    return fired


def test_the_catalog_has_every_ta_lib_pattern_with_its_lookback() -> None:
    names = talib.get_function_groups()["Pattern Recognition"]
    assert [p.name for p in PATTERNS] == names
    assert len(names) == 61
    for p in PATTERNS:
        assert abstract.Function(p.name).lookback == p.lookback, p.name
        spec = FUNCTIONS[candle_name(p.name)]
        assert spec.reference == f"TA-Lib {p.name}"
        default = abstract.Function(p.name).parameters.get("penetration")
        assert [q.default for q in spec.params] == ([] if default is None else [default])
    assert "cdl_engulfing" in FUNCTIONS
    assert "cdl_hammer" in FUNCTIONS


@pytest.mark.parametrize("name", FILES)
def test_every_pattern_equals_ta_lib_on_real_klines(shared_data: Path, name: str) -> None:
    bars = _load_bars(shared_data / "binance" / "klines" / name)
    candles = tuple(np.ascontiguousarray(bars[:, f]) for f in range(4))
    fired = assert_equal_to_talib(candles, _ours(candles))  # type: ignore[arg-type]
    assert fired >= (30 if len(bars) >= 1000 else 0)


def grid_candles(seed: int, n: int, trending: bool) -> Candles:
    """Candles on a coarse price grid: many ties, gaps, doji and marubozu; ``trending`` adds
    runs of four bars drifting the same way (soldiers, crows, methods)."""
    rng = np.random.default_rng(seed)
    if trending:
        drift = np.repeat(rng.choice([-4, -2, 0, 2, 4], n // 4 + 1), 4)[:n]
        step = drift + rng.choice([-1, 0, 1], n)
        c = 1000.0 + np.cumsum(step)
        body = rng.choice([0, 1, 2, 4, 8, 12], n, p=[0.15, 0.15, 0.2, 0.2, 0.15, 0.15])
        o = c - np.sign(step + rng.choice([-0.5, 0.5], n)) * body
        gap = rng.random(n) < 0.15
        o[gap] += rng.choice([-10.0, 10.0], int(gap.sum()))
        wick = [0, 0, 1, 3, 9]
    else:
        mid = 100.0 + np.cumsum(rng.choice([-2, -1, 0, 1, 2], n))
        o = mid + rng.choice([-3, -1, 0, 1, 3], n)
        c = mid + rng.choice([-3, -1, 0, 1, 3], n)
        wick = [0, 0, 1, 2, 4]
    h = np.maximum(o, c) + rng.choice(wick, n)
    lo = np.minimum(o, c) - rng.choice(wick, n)
    return (o, h, lo, c)


def mat_hold() -> Candles:
    """Ten ordinary candles, then TA-Lib's mat hold: a long white, a small black gapping up,
    two small candles falling but holding within the first body, a white closing above."""
    o = [100.0, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 121.0, 120.0, 119.0, 119.5]
    c = [101.0, 102, 103, 104, 105, 106, 107, 108, 109, 110, 120, 120.5, 119.5, 118.5, 124.0]
    h = [max(a, b) + 0.5 for a, b in zip(o, c, strict=True)]
    lo = [min(a, b) - 0.5 for a, b in zip(o, c, strict=True)]
    return tuple(np.asarray(x) for x in (o, h, lo, c))  # type: ignore[return-value]


def test_every_pattern_equals_ta_lib_on_grid_candles_and_every_one_fires() -> None:
    fired: set[str] = set()
    for seed, trending in [(s, True) for s in range(12)] + [(s, False) for s in range(4)]:
        candles = grid_candles(seed, 4000 if trending else 3000, trending)
        assert_equal_to_talib(candles, _ours(candles))
        fired |= {
            p.name for i, p in enumerate(PATTERNS) if np.nan_to_num(reference(i, candles)).any()
        }
    hold = mat_hold()
    assert assert_equal_to_talib(hold, _ours(hold)) >= 1
    assert (
        reference(PATTERNS.index(next(p for p in PATTERNS if p.name == "CDLMATHOLD")), hold)[-1]
        == 100
    )
    assert fired | {"CDLMATHOLD"} == {p.name for p in PATTERNS}


@st.composite
def gapped_candles(draw: st.DrawFn) -> Candles:
    """Grid candles with a few bars, or short stretches, NaN in every field."""
    candles = grid_candles(
        draw(st.integers(0, 2**16)), draw(st.integers(1, 120)), draw(st.booleans())
    )
    copies = [f.copy() for f in candles]
    n = len(copies[0])
    for _ in range(draw(st.integers(0, 3))):
        at, width = draw(st.integers(0, n - 1)), draw(st.integers(1, 3))
        for f in copies:
            f[at : at + width] = np.nan
    return tuple(copies)  # type: ignore[return-value]


@SETTINGS
@given(candles=gapped_candles())
def test_a_nan_gap_restarts_every_pattern_as_ta_lib_on_the_run_alone(candles: Candles) -> None:
    ours = _ours(candles)
    for run in valid_runs(*candles):
        part = tuple(f[run] for f in candles)
        assert_equal_to_talib(part, ours[run])  # type: ignore[arg-type]
    assert np.isnan(ours[np.isnan(candles[3])]).all()


@SETTINGS
@given(candles=gapped_candles(), data=st.data())
def test_a_forming_bar_peeked_then_closed_changes_nothing(
    candles: Candles, data: st.DataObject
) -> None:
    o, h, lo, c = candles
    bars = make_bars(open=o, high=h, low=lo, close=c)
    at = data.draw(st.integers(0, len(c) - 1))
    g, nodes = _graph()
    check_forming_then_closed(g, nodes, bars, at, forming_bar(bars, at, np.random.default_rng(at)))


def test_rings_as_deep_as_declared_suffice() -> None:
    candles = grid_candles(5, 400, trending=True)
    for f in candles:
        f[[50, 51, 140, 233]] = np.nan
    o, h, lo, c = candles
    bars = make_bars(open=o, high=h, low=lo, close=c)
    exact, nodes = _graph()
    deep, _ = _graph()
    for j in range(len(deep)):
        deep.pinned_depth[j] = 64
    assert min(make_layout(exact).rdep[:4]) < 64
    want = run_graph(deep, nodes, bars)
    assert np.array_equal(run_graph(exact, nodes, bars), want, equal_nan=True)
