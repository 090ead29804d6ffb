"""Chart data: candles from the rings around a signal, the trader's operands computed by the
kernels (equal to TA-Lib on the same bars), each in the right pane, levels and the marker."""

from __future__ import annotations

import numpy as np
import talib

from kernels.program import TraderDef
from tests.vyx.screener.rings import filled_rings
from vyx.authoring.preview import snapshot
from vyx.charts import ChartRequest, chart_bars, timeframes_of

TRADER = TraderDef(
    "t", "rsi(14) < 45 and crosses_above(close, ema(close, 20)) and volume > 0", "5m", "t"
)


def _chart(trader: TraderDef | None, time: int | None, bars: int = 100) -> dict:  # type: ignore[type-arg]
    rings = filled_rings(symbols=2, bars=400)
    tfs = timeframes_of(trader, "5m")
    data = snapshot(rings, tfs, 10_000, symbols=("S1USDT",))
    return chart_bars(ChartRequest("S1USDT", trader, "5m", time, bars), data)


def test_operands_equal_talib_in_their_panes_with_levels_and_the_marker() -> None:
    rings = filled_rings(symbols=2, bars=400)
    times, values = rings["5m"].window(rings["5m"].slot("S1USDT"), 400)
    at = int(times[300])
    chart = _chart(TRADER, at)
    candles = np.array(chart["candles"])
    assert len(candles) == 100
    # The signal's bar about three quarters in, marked at its close.
    assert candles[75, 0] == at
    assert chart["marker"] == {"time": at, "price": float(values[3, 300])}
    start = 300 - 75
    np.testing.assert_array_equal(candles[:, 4], values[3, start : start + 100])
    series = {s["label"]: s for s in chart["series"]}
    assert set(series) == {"rsi(14)", "ema(20)", "volume"}
    close = values[3].astype(np.float64)
    expected_rsi = talib.RSI(close, 14)[start : start + 100]
    np.testing.assert_allclose(
        np.array(series["rsi(14)"]["values"], float), expected_rsi, rtol=1e-9
    )
    expected_ema = talib.EMA(close, 20)[start : start + 100]
    np.testing.assert_allclose(
        np.array(series["ema(20)"]["values"], float), expected_ema, rtol=1e-9
    )
    assert series["ema(20)"]["pane"] == "price"
    assert series["rsi(14)"]["pane"] == "rsi(14) < 45"
    assert series["volume"]["pane"] == "volume > 0"
    assert chart["panes"] == ["price", "rsi(14) < 45", "volume > 0"]
    assert {(lv["pane"], lv["value"]) for lv in chart["levels"]} == {
        ("rsi(14) < 45", 45.0),
        ("volume > 0", 0.0),
    }


def test_warming_up_is_null_and_old_or_missing_bars_are_said() -> None:
    early = _chart(TRADER, None, bars=500)
    rsi = next(s for s in early["series"] if s["label"] == "rsi(14)")["values"]
    assert len(early["candles"]) == 400  # all that is held
    # Null while warming up (as the live screen: longer than the period), then every bar.
    warm = rsi.index(next(v for v in rsi if v is not None))
    assert warm > 14
    assert None not in rsi[warm:]
    old = _chart(TRADER, 1_000)
    assert old["marker"] is None
    assert "older" in old["note"]
    plain = _chart(None, None)
    assert plain["series"] == []
    assert len(plain["candles"]) == 100
    missing = chart_bars(ChartRequest("NOPEUSDT", TRADER, "5m"), {"5m": {}})
    assert missing["candles"] == []
    assert "no 5m bars of NOPEUSDT" in missing["note"]
    broken = _chart(TraderDef("b", "rsi(14 <", "5m"), None)
    assert "does not compile" in broken["note"]
    assert len(broken["candles"]) == 100


def test_levels_come_from_the_clauses_constants() -> None:
    trader = TraderDef("m", "crosses_above(macd(12, 26, 9).hist, 0) and 40 < rsi(14) < 60", "5m")
    chart = _chart(trader, None)
    levels = {(lv["clause"], lv["value"]) for lv in chart["levels"]}
    assert levels == {
        ("crosses_above(macd(12, 26, 9).hist, 0)", 0.0),
        ("40 < rsi(14) < 60", 40.0),
        ("40 < rsi(14) < 60", 60.0),
    }
    panes = {lv["clause"]: lv["pane"] for lv in chart["levels"]}
    assert panes == {c: c for c in panes}  # each in its clause's own pane, not the price's
