"""The vocabulary of the original helper library (issue 16): PVI/NVI, the session VWAP's bands,
divergences and volume-profile nodes, against loop transcriptions of their definitions.

The references below are written from the definitions (TradingView's ``ta.pvi``/``ta.nvi`` and
its VWAP bands' ``computeVWAP``; the README's text for ``divergence`` and the high-volume
nodes), independently of the kernels: a plain scan of the window each bar where the kernels
track extremes, NumPy where they loop. Sums run in the kernels' order (newest bar first in a
profile) so ties between bins compare the same floats. Each is checked on every real klines
file, and on Hypothesis bars: random, constant, with NaN gaps (each valid run on its own),
peeked at a forming bar and then committed, and with rings exactly as deep as declared.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels import ops
from kernels.graph import F64
from kernels.ind import structure
from kernels.klines_csv import load_klines
from kernels.series import make_bars, run_graph
from kernels.specs import SPECS
from kernels.timeframes import DAY_MS
from tests.kernels.ind.parity import (
    KLINES_FILES,
    SETTINGS,
    Indicator,
    Ohlcv,
    Sources,
    assert_parity,
    check_depths,
    check_equal,
    check_gaps,
    check_streaming,
    klines_path,
    ohlcv,
    parity_suite,
    price_unit,
    valid_runs,
    with_gaps,
)

# --- references ------------------------------------------------------------------------


def volume_index(close: F64, volume: F64, positive: bool) -> F64:
    """Pine's ``ta.pvi`` / ``ta.nvi``, line by line (``nz`` turns a missing value into 0)."""
    out = np.full(len(close), np.nan)
    for i in range(len(close)):
        previous = out[i - 1] if i > 0 else 0.0
        base = 1.0 if previous == 0.0 else previous
        close_1 = close[i - 1] if i > 0 else 0.0
        volume_1 = volume[i - 1] if i > 0 else 0.0
        if close[i] == 0.0 or close_1 == 0.0:
            out[i] = base
            continue
        moved = volume[i] > volume_1 if positive else volume[i] < volume_1
        out[i] = base + ((close[i] - close_1) / close_1) * base if moved else base
    return out


def vwap_deviation(high: F64, low: F64, close: F64, volume: F64, time: F64) -> F64:
    """Pine's ``computeVWAP`` standard deviation with a new period each UTC day."""
    out = np.full(len(close), np.nan)
    spv = sv = sppv = 0.0
    for i in range(len(close)):
        src = ((high[i] + low[i]) + close[i]) / 3.0
        new = i == 0 or math.floor(time[i] / DAY_MS) != math.floor(time[i - 1] / DAY_MS)
        spv = src * volume[i] if new else src * volume[i] + spv
        sv = volume[i] if new else volume[i] + sv
        sppv = volume[i] * (src * src) if new else volume[i] * (src * src) + sppv
        if sv != 0.0:
            vwap = spv / sv
            out[i] = math.sqrt(max(sppv / sv - vwap * vwap, 0.0))
    return out


def _windows(x: F64, n: int) -> F64:
    """``w[t]`` = bars ``t, t - 1, ..., t - n + 1`` (newest first) for ``t >= n - 1``."""
    return np.lib.stride_tricks.sliding_window_view(x, n)[:, ::-1]


def divergence(a: F64, b: F64, lookback: int, min_sep: int) -> F64:
    """The README's regular divergence: the window's extremes found by a scan every bar."""
    out = np.full(len(a), np.nan)
    if len(a) <= lookback:
        return out
    span = lookback - min_sep + 1
    win = _windows(a, span)[: len(a) - lookback]  # bars t - min_sep .. t - lookback
    ends = np.arange(lookback, len(a)) - min_sep
    low = ends - np.argmin(win, axis=1)  # the first in newest-first order: the newest low
    high = ends - np.argmax(win, axis=1)
    now_a, now_b = a[lookback:], b[lookback:]
    bullish = (now_a < a[low]) & (now_b > b[low])
    bearish = (now_a > a[high]) & (now_b < b[high])
    out[lookback:] = np.where(bullish, 1.0, np.where(bearish, -1.0, 0.0))
    return out


def volume_nodes(b: Ohlcv, lookback: int, bins: int, which: int, tol: float) -> F64:
    """The README's high-volume nodes: every bar's profile built from its whole window."""
    out = np.full(len(b.close), np.nan)
    if len(b.close) < lookback:
        return out
    h, lo, c, v = (_windows(f, lookback) for f in b)
    top, bottom, x = h.max(axis=1), lo.min(axis=1), c[:, 0]
    ok = (top > bottom) & (x > 0.0)
    span = np.where(ok, top - bottom, 1.0)
    index = (((h + lo) + c) / 3.0 - bottom[:, None]) * (bins / span)[:, None]
    rows = np.arange(len(x))[:, None]
    profile = np.zeros((len(x), bins))
    # In each window's order, newest bar first: the same sums as the kernel's.
    np.add.at(profile, (rows, np.clip(index.astype(np.int64), 0, bins - 1)), v)
    mean = np.cumsum(v, axis=1)[:, -1] / bins
    padded = np.pad(profile, ((0, 0), (1, 1)))
    nodes = (profile > mean[:, None]) & (profile >= padded[:, :-2]) & (profile >= padded[:, 2:])
    centres = bottom[:, None] + (np.arange(bins) + 0.5) * (span / bins)[:, None]
    d = (centres - x[:, None]) / x[:, None] * 100.0
    if which == structure.NEAR:
        got = np.where(ok, ((np.abs(d) <= tol) & nodes).any(axis=1), 0.0)
    else:
        side = d if which == structure.ABOVE else -d
        side = np.where(nodes & (side >= 0.0) & ok[:, None], side, np.inf)
        got = side.min(axis=1)
        got[np.isinf(got)] = np.nan
    out[lookback - 1 :] = got
    return out


# --- divergence and volume nodes: the family suite ------------------------------------


def _structure_table() -> list[Indicator]:
    def nodes(which: int) -> Indicator:
        return Indicator(
            f"volume_nodes {which}",
            lambda s, p: s.add(
                ops.VOLUME_NODES, [s.high, s.low, s.close, s.volume], [p[0], p[2], which, p[3]]
            ),
            lambda b, p: volume_nodes(b, p[0], p[2], which, p[3]),
            scale_ok=False,  # a bar's bin moves when prices times s round differently
        )

    return [
        Indicator(
            "divergence close/volume",
            lambda s, p: s.add(ops.DIVERGENCE, [s.close, s.volume], p[:2]),
            lambda b, p: divergence(b.close, b.volume, p[0], p[1]),
            scale_ok=False,  # volume is not scaled with the prices
        ),
        Indicator(
            "divergence high/low",
            lambda s, p: s.add(ops.DIVERGENCE, [s.high, s.low], p[:2]),
            lambda b, p: divergence(b.high, b.low, p[0], p[1]),
        ),
        nodes(structure.NEAR),
    ]


def _distances() -> list[Indicator]:
    """hvn_above / hvn_below: NaN where no node is on that side, so outside the family suite
    (whose warm-up check reads the first value as the end of the warm-up)."""
    return [
        Indicator(
            f"volume_nodes {which}",
            lambda s, p, which=which: s.add(
                ops.VOLUME_NODES, [s.high, s.low, s.close, s.volume], [p[0], p[2], which, 0.0]
            ),
            lambda b, p, which=which: volume_nodes(b, p[0], p[2], which, 0.0),
            scale_ok=False,
        )
        for which in (structure.ABOVE, structure.BELOW)
    ]


@st.composite
def _structure_params(draw: st.DrawFn) -> tuple[int, int, int, float]:
    lookback = draw(st.integers(5, 40))
    return (
        lookback,
        draw(st.integers(1, lookback - 1)),
        draw(st.integers(2, 30)),
        draw(st.sampled_from([0.05, 0.5, 2.0])),
    )


def _one_of_each_structure(s: Sources) -> dict[int, int]:
    return {
        ops.DIVERGENCE: s.add(ops.DIVERGENCE, [s.close, s.volume], [12, 3]),
        ops.VOLUME_NODES: s.add(
            ops.VOLUME_NODES, [s.high, s.low, s.close, s.volume], [20, 8, structure.ABOVE, 0]
        ),
    }


TestStructure = parity_suite(
    _structure_table(),
    _structure_params(),
    [(30, 5, 20, 0.5)],
    structure.SPECS,
    _one_of_each_structure,
)


@pytest.mark.parametrize("name", KLINES_FILES)
def test_node_distances_equal_references_on_real_klines(shared_data: Path, name: str) -> None:
    b = Ohlcv.load(klines_path(shared_data, name))
    check_equal(_distances(), b, (30, 5, 20, 0.5))


@SETTINGS
@given(b=ohlcv(), p=_structure_params(), data=st.data())
def test_node_distances_on_random_gapped_and_peeked_bars(b: Ohlcv, p: Any, data: Any) -> None:
    table = _distances()
    check_equal(table, b, p)
    check_gaps(table, with_gaps(data.draw, b), p)
    check_streaming(table, b, p, data.draw(st.integers(0, len(b.close) - 1)))


def test_divergence_fires_on_a_lower_low_with_a_higher_oscillator_low() -> None:
    # Price: a low of 90 at bar 3, then 88 at bar 9; the oscillator's low rises 20 -> 35.
    price = np.array([100, 96, 93, 90, 94, 97, 95, 92, 89, 88, 95.0])
    osc = np.array([50, 40, 30, 20, 35, 45, 40, 37, 36, 35, 50.0])
    s = Sources()
    g = s.graph
    node = g.add(ops.DIVERGENCE, [s.close, s.volume], [8, 3])
    got = run_graph(g, [node], make_bars(close=price, volume=osc))[0, :, 0]
    assert np.isnan(got[:8]).all()
    assert got[8] == 1.0  # 89 under the earlier low of 90, the oscillator above its 20
    assert got[9] == 1.0
    assert got[10] == 0.0
    assert np.array_equal(got, divergence(price, osc, 8, 3), equal_nan=True)


# --- PVI, NVI and the VWAP deviation ------------------------------------------------------


def _volume_nodes_of(s: Sources, time: int) -> dict[str, int]:
    tp = s.hlc3
    return {
        "pvi": s.add(ops.PVI, [s.close, s.volume]),
        "nvi": s.add(ops.NVI, [s.close, s.volume]),
        "vwap_sd": s.add(ops.VWAP_SESSION_SD, [tp, s.volume, time], [24]),
    }


def _volume_refs(b: Ohlcv, time: F64) -> dict[str, F64]:
    return {
        "pvi": volume_index(b.close, b.volume, True),
        "nvi": volume_index(b.close, b.volume, False),
        "vwap_sd": vwap_deviation(b.high, b.low, b.close, b.volume, time),
    }


def _run_volume(b: Ohlcv, time: F64) -> dict[str, F64]:
    s = Sources()
    nodes = _volume_nodes_of(s, s.graph.src(ops.OPEN_TIME))
    bars = make_bars(high=b.high, low=b.low, close=b.close, volume=b.volume, open_time=time)
    out = run_graph(s.graph, list(nodes.values()), bars)[0]
    return {name: out[:, i] for i, name in enumerate(nodes)}


def _check_volume(b: Ohlcv, time: F64) -> None:
    ours = _run_volume(b, time)
    for run in valid_runs(*b):
        part = b.part(run)
        refs = _volume_refs(part, time[run])
        for name, ref in refs.items():
            unit = price_unit(part.high, part.low, part.close) if name == "vwap_sd" else 1.0
            assert_parity(name, ours[name][run], ref, unit)
    for name, values in ours.items():
        assert np.isnan(values[np.isnan(b.close)]).all(), name


@pytest.mark.parametrize("name", KLINES_FILES)
def test_pvi_nvi_and_vwap_bands_equal_references_on_real_klines(
    shared_data: Path, name: str
) -> None:
    k = load_klines(klines_path(shared_data, name))
    b = Ohlcv(*(k.field(f) for f in ("high", "low", "close", "volume")))
    _check_volume(b, k.bars[:, ops.OPEN_TIME].copy())


@SETTINGS
@given(clean=ohlcv(), hours=st.sampled_from([1, 4, 24]), data=st.data())
def test_pvi_nvi_and_vwap_bands_on_gapped_bars(clean: Ohlcv, hours: int, data: Any) -> None:
    b = with_gaps(data.draw, clean) if data.draw(st.booleans()) else clean
    # Bars of ``hours`` hours from a random offset within the day: sessions of a few bars.
    start = data.draw(st.integers(0, 23)) * 3_600_000.0
    _check_volume(b, start + np.arange(len(b.close)) * hours * 3_600_000.0)


def _volume_table() -> list[Indicator]:
    refs = {
        "pvi": lambda b, _p: volume_index(b.close, b.volume, True),
        "nvi": lambda b, _p: volume_index(b.close, b.volume, False),
    }
    return [
        Indicator(name, lambda s, _p, op=op: s.add(op, [s.close, s.volume]), refs[name])
        for name, op in (("pvi", ops.PVI), ("nvi", ops.NVI))
    ]


@SETTINGS
@given(b=ohlcv(), data=st.data())
def test_pvi_and_nvi_stream_and_scale(b: Ohlcv, data: Any) -> None:
    table = _volume_table()
    check_equal(table, b, None)
    check_gaps(table, with_gaps(data.draw, b), None)
    check_streaming(table, b, None, data.draw(st.integers(0, len(b.close) - 1)))


@SETTINGS
@given(b=ohlcv(min_size=2))
def test_pvi_moves_only_on_rising_volume_and_nvi_only_on_falling(b: Ohlcv) -> None:
    ours = _run_volume(b, np.arange(len(b.close)) * 3_600_000.0)
    rising = b.volume[1:] > b.volume[:-1]
    falling = b.volume[1:] < b.volume[:-1]
    assert ours["pvi"][0] == ours["nvi"][0] == 1.0
    assert np.array_equal(ours["pvi"][1:][~rising], ours["pvi"][:-1][~rising])
    assert np.array_equal(ours["nvi"][1:][~falling], ours["nvi"][:-1][~falling])


def test_the_volume_kernels_read_only_the_depths_they_declare() -> None:
    def build(s: Sources) -> dict[int, int]:
        nodes = _volume_nodes_of(s, s.graph.src(ops.OPEN_TIME))
        return {ops.PVI: nodes["pvi"], ops.NVI: nodes["nvi"], ops.VWAP_SESSION_SD: nodes["vwap_sd"]}

    check_depths(build, {op: SPECS[op] for op in (ops.PVI, ops.NVI, ops.VWAP_SESSION_SD)})
