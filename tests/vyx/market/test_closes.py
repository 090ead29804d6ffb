"""Close announcements, stream sharding and the ticker table."""

from __future__ import annotations

import math

import pytest

from vyx.market.closes import BarClosed, CloseTracker
from vyx.market.frames import Ticker
from vyx.market.shards import MAX_STREAMS, ShardPlan, symbol_streams
from vyx.market.tickers import TickerTable


def test_close_is_announced_when_every_symbol_closed() -> None:
    tracker = CloseTracker(lambda tf: 2, grace_s=2.0)
    tracker.add("5m", 0, "A", now=0.0)
    assert tracker.due(0.0) == []
    assert tracker.next_deadline() == 2.0
    tracker.add("5m", 0, "B", now=0.5)
    assert tracker.next_deadline() == -math.inf
    assert tracker.due(0.5) == [BarClosed("5m", 0, ("A", "B"), complete=True)]
    assert tracker.next_deadline() == math.inf


def test_grace_then_late_stragglers_in_order() -> None:
    tracker = CloseTracker(lambda tf: 3, grace_s=2.0)
    tracker.add("1m", 0, "A", now=0.0)
    tracker.add("1m", 60, "A", now=1.0)
    tracker.add("1m", 60, "B", now=1.0)
    assert tracker.due(2.0) == [BarClosed("1m", 0, ("A",), complete=False)]
    tracker.add("1m", 0, "B", now=2.5)  # a repaired, late bar
    tracker.add("1m", 60, "C", now=2.6)
    events = tracker.due(2.6)
    assert events == [
        BarClosed("1m", 0, ("B",), complete=False, late=True),
        BarClosed("1m", 60, ("A", "B", "C"), complete=True),
    ]


def test_a_bar_others_had_from_their_backfill_is_a_straggler() -> None:
    tracker = CloseTracker(lambda tf: 3, grace_s=2.0)
    tracker.loaded("1h", 3600)  # A and B's backfills brought the bar opening at 3600
    tracker.add("1h", 3600, "C", now=5.0)  # C's, repaired: announced at once, not after 2 s
    assert tracker.due(5.0) == [BarClosed("1h", 3600, ("C",), complete=False, late=True)]
    tracker.add("1h", 7200, "A", now=6.0)  # the next close waits for every symbol as before
    assert tracker.due(6.0) == []
    assert tracker.next_deadline() == 8.0
    tracker.loaded("1h", 7200)  # a joining symbol's backfill brought it: still one bucket
    tracker.add("1h", 7200, "B", now=6.5)
    tracker.add("1h", 7200, "C", now=6.5)
    assert tracker.due(6.5) == [BarClosed("1h", 7200, ("A", "B", "C"), complete=True)]


def test_completing_a_newer_bar_flushes_older_ones_first() -> None:
    tracker = CloseTracker(lambda tf: 1, grace_s=5.0)
    tracker.add("1m", 0, "A", now=0.0)  # complete at once
    tracker.add("1h", 0, "A", now=0.0)
    assert [e.timeframe for e in tracker.due(0.0)] == ["1m", "1h"]


def test_shards_respect_the_stream_limit_and_stay_stable() -> None:
    plan = ShardPlan(("1m", "5m", "1h"))
    symbols = [f"S{i:04d}USDT" for i in range(600)]
    assert plan.add(symbols) == {0, 1, 2}
    assert all(len(plan.streams(i)) <= MAX_STREAMS for i in range(len(plan)))
    assert len(plan.streams(0)) == 256 * 4
    before = [plan.symbols(i) for i in range(3)]
    assert plan.remove(["S0001USDT", "S0599USDT"]) == {0, 2}
    assert plan.add(["NEWUSDT"]) == {0}
    assert plan.symbols(1) == before[1]
    assert plan.streams(0)[-4:] == symbol_streams("NEWUSDT", ("1m", "5m", "1h"))
    assert symbol_streams("BTCUSDT", ("5m",)) == ["btcusdt@kline_5m", "btcusdt@ticker"]
    with pytest.raises(ValueError):
        ShardPlan(tuple(str(i) for i in range(1024)))


def test_ticker_table_keeps_the_newest() -> None:
    table = TickerTable()
    table.update(Ticker("A", 2.0, 1.0, 10.0, event_time=5))
    table.update(Ticker("A", 1.0, 1.0, 10.0, event_time=4))
    table.update(Ticker("B", 3.0, -2.0, 30.0, event_time=1))
    row = table.get("A")
    assert row is not None
    assert row.last_price == 2.0
    price, change, volume = table.arrays(["B", None, "A", "Z"])
    assert price.tolist()[0] == 3.0
    assert price.tolist()[2] == 2.0
    assert math.isnan(price[1])
    assert math.isnan(volume[3])
    assert change[0] == -2.0
    table.remove(["A"])
    assert len(table) == 1
