"""``vyx eval``: the value of any expression at every bar of a klines file."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import click

from kernels.backtest import evaluate
from kernels.lang import CompileError
from kernels.program import Program, TraderDef
from kernels.warmup import prepare_kernels
from vyx.cli.klines_args import load_klines_args
from vyx.cli.option_types import klines_option, timeframe_option


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@click.command("eval")
@click.argument("expr")
@klines_option(
    "Klines CSV (Binance 12-column or open_time,open,high,low,close,volume); repeat for "
    "more symbols or timeframes used by on()."
)
@timeframe_option("Timeframe EXPR runs on (default: the shortest given).", default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--tail", type=click.IntRange(min=1), default=None, help="Only the last N bars.")
def eval_command(
    expr: str, klines: tuple[str, ...], timeframe: str | None, as_json: bool, tail: int | None
) -> None:
    """Print EXPR (a number or a condition) at every bar; null while warming up."""
    prepare_kernels()
    data = load_klines_args(klines)
    from kernels.timeframes import timeframe_ms

    tf = timeframe or min(data, key=timeframe_ms)
    if tf not in data:
        raise click.BadParameter(f"no {tf} klines given", param_hint="--timeframe")
    program = Program()
    try:
        plan = program.add(TraderDef("expr", expr, tf), require_bool=False)
    except CompileError as exc:
        click.echo(exc.format(expr), err=True)
        sys.exit(2)
    try:
        values = evaluate(program, "expr", data)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    is_bool = plan.checked.expr.type == "bool"
    for symbol, (times, vals) in sorted(values.items()):
        rows = list(zip(times.tolist(), vals.tolist(), strict=True))
        if tail is not None:
            rows = rows[-tail:]
        for t, v in rows:
            value: object = None if v != v else (bool(v) if is_bool else v)
            if as_json:
                click.echo(json.dumps({"symbol": symbol, "open_time": t, "value": value}))
            else:
                shown = "null" if value is None else repr(value)
                click.echo(f"{symbol}  {_time(t)}  {shown}")
