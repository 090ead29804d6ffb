"""``vyx exchange``: options, the banner with the URLs, clean errors."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from vyx.cli import cli


def test_exchange_prints_the_urls_and_stops_cleanly() -> None:
    result = CliRunner().invoke(
        cli,
        [
            "exchange",
            "--port",
            "0",
            "--symbols",
            "5",
            "--start",
            "2024-01-01T00:00",
            "--run-for",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    match = re.search(
        r"BINANCE_REST_URL=http://127\.0\.0\.1:(\d+) BINANCE_WS_URL=ws://127\.0\.0\.1:(\d+)",
        result.output,
    )
    assert match is not None
    assert match.group(1) == match.group(2) != "0"
    assert "2024-01-01 00:00 UTC" in result.output
    assert "13 symbols" in result.output  # 5 pairs + 8 decoys


def test_exchange_replays_files(shared_data: Path) -> None:
    files = sorted((shared_data / "binance/klines/spot_15m").glob("*.csv"))[:2]
    args = ["exchange", "--port", "0", "--timeframes", "15m,1h", "--run-for", "0"]
    for path in files:
        args += ["--klines", str(path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2 symbols (replay), 15m base candles" in result.output
    assert "kline streams: 15m, 1h" in result.output


def test_exchange_refuses_bad_options(shared_data: Path) -> None:
    runner = CliRunner()
    bad_tf = runner.invoke(cli, ["exchange", "--timeframes", "7m", "--run-for", "0"])
    assert bad_tf.exit_code == 2
    assert "unknown 7m" in bad_tf.output
    hourly = shared_data / "binance/klines/spot_1h/BTCUSDT-1h-2025-03.csv"
    finer = runner.invoke(
        cli, ["exchange", "--klines", str(hourly), "--timeframes", "5m", "--run-for", "0"]
    )
    assert finer.exit_code == 1
    assert "not a multiple" in finer.output
