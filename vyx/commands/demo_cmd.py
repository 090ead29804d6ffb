"""``vyx demo``: Vyx offline with zero configuration.

For now: the example traders backtested over a generated market (the same seeded synthetic
market the simulated exchange serves), printed as a table.
"""

from __future__ import annotations

import time
from importlib import resources

import click
import numpy as np

from kernels.backtest import run_backtest
from kernels.klines_csv import Klines
from kernels.ops import N_BAR_FIELDS, OPEN_TIME
from kernels.program import build
from kernels.timeframes import DAY_MS, MINUTE_MS
from vyx.commands.backtest_cmd import print_summary, print_table
from vyx.market.exchange import candles
from vyx.market.exchange.synthetic import DEFAULT_ORIGIN_MS, SyntheticSource
from vyx.traders_file import parse_traders


def synthetic_klines(
    n_symbols: int, days: int, timeframes: list[str], seed: int = 0
) -> dict[str, dict[str, Klines]]:
    """Klines of the seeded synthetic market, per timeframe and symbol."""
    source = SyntheticSource(n_symbols, seed=seed, decoys=False)
    end = DEFAULT_ORIGIN_MS + days * DAY_MS
    data: dict[str, dict[str, Klines]] = {tf: {} for tf in timeframes}
    for info in source.symbols:
        minutes = source.base_bars(info.symbol, DEFAULT_ORIGIN_MS, end)
        for tf in timeframes:
            rows = candles.aggregate(minutes, tf, base_ms=MINUTE_MS).data
            bars = np.empty((len(rows), N_BAR_FIELDS))
            cols = (
                candles.OPEN_COL,
                candles.HIGH_COL,
                candles.LOW_COL,
                candles.CLOSE_COL,
                candles.VOLUME_COL,
                candles.QUOTE_VOLUME_COL,
            )
            for i, col in enumerate(cols):
                bars[:, i] = rows[:, col] / candles.SCALE
            bars[:, 6] = rows[:, candles.TRADES_COL]
            bars[:, 7] = rows[:, candles.TAKER_BASE_COL] / candles.SCALE
            bars[:, OPEN_TIME] = rows[:, candles.OPEN_TIME_COL]
            data[tf][info.symbol] = Klines(rows[:, candles.OPEN_TIME_COL].copy(), bars)
    return data


@click.command("demo")
@click.option("--symbols", default=12, show_default=True, help="Synthetic symbols.")
@click.option("--days", default=7, show_default=True, help="Days of generated history.")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated market.")
@click.option("--limit", default=15, show_default=True, help="Signals shown in detail.")
def demo_command(symbols: int, days: int, seed: int, limit: int) -> None:
    """Backtest the example traders over a generated market and show what fired and why."""
    text = resources.files("vyx.examples").joinpath("traders.toml").read_text(encoding="utf-8")
    traders = [e.definition for e in parse_traders(text, "vyx/examples/traders.toml")]
    program, errors = build(traders)
    if errors:  # the shipped examples always compile; this guards the package itself
        raise click.ClickException(f"example traders do not compile: {sorted(errors)}")
    started = time.perf_counter()
    click.echo(f"generating {days} days of 1m candles for {symbols} symbols (seed {seed}) ...")
    data = synthetic_klines(symbols, days, list(program.timeframes), seed)
    click.echo(f"screening {len(traders)} example traders on {', '.join(program.timeframes)} ...")
    fires = run_backtest(program, data)
    print_table(fires, {t.id: t.name for t in traders}, limit)
    print_summary(fires, traders, data)
    click.echo(
        f"\ndone in {time.perf_counter() - started:.1f}s — try: vyx filter check "
        "'rsi(14) < 30 and close > ema(close, 200)'"
    )
