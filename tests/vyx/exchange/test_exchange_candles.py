"""Fixed-point candles: decimal strings, aggregation across timeframes, forming states."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.timeframes import timeframe_ms
from vyx.exchange.candles import (
    CLOSE_COL,
    HIGH_COL,
    LOW_COL,
    N_COLS,
    OPEN_COL,
    OPEN_TIME_COL,
    SUM_COLS,
    TRADES_COL,
    VOLUME_COL,
    Bars,
    ExactKline,
    aggregate,
    fmt_decimal,
    merge_rows,
    parse_decimal,
    partial_row,
)

MINUTE = 60_000


def random_bars(seed: int, n: int, start_ms: int, length_ms: int = MINUTE) -> Bars:
    """Valid contiguous bars (low <= open, close <= high) from a seed."""
    g = np.random.default_rng(seed)
    close = np.cumsum(g.integers(-50, 51, n)) * 1_000_000 + 10_000 * 100_000_000
    open_ = np.concatenate([[close[0]], close[:-1]])
    data = np.zeros((n, N_COLS), dtype=np.int64)
    data[:, OPEN_TIME_COL] = start_ms + np.arange(n) * length_ms
    data[:, OPEN_COL], data[:, CLOSE_COL] = open_, close
    data[:, HIGH_COL] = np.maximum(open_, close) + g.integers(0, 5, n) * 1_000_000
    data[:, LOW_COL] = np.minimum(open_, close) - g.integers(0, 5, n) * 1_000_000
    for col in SUM_COLS:
        data[:, col] = g.integers(1, 10**12, n)
    return Bars(data)


@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_decimal_strings_round_trip(units: int) -> None:
    text = fmt_decimal(units)
    assert len(text.split(".")[1]) == 8
    assert parse_decimal(text) == units


@pytest.mark.parametrize(
    ("text", "units"),
    [("79.075", 7_907_500_000), ("113176.0", 11_317_600_000_000), ("1e-05", 1000), ("0", 0)],
)
def test_parse_decimal_shortest_forms(text: str, units: int) -> None:
    assert parse_decimal(text) == units


def test_parse_decimal_refuses_more_than_eight_places() -> None:
    with pytest.raises(ValueError, match="8 decimal"):
        parse_decimal("0.123456789")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    offset=st.integers(0, 120),
    interval=st.sampled_from(["3m", "5m", "15m", "1h"]),
)
def test_aggregate_equals_a_merge_of_each_group(
    seed: int, n: int, offset: int, interval: str
) -> None:
    bars = random_bars(seed, n, 1_700_000_000_000 // 3_600_000 * 3_600_000 + offset * MINUTE)
    out = aggregate(bars, interval, base_ms=MINUTE)
    length = timeframe_ms(interval)
    for row in out.data:
        group = bars.between(int(row[OPEN_TIME_COL]), int(row[OPEN_TIME_COL]) + length)
        assert len(group) == length // MINUTE  # only complete groups
        assert np.array_equal(row, merge_rows(group.data))
    everything = aggregate(bars, interval, base_ms=MINUTE, complete_only=False)
    assert int(everything.data[:, VOLUME_COL].sum()) == int(bars.data[:, VOLUME_COL].sum())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(15, 500))
def test_aggregation_is_consistent_across_timeframes(seed: int, n: int) -> None:
    bars = random_bars(seed, n, 1_700_000_000_000 // 3_600_000 * 3_600_000)
    via_5m = aggregate(aggregate(bars, "5m", base_ms=MINUTE), "15m", base_ms=5 * MINUTE)
    direct = aggregate(bars, "15m", base_ms=MINUTE)
    assert np.array_equal(via_5m.data, direct.data)


def test_weekly_bars_open_on_monday() -> None:
    monday = 1_699_833_600_000  # 2023-11-13 00:00 UTC, a Monday
    bars = random_bars(1, 14, monday - 3 * 86_400_000, 86_400_000)
    (week,) = aggregate(bars, "1w", base_ms=86_400_000).klines("1w")
    assert week.open_time == monday
    assert week.close_time == monday + 7 * 86_400_000 - 1


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, MINUTE), min_size=1))
def test_partial_states_only_grow_and_end_in_the_bar(seed: int, cuts: list[int]) -> None:
    (row,) = random_bars(seed, 1, 0).data
    states = [partial_row(row, t, MINUTE) for t in sorted(cuts)]
    for before, after in itertools.pairwise(states):
        assert after[HIGH_COL] >= before[HIGH_COL]
        assert after[LOW_COL] <= before[LOW_COL]
        assert after[TRADES_COL] >= before[TRADES_COL]
    for state in states:
        assert row[LOW_COL] <= state[LOW_COL] <= state[CLOSE_COL] <= state[HIGH_COL]
        assert state[HIGH_COL] <= row[HIGH_COL]
        assert state[OPEN_COL] == row[OPEN_COL]
    assert np.array_equal(partial_row(row, MINUTE, MINUTE), row)


def test_kline_wire_forms() -> None:
    (row,) = random_bars(3, 1, 1_634_943_780_000).data
    kline = ExactKline.from_row("1m", row)
    rest = kline.rest_row()
    assert rest[0] == 1_634_943_780_000
    assert rest[6] == 1_634_943_839_999
    assert [type(v) for v in rest] == [int, str, str, str, str, str, int, str, int, str, str, str]
    payload = kline.stream_payload("BTCUSDT", 1, closed=True)
    assert payload["k"]["L"] - payload["k"]["f"] + 1 == payload["k"]["n"]
    empty = ExactKline.from_row("1m", np.where(np.arange(N_COLS) == TRADES_COL, 0, row))
    assert empty.stream_payload("BTCUSDT", 1, closed=False)["k"]["f"] == -1
