"""``vyx exchange``: the simulated Binance exchange on its own, until Ctrl-C."""

from __future__ import annotations

import datetime as dt
import signal
from collections.abc import Iterator
from pathlib import Path

import attrs
import click
import trio

from kernels.timeframes import TIMEFRAME_MS
from vyx.cli.option_types import MAX_SPEED, SPEED
from vyx.exchange.market import Market
from vyx.exchange.service import ExchangeConfig, ExchangeHandle, build_source, run_exchange
from vyx.exchange.source import SourceError


def _timeframes(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if not value:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in TIMEFRAME_MS]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}; valid: {', '.join(TIMEFRAME_MS)}")
    return names


def _start(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected epoch ms or an ISO date-time (UTC)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def describe(handle: ExchangeHandle, cfg: ExchangeConfig) -> str:
    """The banner: what is served, and the environment to point a client at it."""
    market = handle.market
    start = dt.datetime.fromtimestamp(handle.clock.start_ms / 1000, dt.UTC)
    kind = "replay" if cfg.klines_files else f"synthetic, seed {cfg.seed}"
    streams = ", ".join(market.timeframes)
    return "\n".join(
        [
            f"Simulated Binance exchange: {len(market.symbols)} symbols ({kind}), "
            f"{market.base_interval} base candles",
            f"market time starts {start:%Y-%m-%d %H:%M} UTC, x{cfg.speed:g} "
            f"({3600 / cfg.speed:g} s per market hour); kline streams: {streams}",
            f"REST {handle.rest_url}/api/v3/...   streams {handle.ws_url}/stream?streams=...",
            "",
            f"BINANCE_REST_URL={handle.rest_url} BINANCE_WS_URL={handle.ws_url}",
        ]
    )


async def _serve(cfg: ExchangeConfig, run_for: float | None) -> None:
    async with trio.open_nursery() as nursery:
        handle: ExchangeHandle = await nursery.start(run_exchange, cfg)
        click.echo(describe(handle, cfg))
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            with trio.move_on_after(float("inf") if run_for is None else run_for):
                async for _ in signals:
                    break
        click.echo("exchange stopped", err=True)
        nursery.cancel_scope.cancel()


@click.command("exchange")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8900, show_default=True, type=int, help="Port (0: any free).")
@click.option(
    "--symbols",
    "n_symbols",
    default=30,
    show_default=True,
    type=int,
    help="Synthetic pairs (plus decoy stablecoin/leveraged/non-trading pairs).",
)
@click.option(
    "--klines",
    "klines_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replay these klines CSV files instead (repeat the option).",
)
@click.option(
    "--speed",
    default=60.0,
    show_default=True,
    type=SPEED,
    help=f"Market seconds per real second (at most {MAX_SPEED:g}).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Synthetic market seed.")
@click.option(
    "--timeframes",
    callback=_timeframes,
    help="Kline streams, comma-separated (default: every one the data allows).",
)
@click.option(
    "--start",
    "start_ms",
    callback=_start,
    help="Market start (epoch ms or ISO UTC); default now, or mid-replay.",
)
@click.option(
    "--forming-updates",
    default=3,
    show_default=True,
    type=int,
    help="Forming kline updates per bar before the closed one.",
)
@click.option(
    "--weight-limit",
    default=6000,
    show_default=True,
    type=int,
    help="REST weight per minute per IP before 429.",
)
@click.option("--run-for", type=float, hidden=True, help="Stop after this many seconds.")
def exchange_command(
    host: str,
    port: int,
    n_symbols: int,
    klines_files: tuple[Path, ...],
    speed: float,
    seed: int,
    timeframes: tuple[str, ...] | None,
    start_ms: int | None,
    forming_updates: int,
    weight_limit: int,
    run_for: float | None,
) -> None:
    """Run a simulated Binance-compatible exchange (REST + combined streams) until Ctrl-C."""
    cfg = ExchangeConfig(
        host=host,
        port=port,
        symbols=n_symbols,
        klines_files=klines_files,
        speed=speed,
        seed=seed,
        timeframes=timeframes,
        start_ms=start_ms,
        forming_updates=forming_updates,
        weight_limit=weight_limit,
    )
    try:
        # Read the candles before starting, so a bad file is a plain error message.
        source = build_source(cfg)
        Market(source, timeframes or ())
    except (SourceError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    try:
        trio.run(_serve, attrs.evolve(cfg, source=source), run_for)
    except BaseExceptionGroup as group:
        bind_errors = group.subgroup(OSError)
        if bind_errors is None:
            raise
        first = next(_leaves(bind_errors))
        raise click.ClickException(f"cannot listen on {host}:{port}: {first}") from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error
