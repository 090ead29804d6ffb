"""The live executor fires exactly what the backtest fires, bar for bar."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from kernels import staging
from kernels.backtest import run_backtest
from kernels.executor import Executor
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import aggregate, random_klines

TRADERS = [
    TraderDef("oversold", "rsi(14) < 35 and close > sma(close, 50)", "5m"),
    TraderDef("cross", "crosses_above(ema(9), ema(21)) and volume > sma(volume, 20)", "5m"),
    TraderDef("bands", "close < bbands(20, 2).lower or close > bbands(20, 2).upper", "5m"),
    TraderDef("mtf", 'close > highest(high, 10)[1] and on("1h", close > sma(close, 5))', "5m"),
    TraderDef(
        "vocabulary",  # issue 16's window functions and volume indexes
        "rsi_divergence(close, 14, 20, 3) != 0 or hvn_near(1.0, 40, 12) and close > "
        "vwap_bands(1).upper or pvi() > ema(pvi(), 20) and hvn_below(30, 10) < 1 and nvi() < 1",
        "5m",
    ),
    TraderDef(
        "candles",
        "cdl_engulfing() > 0 or cdl_hikkake() != 0 or cdl_morningstar(0.3) != 0 or cdl_doji() != 0",
        "5m",
    ),
]
SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]


def _data(n5: int) -> dict[str, dict[str, object]]:
    five = {s: random_klines(i, n5, timeframe_ms("5m")) for i, s in enumerate(SYMBOLS)}
    hour = {s: aggregate(k, 12) for s, k in five.items()}
    return {"5m": five, "1h": hour}


def _replay(executor: Executor, rings: dict[str, RingBuffer], data, n5: int, start: int = 0):
    fired = []
    for t in range(start, n5):
        close_time = None
        for s in SYMBOLS:
            k = data["5m"][s]
            rings["5m"].append(rings["5m"].slot(s), int(k.open_time[t]), k.bars[t, :8])
            close_time = int(k.open_time[t]) + timeframe_ms("5m")
        # An hour bar closes with every twelfth 5m bar: longer timeframes screen first.
        if (t + 1) % 12 == 0:
            for s in SYMBOLS:
                h = data["1h"][s]
                i = (t + 1) // 12 - 1
                rings["1h"].append(rings["1h"].slot(s), int(h.open_time[i]), h.bars[i, :8])
            executor.advance("1h")
        assert close_time is not None
        fired.extend(executor.advance("5m").matches)
    return fired


def _running(traders, data, n5: int) -> tuple[Executor, dict[str, RingBuffer]]:
    """An executor of ``traders`` that has screened the first ``n5`` bars of ``data``."""
    rings = {tf: RingBuffer(timeframe_ms(tf), 1000, SYMBOLS) for tf in ("5m", "1h")}
    executor = Executor(rings)
    assert executor.set_traders(traders) == {}
    _replay(executor, rings, data, n5)
    return executor, rings


def _key(f):
    return (f.trader_id, f.symbol, f.open_time)


def test_live_stepping_fires_exactly_what_the_backtest_fires():
    n5 = 12 * 60
    data = _data(n5)
    rings = {tf: RingBuffer(timeframe_ms(tf), 1000, SYMBOLS) for tf in ("5m", "1h")}
    executor = Executor(rings)
    assert executor.set_traders(TRADERS) == {}
    live = _replay(executor, rings, data, n5)
    expected = run_backtest(Program(TRADERS), data)
    assert len(expected) > 20
    assert sorted(map(_key, live)) == sorted(map(_key, expected))
    by_key = {_key(f): f for f in expected}
    for f in live:
        ref = by_key[_key(f)]
        assert f.matched == ref.matched
        assert f.clauses == ref.clauses
        assert f.price == ref.price


def test_missed_bars_are_stepped_in_order_and_can_fire():
    n5 = 12 * 40
    data = _data(n5)
    traders = [TraderDef("cross", "crosses_above(close, sma(close, 10))", "5m")]
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 1000, SYMBOLS)}
    executor = Executor(rings)
    executor.set_traders(traders)
    fired = []
    for t in range(n5):
        for s in SYMBOLS:
            k = data["5m"][s]
            rings["5m"].append(rings["5m"].slot(s), int(k.open_time[t]), k.bars[t, :8])
        if t % 7 != 3:  # screens skipped now and then: the next screen catches up
            fired.extend(executor.advance("5m").matches)
    fired.extend(executor.advance("5m").matches)
    expected = run_backtest(Program(traders), {"5m": data["5m"]})
    assert sorted(map(_key, fired)) == sorted(map(_key, expected))


def test_trader_added_at_run_time_leaves_shared_nodes_untouched_and_fires_like_backtest():
    n5 = 12 * 50
    data = _data(n5)
    base = [TraderDef("a", "sma(close, 20) > sma(close, 50) and rsi(14) > 50", "5m")]
    added = TraderDef("b", "crosses_above(sma(close, 20), sma(close, 50))", "5m")
    half = n5 // 2
    executor, rings = _running(base, data, half)
    state = executor.states["5m"]
    rsi_node = next(j for j, k in enumerate(state.layout.keys) if k.op == 40)
    rsi_before = state.value(rsi_node).copy()
    count_before = state.count.copy()
    assert executor.set_traders([*base, added]) == {}
    state = executor.states["5m"]
    rsi_node = next(j for j, k in enumerate(state.layout.keys) if k.op == 40)
    np.testing.assert_array_equal(state.value(rsi_node), rsi_before)
    np.testing.assert_array_equal(state.count, count_before)
    later = _replay(executor, rings, data, n5, start=half)
    expected = [
        f
        for f in run_backtest(Program([*base, added]), {"5m": data["5m"]})
        if f.open_time > int(data["5m"][SYMBOLS[0]].open_time[half - 1])
    ]
    assert sorted(map(_key, later)) == sorted(map(_key, expected))


def test_compile_errors_are_reported_per_trader_and_others_still_run():
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 100, SYMBOLS)}
    executor = Executor(rings)
    errors = executor.set_traders(
        [TraderDef("ok", "close > open", "5m"), TraderDef("bad", "rsi(14 < 30", "5m")]
    )
    assert set(errors) == {"bad"}
    assert list(executor.traders) == ["ok"]


def test_forming_bar_peek_does_not_change_committed_state():
    n5 = 200
    data = _data(n5)
    traders = [TraderDef("up", "close > sma(close, 5)", "5m")]
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 1000, SYMBOLS)}
    executor = Executor(rings)
    executor.set_traders(traders)
    for t in range(n5 - 1):
        for s in SYMBOLS:
            k = data["5m"][s]
            rings["5m"].append(rings["5m"].slot(s), int(k.open_time[t]), k.bars[t, :8])
        executor.advance("5m")
    mem = executor.states["5m"].mem.copy()
    for s in SYMBOLS:
        k = data["5m"][s]
        rings["5m"].set_forming(rings["5m"].slot(s), int(k.open_time[-1]), k.bars[-1, :8])
    provisional = executor.peek("5m")
    assert all(m.provisional for m in provisional.matches)
    np.testing.assert_array_equal(executor.states["5m"].mem, mem)
    for s in SYMBOLS:
        k = data["5m"][s]
        rings["5m"].append(rings["5m"].slot(s), int(k.open_time[-1]), k.bars[-1, :8])
    confirmed = executor.advance("5m")
    assert {_key(m) for m in provisional.matches} == {_key(m) for m in confirmed.matches}


@pytest.mark.parametrize("forming", [False, True], ids=["close", "intrabar"])
def test_a_symbol_joining_while_a_screen_runs_does_not_break_it(forming):
    """The market adds ring slots on its own (start-up, a universe refresh) while a screen
    runs in a worker thread; finishing that screen must not fail (it crashed the daemon)."""
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 100)}
    executor = Executor(rings)
    executor.set_traders([TraderDef("x", "close > open", "5m")])
    job = executor.prepare("5m", forming=forming)
    for s in SYMBOLS:
        rings["5m"].add_symbol(s)
    job.run()
    assert executor.finish(job).matches == ()
    assert executor.advance("5m").matches == ()  # the next screen has the new slots


@pytest.mark.parametrize("n", [1, 2, 3])
def test_chunks_cover_all_slots(n):
    rings = {"5m": RingBuffer(timeframe_ms("5m"), 10, SYMBOLS)}
    executor = Executor(rings)
    executor.set_traders([TraderDef("x", "close > open", "5m")])
    job = executor.prepare("5m")
    chunks = job.chunks(n)
    covered = [s for a, b in chunks for s in range(a, b)]
    assert covered == list(range(len(SYMBOLS)))


def _node_values(executor: Executor, tf: str) -> dict[object, np.ndarray]:
    state = executor.states[tf]
    return {key: state.value(j) for j, key in enumerate(state.layout.keys)}


def test_a_trader_added_while_a_bar_waits_to_be_screened_warms_to_the_bar_screened():
    """New nodes are warmed through the bars the running ones have stepped, not through a bar
    the ring holds but no screen has stepped yet (it was stepped twice)."""
    n5 = 12 * 30
    half = 12 * 15 + 4
    data = _data(n5)
    base = [TraderDef("a", "rsi(14) > 50", "5m")]
    added = TraderDef("b", "close > ema(close, 10) and volume > sma(volume, 7)", "5m")
    executor, rings = _running(base, data, half)
    for s in SYMBOLS:  # the next bar arrives; its screen has not run yet
        k = data["5m"][s]
        rings["5m"].append(rings["5m"].slot(s), int(k.open_time[half]), k.bars[half, :8])
    assert executor.set_traders([*base, added]) == {}
    executor.advance("5m")
    reference, _ = _running([*base, added], data, half + 1)
    got, want = _node_values(executor, "5m"), _node_values(reference, "5m")
    assert got.keys() == want.keys()
    for key, values in want.items():
        np.testing.assert_array_equal(got[key], values, err_msg=str(key))


@pytest.mark.parametrize("ext_floats", [staging.EXT_FLOATS, 1])
@pytest.mark.parametrize("base", [[], [TraderDef("a", "rsi(14) > 50", "5m")]])
def test_an_on_trader_added_later_warms_every_symbol_from_its_own_other_timeframe(
    base: list[TraderDef], ext_floats: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trader reading another timeframe, installed at run time, warms each symbol to the
    state stepping it live from the start leaves, every lag its rings hold (symbols after the
    first batch of the warm-up once read the first batch's values); symbols stepped already
    (``base``) or never stepped (no trader ran), all in one warm-up call or one call each."""
    monkeypatch.setattr(staging, "EXT_FLOATS", ext_floats)
    n5 = 12 * 30
    data = _data(n5)
    added = TraderDef("b", 'on("1h", close > sma(close, 5)) and close > ema(close, 10)', "5m")
    executor, _ = _running(base, data, n5)
    assert executor.set_traders([*base, added]) == {}
    reference, _ = _running([*base, added], data, n5)
    for tf in ("5m", "1h"):
        got, want = executor.states[tf], reference.states[tf]
        at = got.layout.index()
        for j, key in enumerate(want.layout.keys):
            for lag in range(int(want.layout.rdep[j])):
                np.testing.assert_array_equal(
                    got.value(at[key], lag=lag), want.value(j, lag=lag), err_msg=f"{key} {lag}"
                )


COOLED = [
    TraderDef("often", "close > open", "5m", cooldown=5),
    TraderDef("cross", "crosses_above(close, sma(close, 10))", "5m"),  # the default cooldown
    TraderDef("once", 'rsi(5) > 50 and on("1h", close > sma(close, 3))', "5m", cooldown=10_000),
]


@pytest.mark.parametrize("default", [0, 4])
def test_each_traders_own_cooldown_fires_live_exactly_as_in_the_backtest(default: int) -> None:
    n5 = 12 * 40
    data = _data(n5)
    rings = {tf: RingBuffer(timeframe_ms(tf), 1000, SYMBOLS) for tf in ("5m", "1h")}
    executor = Executor(rings, cooldown_bars=default)
    assert executor.set_traders(COOLED) == {}
    live = _replay(executor, rings, data, n5)
    expected = run_backtest(Program(COOLED), data, cooldown_bars=default)
    assert sorted(map(_key, live)) == sorted(map(_key, expected))
    free_traders = [attrs.evolve(t, cooldown=None) for t in COOLED]
    unlimited = run_backtest(Program(free_traders), data)  # no cooldown at all
    counts, free = expected.counts(), unlimited.counts()
    for symbol in SYMBOLS:
        assert counts[("once", symbol)] == 1 < free[("once", symbol)]
        assert counts[("often", symbol)] < free[("often", symbol)]
        if default:
            assert counts[("cross", symbol)] <= free[("cross", symbol)]
        else:
            assert counts[("cross", symbol)] == free[("cross", symbol)]
    bar = timeframe_ms("5m")
    for trader, cooldown in (("often", 5), ("cross", default)):
        for symbol in SYMBOLS:
            times = sorted(f.open_time for f in expected if _key(f)[:2] == (trader, symbol))
            gaps = np.diff(times) // bar
            assert (gaps >= max(cooldown, 1)).all()
            if trader == "often":
                assert (gaps == 5).any()  # the cooldown, not the filter, spaced them


def test_a_new_cooldown_alone_keeps_the_traders_last_signals() -> None:
    """Raising a trader's cooldown holds back its next signals at once (its last ones still
    count); an edit of its filter starts its firing state afresh."""
    n5 = 12 * 20
    data = _data(n5)
    half = n5 // 2
    trader = TraderDef("often", "close > open", "5m")
    rings = {tf: RingBuffer(timeframe_ms(tf), 1000, SYMBOLS) for tf in ("5m", "1h")}
    executor = Executor(rings)
    executor.set_traders([trader])
    before = _replay(executor, rings, data, half)
    assert {f.symbol for f in before} == set(SYMBOLS)
    assert executor.set_traders([attrs.evolve(trader, cooldown=10_000)]) == {}
    assert _replay(executor, rings, data, half + 30, start=half) == []
    executor.set_traders([attrs.evolve(trader, filter="close >= open", cooldown=10_000)])
    after = _replay(executor, rings, data, n5, start=half + 30)
    assert 0 < len(after) <= len(SYMBOLS)


def test_a_filter_holding_before_the_trader_is_warm_fires_at_its_first_warm_bar_like_live():
    # The filter holds from early on, before the 1 h side has the bars it needs: the only
    # fire on each symbol is where the trader becomes warm (no edge of the filter there).
    traders = [TraderDef("warm", 'close > 0 and on("1h", close > 0) and ema(9) > 0', "5m")]
    n5 = 12 * 12
    data = _data(n5)
    rings = {tf: RingBuffer(timeframe_ms(tf), 1000, SYMBOLS) for tf in ("5m", "1h")}
    executor = Executor(rings)
    assert executor.set_traders(traders) == {}
    live = _replay(executor, rings, data, n5)
    expected = run_backtest(Program(traders), data)
    assert len(expected) == len(SYMBOLS)
    assert sorted(map(_key, live)) == sorted(map(_key, expected))
    by_key = {_key(f): f for f in expected}
    for f in live:
        assert by_key[_key(f)].clauses == f.clauses
        assert (
            f.matched
            == by_key[_key(f)].matched
            == ("close > 0", 'on("1h", close > 0)', "ema(9) > 0")
        )
