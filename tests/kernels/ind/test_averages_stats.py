"""Moving averages, sums, window statistics and RSI against TA-Lib (RMA against a
TradingView-style reference written below), plus the DEMA/TEMA/TRIMA decompositions the
lowering builds: on every real klines file, on Hypothesis bars (short, constant, tied, gapped,
rescaled), the streaming peek/commit contract and the declared ring depths. The comparison
rule is in :mod:`tests.kernels.ind.parity`.

Decompositions (TA-Lib function = graph), ``e1 = ema(x, n)``, ``e2 = ema(e1, n)``,
``e3 = ema(e2, n)``:

- DEMA: ``2 * e1 - e2``;
- TEMA: ``((3 * e1) - (3 * e2)) + e3`` (TA-Lib's order; other orders differ by an ulp);
- TRIMA: ``sma(sma(x, a), b)`` with ``a = b = (n + 1) // 2`` for odd ``n`` and
  ``a = n // 2, b = n // 2 + 1`` for even ``n`` (TA-Lib's running-weight form rounds
  differently: ~1e-12 relative on the real klines).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import talib
from hypothesis import strategies as st

from kernels import ops
from kernels.graph import F64
from kernels.ind import averages, stats
from tests.kernels.ind.parity import (
    KLINES_FILES,
    Indicator,
    Ohlcv,
    Sources,
    assert_parity,
    klines_path,
    parity_suite,
    run_nodes,
    valid_runs,
)


@attrs.frozen
class Periods:
    """The parameters one graph of every indicator uses."""

    n: int = 20
    m: int = 9
    rsi: int = 14


@st.composite
def periods(draw: st.DrawFn) -> Periods:
    """Periods within TA-Lib's accepted ranges."""
    return Periods(
        n=draw(st.integers(2, 30)),
        m=draw(st.integers(2, 30)),
        rsi=draw(st.integers(2, 20)),
    )


def tv_rma(x: F64, n: int) -> F64:
    """TradingView's ``ta.rma`` (Pine v5 reference): NaN until ``n`` values, then the SMA of
    the first ``n``, then ``alpha * x + (1 - alpha) * prev`` with ``alpha = 1 / n``; each run
    of valid values on its own."""
    out = np.full(len(x), np.nan)
    alpha = 1.0 / n
    for run in valid_runs(x):
        seg = x[run]
        if len(seg) < n:
            continue
        prev = float(np.sum(seg[:n])) / n
        vals = [prev]
        for v in seg[n:]:
            prev = alpha * v + (1.0 - alpha) * prev
            vals.append(prev)
        out[run.start + n - 1 : run.stop] = vals
    return out


def _ema(s: Sources, x: int, n: int, depth: int) -> int:
    for _ in range(depth):
        x = s.add(ops.EMA, [x], [n])
    return x


def _dema(s: Sources, p: Periods) -> int:
    e1, e2 = _ema(s, s.close, p.m, 1), _ema(s, s.close, p.m, 2)
    return s.add(ops.SUB, [s.add(ops.MUL, [s.graph.const(2.0), e1]), e2])


def _tema(s: Sources, p: Periods) -> int:
    three = s.graph.const(3.0)
    e1, e2, e3 = (_ema(s, s.close, p.m, d) for d in (1, 2, 3))
    t1, t2 = s.add(ops.MUL, [three, e1]), s.add(ops.MUL, [three, e2])
    return s.add(ops.ADD, [s.add(ops.SUB, [t1, t2]), e3])


def _trima(s: Sources, n: int) -> int:
    a, b = ((n + 1) // 2, (n + 1) // 2) if n % 2 else (n // 2, n // 2 + 1)
    return s.add(ops.SMA, [s.add(ops.SMA, [s.close], [a])], [b])


INDICATORS: list[Indicator] = [
    Indicator(
        "sma",
        lambda s, p: s.add(ops.SMA, [s.close], [p.n]),
        lambda b, p: talib.SMA(b.close, p.n),
        "price",
    ),
    Indicator(
        "ema",
        lambda s, p: s.add(ops.EMA, [s.close], [p.n]),
        lambda b, p: talib.EMA(b.close, p.n),
        "price",
    ),
    Indicator(
        "wma",
        lambda s, p: s.add(ops.WMA, [s.close], [p.n]),
        lambda b, p: talib.WMA(b.close, p.n),
        "price",
    ),
    Indicator(
        "rma",
        lambda s, p: s.add(ops.RMA, [s.close], [p.n]),
        lambda b, p: tv_rma(b.close, p.n),
        "price",
    ),
    Indicator(
        "sum",
        lambda s, p: s.add(ops.SUM, [s.close], [p.m]),
        lambda b, p: talib.SUM(b.close, p.m),
        "price",
    ),
    Indicator(
        "highest",
        lambda s, p: s.add(ops.HIGHEST, [s.high], [p.n]),
        lambda b, p: talib.MAX(b.high, p.n),
        "price",
    ),
    Indicator(
        "lowest",
        lambda s, p: s.add(ops.LOWEST, [s.low], [p.m]),
        lambda b, p: talib.MIN(b.low, p.m),
        "price",
    ),
    Indicator(
        "rsi",
        lambda s, p: s.add(ops.RSI, [s.close], [p.rsi]),
        lambda b, p: talib.RSI(b.close, p.rsi),
    ),
    Indicator("dema", _dema, lambda b, p: talib.DEMA(b.close, p.m), "price"),
    Indicator("tema", _tema, lambda b, p: talib.TEMA(b.close, p.m), "price"),
    Indicator(
        "trima", lambda s, p: _trima(s, p.n), lambda b, p: talib.TRIMA(b.close, p.n), "price"
    ),
    Indicator(
        "trima.m", lambda s, p: _trima(s, p.m), lambda b, p: talib.TRIMA(b.close, p.m), "price"
    ),
]

#: Reproduce TA-Lib 0.8 to the last bit on the real klines. The others round differently
#: (within 1e-9): TA-Lib's EMA fuses its multiply-add on FMA-capable CPUs and ema_nb does
#: not; TA-Lib's RSI scales by a hoisted 1/n; WMA and TRIMA keep other running sums.
BIT_EXACT = ("sma", "sum", "highest", "lowest")

KLINES_PERIODS = (
    Periods(),
    Periods(n=5, m=30, rsi=7),
    Periods(n=14, m=21, rsi=21),
)


def test_stddev_equals_talib(shared_data: Path) -> None:
    for name in KLINES_FILES:
        b = Ohlcv.load(klines_path(shared_data, name))
        s = Sources()
        nodes = {n: s.add(ops.STDDEV, [s.close], [n, 2.0]) for n in (2, 5, 20, 50)}
        ours = run_nodes(s.graph, {str(n): node for n, node in nodes.items()}, b.bars())
        for n in nodes:
            ref = talib.STDDEV(b.close, n, 2.0)
            assert_parity(f"stddev {n} {name}", ours[str(n)], ref, b.price_unit)


def _one_of_each(s: Sources) -> dict[int, int]:
    """A node of every average and statistic opcode. Window periods need depth 9 = 2^3 + 1:
    a spec one short would round up to a ring of 8 (power-of-two rings) and alias the oldest
    lag."""
    return {
        ops.SMA: s.add(ops.SMA, [s.close], [9]),
        ops.SUM: s.add(ops.SUM, [s.volume], [9]),
        ops.EMA: s.add(ops.EMA, [s.close], [7]),
        ops.RMA: s.add(ops.RMA, [s.close], [7]),
        ops.WMA: s.add(ops.WMA, [s.close], [9]),
        ops.STDDEV: s.add(ops.STDDEV, [s.close], [9, 2.0]),
        ops.HIGHEST: s.add(ops.HIGHEST, [s.high], [9]),
        ops.LOWEST: s.add(ops.LOWEST, [s.low], [9]),
    }


TestAveragesAndStats = parity_suite(
    INDICATORS,
    periods(),
    KLINES_PERIODS,
    {**averages.SPECS, **stats.SPECS},
    _one_of_each,
    bit_exact=BIT_EXACT,
)
