"""``vyx demo``: Vyx offline with zero configuration.

The simulated Binance-compatible exchange (a seeded synthetic market, fast-forwarded) runs in
the same process, and the real daemon screens it with the example traders: the same code
paths as production, a SQLite store in a temporary directory, and the dashboard on
localhost. ``--backtest`` instead backtests the example traders over the generated market and
prints a table.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from importlib import resources

import click
import trio

from kernels.backtest import run_backtest
from kernels.klines_csv import Klines
from kernels.program import build
from kernels.timeframes import DAY_MS, MINUTE_MS
from kernels.warmup import prepare_kernels
from vyx.app import DaemonOptions
from vyx.cli.backtest import print_summary, print_table
from vyx.cli.option_types import SPEED
from vyx.cli.run import serve
from vyx.config import NOTIFY_VARIABLES, Config, ConfigError, environment
from vyx.daemon.startup import exit_on_startup_error
from vyx.data_dir import private_files
from vyx.exchange import candles
from vyx.exchange.service import ExchangeConfig, run_exchange
from vyx.exchange.synthetic import DEFAULT_ORIGIN_MS, SyntheticSource
from vyx.logs import setup_logging
from vyx.notify.channels import describe
from vyx.traders import TraderInfo, TraderRejected
from vyx.traders_file import parse_traders


def _example_traders_text() -> str:
    return resources.files("vyx.examples").joinpath("traders.toml").read_text(encoding="utf-8")


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
            data[tf][info.symbol] = candles.aggregate(minutes, tf, base_ms=MINUTE_MS).to_klines()
    return data


@click.command("demo")
@click.option(
    "--symbols",
    default=12,
    show_default=True,
    type=click.IntRange(1, 200),
    help="Synthetic symbols.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the generated market.")
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=SPEED,
    help="Market minutes per real minute (60: a 5m candle closes every 5 s; at most 3600).",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Dashboard port (0: any free).",
)
@click.option("--backtest", is_flag=True, help="Backtest the examples instead and print a table.")
@click.option(
    "--days", default=7, show_default=True, type=click.IntRange(1, 90), help="--backtest: days."
)
@click.option(
    "--limit",
    default=15,
    show_default=True,
    type=click.IntRange(min=1),
    help="--backtest: signals shown.",
)
def demo_command(
    symbols: int, seed: int, speed: float, port: int, backtest: bool, days: int, limit: int
) -> None:
    """Run Vyx on a simulated exchange with the example traders (Ctrl-C stops it)."""
    try:  # the alert variables are the demo's only settings from the environment
        Config.from_env(environment(NOTIFY_VARIABLES))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    prepare_kernels()
    if backtest:
        _backtest(symbols, days, seed, limit)
        return
    with private_files(), tempfile.TemporaryDirectory(prefix="vyx-demo-") as data_dir:
        exit_on_startup_error(
            partial(trio.run, partial(_live, symbols, seed, speed, port, data_dir))
        )


async def _live(symbols: int, seed: int, speed: float, port: int, data_dir: str) -> None:
    entries = parse_traders(_example_traders_text(), "vyx/examples/traders.toml")

    async def load() -> tuple[list[TraderInfo], list[TraderRejected]]:
        return entries, []

    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=symbols, seed=seed, speed=speed, decoys=True)
        )
        # The demo's whole configuration: the same parser `vyx run` uses, no environment.
        cfg = Config.from_env(
            {
                "BINANCE_REST_URL": exchange.rest_url,
                "BINANCE_WS_URL": exchange.ws_url,
                "SYMBOL_COUNT": str(symbols),
                "VYX_DATA_DIR": data_dir,
                "PORT": str(port),
                "LOG_LEVEL": "INFO",
                **environment(NOTIFY_VARIABLES),  # NOTIFY_URLS='json://…' vyx demo
            }
        )
        setup_logging(cfg.log)
        channels = cfg.notify.channels
        click.echo(
            f"alerts: each signal to {describe(channels)} (NOTIFY_URLS)"
            if channels
            else "alerts: none (set NOTIFY_URLS, e.g. json://127.0.0.1:9000/hook, to get each "
            "signal there)",
            err=True,
        )
        click.echo(
            f"simulated exchange on {exchange.rest_url} ({speed:g}x), "
            f"{symbols} symbols; backfilling and starting the daemon ...",
            err=True,
        )
        opts = DaemonOptions(
            traders=load, persist_browser_edits=False, offline_analyst=True, port_setting="--port"
        )
        await serve(cfg, opts)
        nursery.cancel_scope.cancel()


def _backtest(symbols: int, days: int, seed: int, limit: int) -> None:
    """Backtest the example traders over a generated market and show what fired and why."""
    entries = parse_traders(_example_traders_text(), "vyx/examples/traders.toml")
    traders = [e.definition for e in entries]
    program, errors = build(e.executable for e in entries)  # compiled as the file was read
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
