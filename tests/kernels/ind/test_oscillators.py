"""Oscillators (RSI, MACD line, stochastic %K, ROC, %R, CCI, MFI) and the decompositions the
lowering builds from them, against TA-Lib: on every real klines file, on Hypothesis bars (short,
constant, tied, gapped, rescaled), the streaming peek/commit contract and the declared ring
depths. The comparison rule is in :mod:`tests.kernels.ind.parity`.

Decompositions (TA-Lib function = graph):

- MACD: ``line = macdline(x, fast, slow)``, ``signal = ema(line, signal)``,
  ``hist = line - signal``;
- STOCHF: ``fastk = stochk(h, l, c, fastk)``, ``fastd = sma(fastk, fastd)``;
- STOCH (SMA types): ``slowk = sma(stochk(h, l, c, fastk), slowk)``, ``slowd = sma(slowk, slowd)``;
- STOCHRSI: ``r = rsi(x, n)``, ``fastk = stochk(r, r, r, fastk)``, ``fastd = sma(fastk, fastd)``;
- MOM: ``x - x[n]``; NATR: ``(rma(trange, n) / close) * 100``.

TA-Lib emits all outputs of a multi-output function from the longest lookback on; our nodes
are valid as soon as their own inputs are. Those earlier values are compared with the same
TA-Lib function whose later stage has period 1 (e.g. ``MACD(x, 12, 26, 1)[0]``).
"""

from __future__ import annotations

import attrs
import numpy as np
import talib
from hypothesis import strategies as st

from kernels import ops
from kernels.graph import F64
from kernels.ind import oscillators
from tests.kernels.ind.parity import (
    Indicator,
    Ohlcv,
    Sources,
    mismatch,
    parity_suite,
    run_nodes,
)


@attrs.frozen
class Periods:
    """The parameters one graph of every indicator uses."""

    n: int = 14
    fast: int = 12
    slow: int = 26
    signal: int = 9
    fastk: int = 5
    slowk: int = 3
    slowd: int = 3
    fastd: int = 3
    rsi: int = 14


@st.composite
def periods(draw: st.DrawFn) -> Periods:
    """Periods within TA-Lib's accepted ranges (fast may exceed slow: TA-Lib swaps them)."""
    return Periods(
        n=draw(st.integers(2, 20)),
        fast=draw(st.integers(2, 15)),
        slow=draw(st.integers(2, 30)),
        signal=draw(st.integers(1, 10)),
        fastk=draw(st.integers(1, 10)),
        slowk=draw(st.integers(1, 5)),
        slowd=draw(st.integers(1, 5)),
        fastd=draw(st.integers(1, 5)),
        rsi=draw(st.integers(2, 20)),
    )


def _macd(s: Sources, p: Periods) -> int:
    return s.add(ops.MACDLINE, [s.close], [p.fast, p.slow])


def _signal(s: Sources, p: Periods) -> int:
    return s.add(ops.EMA, [_macd(s, p)], [p.signal])


def _fastk(s: Sources, p: Periods) -> int:
    return s.add(ops.STOCHK, [s.high, s.low, s.close], [p.fastk])


def _slowk(s: Sources, p: Periods) -> int:
    return s.add(ops.SMA, [_fastk(s, p)], [p.slowk])


def _stochrsi_k(s: Sources, p: Periods) -> int:
    r = s.add(ops.RSI, [s.close], [p.rsi])
    return s.add(ops.STOCHK, [r, r, r], [p.fastk])


def _natr(s: Sources, p: Periods) -> int:
    tr = s.add(ops.TRANGE, [s.high, s.low, s.close])
    atr = s.add(ops.RMA, [tr], [p.n])
    return s.add(ops.MUL, [s.add(ops.DIV, [atr, s.close]), s.graph.const(100.0)])


def _macd_ref(b: Ohlcv, p: Periods, out: int, signal: int | None = None) -> F64:
    result: F64 = talib.MACD(b.close, p.fast, p.slow, p.signal if signal is None else signal)[out]
    return result


INDICATORS: list[Indicator] = [
    Indicator("macd", _macd, lambda b, p: _macd_ref(b, p, 0, signal=1), "price"),
    Indicator("macd.signal", _signal, lambda b, p: _macd_ref(b, p, 1), "price"),
    Indicator(
        "macd.hist",
        lambda s, p: s.add(ops.SUB, [_macd(s, p), _signal(s, p)]),
        lambda b, p: _macd_ref(b, p, 2),
        "price",
    ),
    Indicator(
        "stochf.fastk", _fastk, lambda b, p: talib.STOCHF(b.high, b.low, b.close, p.fastk, 1)[0]
    ),
    Indicator(
        "stochf.fastd",
        lambda s, p: s.add(ops.SMA, [_fastk(s, p)], [p.fastd]),
        lambda b, p: talib.STOCHF(b.high, b.low, b.close, p.fastk, p.fastd)[1],
    ),
    Indicator(
        "stoch.slowk",
        _slowk,
        lambda b, p: talib.STOCH(b.high, b.low, b.close, p.fastk, p.slowk, 0, 1, 0)[0],
    ),
    Indicator(
        "stoch.slowd",
        lambda s, p: s.add(ops.SMA, [_slowk(s, p)], [p.slowd]),
        lambda b, p: talib.STOCH(b.high, b.low, b.close, p.fastk, p.slowk, 0, p.slowd, 0)[1],
    ),
    Indicator(
        "stochrsi.fastk", _stochrsi_k, lambda b, p: talib.STOCHRSI(b.close, p.rsi, p.fastk, 1)[0]
    ),
    Indicator(
        "stochrsi.fastd",
        lambda s, p: s.add(ops.SMA, [_stochrsi_k(s, p)], [p.fastd]),
        lambda b, p: talib.STOCHRSI(b.close, p.rsi, p.fastk, p.fastd)[1],
    ),
    Indicator(
        "roc", lambda s, p: s.add(ops.ROC, [s.close], [p.n]), lambda b, p: talib.ROC(b.close, p.n)
    ),
    Indicator(
        "mom",
        lambda s, p: s.add(ops.SUB, [s.close, s.add(ops.LAG, [s.close], [p.n])]),
        lambda b, p: talib.MOM(b.close, p.n),
        "price",
        gap_ok=False,
    ),
    Indicator(
        "willr",
        lambda s, p: s.add(ops.WILLR, [s.high, s.low, s.close], [p.n]),
        lambda b, p: talib.WILLR(b.high, b.low, b.close, p.n),
    ),
    Indicator(
        "cci",
        lambda s, p: s.add(ops.CCI, [s.hlc3], [p.n]),
        lambda b, p: talib.CCI(b.high, b.low, b.close, p.n),
    ),
    Indicator(
        "mfi",
        lambda s, p: s.add(ops.MFI, [s.hlc3, s.volume], [p.n]),
        lambda b, p: talib.MFI(b.high, b.low, b.close, b.volume, p.n),
    ),
    Indicator("natr", _natr, lambda b, p: talib.NATR(b.high, b.low, b.close, p.n)),
]

#: Kernels that reproduce TA-Lib 0.8 (on an FMA-capable CPU) to the last bit.
BIT_EXACT = ("macd", "stochf.fastk", "roc", "willr", "cci", "mfi")


KLINES_PERIODS = (
    Periods(),
    Periods(n=5, fast=26, slow=12, signal=5, fastk=14, slowk=1, slowd=5, fastd=1, rsi=7),
    Periods(n=34, fast=3, slow=10, signal=16, fastk=21, slowk=5, slowd=3, fastd=4, rsi=21),
)


def _one_of_each(s: Sources) -> dict[int, int]:
    """A node of every oscillator opcode. Window periods need depth 9 = 2^3 + 1: a spec one
    short would round up to a ring of 8 (power-of-two rings) and alias the oldest lag."""
    return {
        ops.RSI: s.add(ops.RSI, [s.close], [5]),
        ops.MACDLINE: s.add(ops.MACDLINE, [s.close], [4, 9]),
        ops.STOCHK: s.add(ops.STOCHK, [s.high, s.low, s.close], [9]),
        ops.ROC: s.add(ops.ROC, [s.close], [8]),
        ops.WILLR: s.add(ops.WILLR, [s.high, s.low, s.close], [9]),
        ops.CCI: s.add(ops.CCI, [s.hlc3], [9]),
        ops.MFI: s.add(ops.MFI, [s.hlc3, s.volume], [9]),
    }


def _macd_where_talib_emits_it(bars: Ohlcv, ours: dict[str, F64]) -> None:
    line = _macd_ref(bars, KLINES_PERIODS[0], 0)
    emitted = ~np.isnan(line)
    assert np.array_equal(ours["0:macd"][emitted], line[emitted])


TestOscillators = parity_suite(
    INDICATORS,
    periods(),
    KLINES_PERIODS,
    oscillators.SPECS,
    _one_of_each,
    bit_exact=BIT_EXACT,
    klines_extra=_macd_where_talib_emits_it,
)


def test_macd_swaps_fast_and_slow_like_talib() -> None:
    c = 100 + np.cumsum(np.random.default_rng(3).normal(size=80))
    s = Sources()
    nodes = {
        "swapped": s.add(ops.MACDLINE, [s.close], [26, 12]),
        "equal": s.add(ops.MACDLINE, [s.close], [9, 9]),
    }
    out = run_nodes(s.graph, nodes, Ohlcv(c, c, c, c).bars())
    assert mismatch(out["swapped"], talib.MACD(c, 26, 12, 1)[0], 1.0) is None
    assert mismatch(out["equal"], talib.MACD(c, 9, 9, 1)[0], 1.0) is None
    assert np.all(out["equal"][8:] == 0.0)


def test_zero_denominators_give_zero_like_talib() -> None:
    # ROC over a zero price and the flat-window cases of %K, %R, MFI and CCI.
    x = np.array([0.0, 1.0, 2.0, 0.0, 3.0, 3.0, 3.0, 3.0])
    b = Ohlcv(x, x, x, np.ones_like(x))
    s = Sources()
    nodes = {
        "roc": s.add(ops.ROC, [s.close], [1]),
        "stochk": s.add(ops.STOCHK, [s.high, s.low, s.close], [3]),
        "willr": s.add(ops.WILLR, [s.high, s.low, s.close], [3]),
        "mfi": s.add(ops.MFI, [s.hlc3, s.volume], [2]),
        "cci": s.add(ops.CCI, [s.hlc3], [3]),
    }
    out = run_nodes(s.graph, nodes, b.bars())
    assert out["roc"][4] == 0.0
    for name in ("stochk", "willr", "mfi", "cci"):
        assert out[name][-1] == 0.0, name
    assert mismatch(out["roc"], talib.ROC(x, 1), 1.0) is None
    assert mismatch(out["mfi"], talib.MFI(x, x, x, b.volume, 2), 1.0) is None
