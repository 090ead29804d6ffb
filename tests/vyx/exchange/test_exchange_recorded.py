"""The exchange against real Binance data: replayed klines, recorded REST bodies and frames."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vyx.exchange.candles import ExactKline
from vyx.exchange.market import Market
from vyx.exchange.replay import ReplaySource
from vyx.exchange.source import SourceError
from vyx.exchange.synthetic import SyntheticSource

KLINES = "binance/klines"


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))[1:]


def test_replayed_rest_rows_are_the_recorded_rows(shared_data: Path) -> None:
    path = shared_data / KLINES / "spot_1h" / "BTCUSDT-1h-2025-03.csv"
    market = Market(ReplaySource([path]), ("1h",))
    rows = csv_rows(path)
    last_open = int(rows[-1][0])
    served = market.klines("BTCUSDT", "1h", last_open + 3_600_000, limit=1000)
    assert len(served) == 744
    for got, want in zip(served, rows, strict=True):
        assert [str(v) for v in got.rest_row()] == want


def test_replay_agrees_with_binance_byte_for_byte(shared_data: Path, tmp_path: Path) -> None:
    raw = shared_data / KLINES / "rest_raw" / "BTCUSDT-5m-api_v3_klines_limit1000_2024-09-04.json"
    body = json.loads(raw.read_text())
    path = tmp_path / "BTCUSDT-5m-raw.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(body)
    market = Market(ReplaySource([path]), ("5m",))
    now = body[-1][6] + 1  # every recorded bar closed
    served = market.klines("BTCUSDT", "5m", now, limit=1000)
    assert json.dumps([k.rest_row() for k in served]) == json.dumps(body)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT"])
def test_replayed_5m_aggregates_to_the_recorded_15m(shared_data: Path, symbol: str) -> None:
    five = shared_data / KLINES / "spot_5m" / f"{symbol}-5m-2025-08-20_2025-09-19.csv"
    fifteen = shared_data / KLINES / "spot_15m" / f"{symbol}-15m-2025-08-18_2025-09-14.csv"
    market = Market(ReplaySource([five]), ("15m",))
    recorded = Market(ReplaySource([fifteen]), ("15m",))
    start, end = 1_755_648_000_000, 1_757_894_400_000  # the overlap, 2025-08-20 .. 09-15
    ours = market.closed_bars(symbol, "15m", start, end)
    theirs = recorded.closed_bars(symbol, "15m", start, end)
    assert len(ours) == len(theirs) == 2496
    columns = [0, 1, 2, 3, 4, 5, 7]  # open time, OHLC, volume, trades
    assert np.array_equal(ours.data[:, columns], theirs.data[:, columns])


def test_six_column_minutes_aggregate_to_the_recorded_hours(shared_data: Path) -> None:
    minutes = shared_data / KLINES / "spot_1m_ohlcv" / "ETHUSDT-1m-2025-03-02_2025-03-08.csv"
    hours = shared_data / KLINES / "spot_1h" / "ETHUSDT-1h-2025-03.csv"
    market = Market(ReplaySource([minutes]), ("1h",))
    start, end = 1_740_873_600_000, 1_741_478_400_000
    ours = market.closed_bars("ETHUSDT", "1h", start, end)
    theirs = Market(ReplaySource([hours]), ("1h",)).closed_bars("ETHUSDT", "1h", start, end)
    assert len(ours) == 168
    assert np.array_equal(ours.data[:, :6], theirs.data[:, :6])


def test_replay_refuses_holes_and_mixed_intervals(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / KLINES / "spot_1h" / "BTCUSDT-1h-2025-03.csv"
    lines = path.read_text().splitlines()
    holed = tmp_path / "BTCUSDT-1h-holed.csv"
    holed.write_text("\n".join(lines[:10] + lines[11:]))
    with pytest.raises(SourceError, match="contiguous"):
        ReplaySource([holed])
    five = shared_data / KLINES / "spot_5m" / "BTCUSDT-5m-2025-08-20_2025-09-19.csv"
    with pytest.raises(SourceError, match="one interval"):
        ReplaySource([path, five])


# -- frames compared with recordings ------------------------------------------------------------


def shape(value: Any) -> Any:
    """Keys in order and value types, recursively."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    return type(value).__name__


def test_kline_frames_have_the_recorded_structure(shared_data: Path) -> None:
    path = shared_data / "binance/ws/binance_kline_1m_combined_stream_messages_cryptofeed.jsonl"
    recorded = [json.loads(line) for line in path.read_text().splitlines()]
    spot = [r["msg"] for r in recorded if r["venue"] == "spot" and "@kline_" in r["msg"]["stream"]]
    source = SyntheticSource(2, decoys=False)
    market = Market(source, ("1m",))
    kline = market.kline_at("BTCUSDT", "1m", 1_700_000_040_000, 1_700_000_070_000)
    assert isinstance(kline, ExactKline)
    for closed in (False, True):
        ours = {
            "stream": "btcusdt@kline_1m",
            "data": kline.stream_payload("BTCUSDT", 1, closed=closed),
        }
        theirs = next(m for m in spot if m["data"]["k"]["x"] is closed)
        assert shape(ours) == shape(theirs)


def test_ticker_frames_have_the_recorded_structure(shared_data: Path) -> None:
    path = shared_data / "binance/ws/binance_24hrTicker_combined_stream_samples_tardis.json"
    spot = next(m["msg"] for m in json.loads(path.read_text())["messages"] if m["venue"] == "spot")
    market = Market(SyntheticSource(2, decoys=False), ("1m",))
    ticker = market.ticker("ETHUSDT", 1_700_000_000_000)
    assert ticker is not None
    ours = {"stream": "ethusdt@ticker", "data": ticker.stream_payload(1_700_000_000_000)}
    assert shape(ours) == shape(spot)


def test_exchange_info_has_the_recorded_structure(shared_data: Path) -> None:
    from vyx.exchange.rest import exchange_info

    recorded = json.loads(
        (shared_data / "binance/rest/exchangeInfo_spot_2021-10-12_USDT.json").read_text()
    )
    ours = exchange_info(SyntheticSource(3).symbols, 1, 6000)
    assert [k for k in recorded if not k.startswith("_")] == list(ours)
    btc = next(s for s in recorded["symbols"] if s["symbol"] == "BTCUSDT")
    assert list(ours["symbols"][0]) == list(btc)  # type: ignore[index]
    assert [f["filterType"] for f in ours["symbols"][0]["filters"]] == [  # type: ignore[index]
        f["filterType"] for f in btc["filters"]
    ]
