"""Preview: the same signals as a direct backtest, over klines or over the daemon's rings."""

from __future__ import annotations

import collections

import numpy as np
import trio

from kernels.backtest import run_backtest
from kernels.klines_csv import Klines
from kernels.program import Program
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import aggregate, random_klines
from vyx.authoring import Draft, check_proposal, preview, preview_bars, snapshot
from vyx.authoring.draft import Proposal

FIVE = timeframe_ms("5m")


def make_draft(source: str, timeframe: str = "5m") -> Draft:
    draft = check_proposal(Proposal("test", timeframe, source))
    assert isinstance(draft, Draft), draft
    return draft


def market(n_symbols: int = 6, n: int = 1200) -> dict[str, dict[str, Klines]]:
    five = {f"S{i}USDT": random_klines(i + 1, n, FIVE) for i in range(n_symbols)}
    return {"5m": five, "1h": {s: aggregate(k, 12) for s, k in five.items()}}


def rings_of(data: dict[str, dict[str, Klines]], capacity: int) -> dict[str, RingBuffer]:
    rings = {}
    for tf, per_symbol in data.items():
        ring = RingBuffer(timeframe_ms(tf), capacity)
        for symbol, k in per_symbol.items():
            slot = ring.add_symbol(symbol)
            for t in range(len(k)):
                ring.append(slot, int(k.open_time[t]), k.bars[t, :8])
        rings[tf] = ring
    return rings


def test_preview_is_the_backtest_summarised() -> None:
    data = market()
    draft = make_draft('rsi(14) < 35 and on("1h", close > ema(close, 20))')
    shown = preview_bars(draft, data, signals=4)
    fires = run_backtest(Program([draft.definition()]), data)
    assert len(fires) > 10
    assert shown.fires == len(fires)
    assert shown.per_symbol == dict(collections.Counter(f.symbol for f in fires).most_common())
    assert list(shown.per_symbol.values()) == sorted(shown.per_symbol.values(), reverse=True)
    assert [(s.symbol, s.open_time, s.price) for s in shown.last] == [
        (f.symbol, f.open_time, f.price) for f in fires[-4:]
    ]
    assert [s.clauses for s in shown.last] == [f.clauses for f in fires[-4:]]
    newest = shown.last[-1].clauses["rsi(14) < 35"]
    assert newest["held"] is True
    assert newest["values"]["rsi(14)"] < 35  # type: ignore[index, operator]
    assert shown.symbols == 6
    assert shown.bars == {"5m": 1200, "1h": 100}
    assert shown.warming_up == ()
    assert shown.warm


def test_preview_over_the_rings_reads_their_newest_bars() -> None:
    data = market(n=900)
    rings = rings_of(data, capacity=600)
    draft = make_draft("rsi(14) < 40 and close < sma(close, 50)")
    shown = trio.run(preview, draft, rings)
    newest = {"5m": {s: Klines(k.open_time[-600:], k.bars[-600:]) for s, k in data["5m"].items()}}
    direct = preview_bars(draft, newest)
    assert (shown.fires, shown.per_symbol, shown.last) == (
        direct.fires,
        direct.per_symbol,
        direct.last,
    )
    assert shown.fires > 0
    assert shown.bars == {"5m": 600}


def test_the_snapshot_is_a_copy_of_the_newest_bars() -> None:
    data = market(n_symbols=2, n=50)
    rings = rings_of(data, capacity=40)
    copied = snapshot(rings, ("5m",), 30)
    k = copied["5m"]["S0USDT"]
    source = data["5m"]["S0USDT"]
    np.testing.assert_array_equal(k.bars, source.bars[-30:])
    np.testing.assert_array_equal(k.open_time, source.open_time[-30:])
    ring = rings["5m"]
    ring.append(ring.slot("S0USDT"), int(source.open_time[-1]) + FIVE, np.ones(8))
    np.testing.assert_array_equal(k.bars, source.bars[-30:])  # unchanged by the append


def test_symbols_short_of_history_are_warming_up_and_cannot_fire() -> None:
    data = market(n_symbols=3, n=600)
    short = data["5m"]["S2USDT"]
    data["5m"]["S2USDT"] = Klines(short.open_time[-100:], short.bars[-100:])
    draft = make_draft("rsi(14) < 45 and close > ema(close, 50)")
    assert draft.warmup["5m"] > 100
    shown = preview_bars(draft, {"5m": data["5m"]})
    assert shown.warming_up == ("S2USDT",)
    assert "S2USDT" not in shown.per_symbol
    assert shown.warm
    everyone_short = preview_bars(draft, {"5m": {"S2USDT": data["5m"]["S2USDT"]}})
    assert everyone_short.fires == 0
    assert not everyone_short.warm


def test_a_timeframe_without_bars_is_reported_not_guessed() -> None:
    data = market(n_symbols=2, n=300)
    draft = make_draft('on("4h", close > ema(close, 20)) and rsi(14) < 50')
    shown = preview_bars(draft, data)
    assert shown.missing == ("4h",)
    assert shown.fires == 0
    assert not shown.warm
