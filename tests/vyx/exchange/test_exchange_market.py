"""The pure market model: synthetic determinism, klines paging, forming states, tickers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.timeframes import DAY_MS, timeframe_ms
from vyx.exchange.candles import VOLUME_COL, ExactKline, aggregate
from vyx.exchange.market import Market
from vyx.exchange.source import SymbolKind
from vyx.exchange.synthetic import SyntheticSource

NOW = 1_699_999_200_000 + 7 * 60_000 + 20_000  # 22:07:20 UTC
SOURCE = SyntheticSource(12, seed=3)
MARKET = Market(SOURCE, ("1m", "5m", "1h"))


def test_synthetic_is_deterministic_and_independent_of_the_universe() -> None:
    a = SyntheticSource(3, seed=9).base_bars("ETHUSDT", NOW - DAY_MS, NOW)
    b = SyntheticSource(40, seed=9).base_bars("ETHUSDT", NOW - DAY_MS, NOW)
    c = SyntheticSource(3, seed=10).base_bars("ETHUSDT", NOW - DAY_MS, NOW)
    assert np.array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)


def test_synthetic_days_join_up() -> None:
    whole = SOURCE.base_bars("SOLUSDT", NOW - 3 * DAY_MS, NOW)
    parts = [
        SOURCE.base_bars("SOLUSDT", t, t + DAY_MS // 2)
        for t in range(NOW - 3 * DAY_MS, NOW, DAY_MS // 2)
    ]
    assert np.array_equal(whole.data, np.concatenate([p.data for p in parts]))
    times = whole.open_time
    assert np.all(np.diff(times) == 60_000)
    # every minute opens at the previous close and trade ids run on without holes
    assert np.array_equal(whole.data[1:, 1], whole.data[:-1, 4])
    assert np.array_equal(whole.data[1:, 10], whole.data[:-1, 10] + whole.data[:-1, 7])


def test_synthetic_universe_has_named_pairs_synthetic_pairs_and_decoys() -> None:
    source = SyntheticSource(30)
    names = [info.symbol for info in source.symbols]
    assert names[:3] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert "SYN0001USDT" in names
    kinds = {info.kind for info in source.symbols}
    assert {SymbolKind.STABLECOIN, SymbolKind.LEVERAGED, SymbolKind.OTHER_QUOTE} <= kinds
    assert any(info.status != "TRADING" for info in source.symbols)


def test_prices_and_volumes_look_like_a_market() -> None:
    today = NOW // DAY_MS * DAY_MS
    day = MARKET.closed_bars("BTCUSDT", "1d", today - DAY_MS, today)
    (btc,) = day.klines("1d")
    assert 10_000 < btc.close / 1e8 < 500_000
    assert 1e8 < btc.quote_volume / 1e8 < 1e10
    assert btc.low <= min(btc.open, btc.close) <= max(btc.open, btc.close) <= btc.high
    assert 0 < btc.taker_buy_volume < btc.volume


def test_hourly_bars_are_aggregated_minutes() -> None:
    start = NOW // DAY_MS * DAY_MS - DAY_MS
    hours = MARKET.closed_bars("ETHUSDT", "1h", start, start + DAY_MS)
    minutes = SOURCE.base_bars("ETHUSDT", start, start + DAY_MS)
    assert len(hours) == 24
    assert np.array_equal(hours.data, aggregate(minutes, "1h", base_ms=60_000).data)
    weeks = MARKET.closed_bars("ETHUSDT", "1w", start - 21 * DAY_MS, start)
    days = MARKET.closed_bars("ETHUSDT", "1d", start - 21 * DAY_MS, start)
    assert np.array_equal(weeks.data, aggregate(days, "1w", base_ms=DAY_MS).data)


def test_klines_newest_by_default_with_the_forming_bar_last() -> None:
    klines = MARKET.klines("BTCUSDT", "5m", NOW, limit=4)
    opens = [k.open_time for k in klines]
    assert opens[-1] == NOW // 300_000 * 300_000
    assert np.all(np.diff(opens) == 300_000)
    assert len(opens) == 4
    assert klines[-1] == MARKET.kline_at("BTCUSDT", "5m", opens[-1], NOW)
    assert len(MARKET.klines("BTCUSDT", "5m", NOW)) == 500


def test_klines_end_time_gives_the_newest_bars_ending_there() -> None:
    end = NOW - 3 * 3_600_000 + 1
    klines = MARKET.klines("BTCUSDT", "1h", NOW, end_ms=end, limit=5)
    assert [k.open_time for k in klines][-1] == end // 3_600_000 * 3_600_000
    assert len(klines) == 5


def test_klines_start_time_gives_the_oldest_bars_from_there() -> None:
    start = NOW - 10 * 3_600_000 + 1  # mid-bar: the next bar is the first
    klines = MARKET.klines("BTCUSDT", "1h", NOW, start_ms=start, limit=3)
    assert [k.open_time for k in klines] == [
        (start // 3_600_000 + 1) * 3_600_000 + i * 3_600_000 for i in range(3)
    ]
    assert MARKET.klines("BTCUSDT", "1h", NOW, start_ms=NOW + 3_600_000) == []


def _reference() -> list[ExactKline]:
    """Every 5m bar of the last five days up to the forming one, fetched in two pages."""
    length = timeframe_ms("5m")
    first = MARKET.klines("BTCUSDT", "5m", NOW, start_ms=NOW - 5 * DAY_MS, limit=1000)
    return first + MARKET.klines("BTCUSDT", "5m", NOW, start_ms=first[-1].open_time + length)


REFERENCE = _reference()


@settings(max_examples=40, deadline=None)
@given(
    start=st.none() | st.integers(NOW - 2 * DAY_MS, NOW + 600_000),
    end=st.none() | st.integers(NOW - 3 * DAY_MS // 2, NOW + 600_000),
    limit=st.integers(1, 1000),
)
def test_klines_match_a_brute_force_filter(start: int | None, end: int | None, limit: int) -> None:
    assert REFERENCE[-1].open_time == NOW // 300_000 * 300_000
    chosen = [
        k
        for k in REFERENCE
        if (start is None or k.open_time >= start) and (end is None or k.open_time <= end)
    ]
    expected = chosen[:limit] if start is not None else chosen[-limit:]
    assert MARKET.klines("BTCUSDT", "5m", NOW, start_ms=start, end_ms=end, limit=limit) == expected


def test_forming_states_grow_into_the_closed_bar() -> None:
    open_time = NOW // 3_600_000 * 3_600_000 - 3_600_000
    states = [
        MARKET.kline_at("LINKUSDT", "1h", open_time, open_time + t)
        for t in range(0, 3_600_001, 450_000)
    ]
    assert all(s is not None for s in states)
    volumes = [s.volume for s in states if s is not None]
    assert volumes == sorted(volumes)
    (closed,) = MARKET.closed_between("LINKUSDT", "1h", open_time, open_time + 3_600_000)
    assert states[-1] == closed
    assert MARKET.kline_at("LINKUSDT", "1h", open_time, open_time - 1) is None


def test_timeline_of_one_minute_bars() -> None:
    market = Market(SOURCE, ("1m",), forming_updates=3, ticker_interval_ms=60_000)
    t, events = NOW // 60_000 * 60_000, []
    for _ in range(5):
        event = market.next_event(t)
        events.append(event)
        t = event.at
    start = NOW // 60_000 * 60_000
    assert [e.at - start for e in events] == [15_000, 30_000, 45_000, 60_000, 75_000]
    assert [e.forming for e in events] == [("1m",), ("1m",), ("1m",), (), ("1m",)]
    assert events[3].closing == ("1m",)
    assert events[3].tickers


def test_closed_between_counts_every_close_once() -> None:
    closed = MARKET.closed_between("BTCUSDT", "5m", NOW, NOW + 3_600_000)
    assert len(closed) == 12
    assert closed[0].open_time + 300_000 > NOW
    assert closed[-1].close_time + 1 <= NOW + 3_600_000


def test_ticker_is_the_last_24_hours() -> None:
    ticker = MARKET.ticker("ETHUSDT", NOW)
    assert ticker is not None
    end = NOW // 60_000 * 60_000
    window = SOURCE.base_bars("ETHUSDT", end - DAY_MS, end)
    assert ticker.volume == int(window.data[:, VOLUME_COL].sum())
    assert ticker.open_time == end - DAY_MS
    assert ticker.close_time == end - 1
    assert ticker.last_id - ticker.first_id + 1 == ticker.count
    body = ticker.rest()
    assert float(body["priceChange"]) == pytest.approx(
        float(body["lastPrice"]) - float(body["openPrice"])
    )
