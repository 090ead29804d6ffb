"""``vyx backtest``: when each trader would have fired over klines files, and why."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence

import click

from kernels.backtest import Fire, Fires, run_backtest
from kernels.edges import MAX_COOLDOWN_BARS
from kernels.klines_csv import Klines
from kernels.precompile import is_cached
from kernels.program import CompiledTrader, TraderDef, build
from kernels.timeframes import timeframe_ms
from kernels.warmup import prepare_kernels
from vyx.cli.fire_text import bar_time, echo_clauses, fmt_value
from vyx.cli.klines_args import start_loading
from vyx.cli.option_types import klines_option, timeframe_option
from vyx.traders_file import TradersFileError, load_traders


def fire_to_dict(fire: Fire) -> dict[str, object]:
    """A fire as JSON-ready data."""
    return {
        "trader": fire.trader_id,
        "symbol": fire.symbol,
        "timeframe": fire.timeframe,
        "open_time": fire.open_time,
        "price": fire.price,
        "matched": list(fire.matched),
        "clauses": fire.clauses,
    }


def print_table(fires: Sequence[Fire], names: Mapping[str, str], limit: int | None) -> None:
    """A table of fires for people, with each clause's operand values."""
    shown = fires if limit is None else fires[-limit:]
    if limit is not None and len(fires) > limit:
        click.echo(f"... {len(fires) - limit} earlier signals not shown (--limit)")
    for f in shown:
        click.echo(
            f"{bar_time(f.open_time)}  {f.symbol:<12} {f.timeframe:<4} "
            f"{names.get(f.trader_id, f.trader_id)}  @ {fmt_value(f.price)}"
        )
        echo_clauses(f.clauses, "    ")


def print_summary(
    fires: Sequence[Fire], traders: Sequence[TraderDef], data: Mapping[str, Mapping[str, Klines]]
) -> None:
    """Signals per trader and symbol."""
    symbols = sorted({s for per_tf in data.values() for s in per_tf})
    bars = sum(len(k) for per_tf in data.values() for k in per_tf.values())
    click.echo(
        f"\n{len(fires)} signals from {len(traders)} traders over {len(symbols)} symbols "
        f"({bars} bars)"
    )
    width = max((len(t.name or t.id) for t in traders), default=6)
    header = f"{'trader':<{width}}  " + "  ".join(f"{s[:10]:>10}" for s in symbols) + "   total"
    click.echo(header)
    # One pass over the fires (a lazy Fires counts without building them).
    per_pair = (
        fires.counts()
        if isinstance(fires, Fires)
        else Counter((f.trader_id, f.symbol) for f in fires)
    )
    for t in traders:
        counts = [per_pair.get((t.id, s), 0) for s in symbols]
        row = "  ".join(f"{c:>10}" for c in counts)
        click.echo(f"{t.name or t.id:<{width}}  {row}   {sum(counts):>5}")


@click.command("backtest")
@click.option("--filter", "filter_src", default=None, help="One filter to test.")
@timeframe_option("Timeframe of --filter (default: the shortest given).", default=None)
@click.option(
    "--traders",
    "traders_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="A traders file (TOML, see README).",
)
@klines_option("Klines CSV; repeat for more symbols and timeframes.")
@click.option(
    "--cooldown",
    default=0,
    show_default=True,
    type=click.IntRange(0, MAX_COOLDOWN_BARS),
    help="Bars between two signals of one trader on one symbol, for traders without their "
    "own (a traders file's cooldown_bars).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines for programs.")
@click.option(
    "--outcomes",
    is_flag=True,
    help="Score each signal (returns at +1..+24 bars, MFE/MAE, target/stop) per trader.",
)
@click.option(
    "--html",
    "html_file",
    default=None,
    type=click.Path(dir_okay=False, writable=True),
    help="With --outcomes: write a self-contained HTML report to FILE.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Signals shown in the table (the newest).",
)
def backtest_command(
    filter_src: str | None,
    timeframe: str | None,
    traders_file: str | None,
    klines: tuple[str, ...],
    cooldown: int,
    as_json: bool,
    outcomes: bool,
    html_file: str | None,
    limit: int,
) -> None:
    """When each trader would have fired (edge-triggered), with its clause values; with
    --outcomes, how each signal did and each trader's record."""
    if (filter_src is None) == (traders_file is None):
        raise click.UsageError("give exactly one of --filter or --traders")
    if html_file is not None and not outcomes:
        raise click.UsageError("--html needs --outcomes")
    # With the kernels in the cache, the klines files are read on a thread of their own while
    # the traders and the kernels are loaded (the compiled reader lets go of the GIL); a first
    # run compiles in forked processes first (no thread may be running then). Either way
    # their errors come after the traders'.
    cached = is_cached()
    klines_loaded = start_loading(klines) if cached else None
    data: dict[str, dict[str, Klines]] | None = None
    runnable: list[TraderDef | CompiledTrader]
    if traders_file is not None:
        try:
            entries = [e for e in load_traders(traders_file) if e.enabled]
        except TradersFileError as exc:
            raise click.UsageError(str(exc)) from None
        traders = [e.definition for e in entries]
        runnable = [e.executable for e in entries]  # compiled as the file was read
    else:
        assert filter_src is not None
        if timeframe is None:  # the shortest given: the files are needed first
            data = (klines_loaded or start_loading(klines, background=False))()
            timeframe = min(data, key=timeframe_ms)
        traders = [TraderDef("filter", filter_src, timeframe, "filter")]
        runnable = list(traders)
    prepare_kernels(cached=cached)
    program, errors = build(runnable)
    if data is None:
        data = (klines_loaded or start_loading(klines, background=False))()
    for tid, error in errors.items():
        source = next(t.filter for t in traders if t.id == tid)
        click.echo(f"trader {tid}: does not compile:\n{error.format(source)}", err=True)
    if errors and not program.traders:
        sys.exit(2)
    missing = [tf for tf in program.timeframes if tf not in data]
    if missing:
        given = ", ".join(data) or "none"
        raise click.UsageError(f"the traders need klines for {', '.join(missing)} (given: {given})")
    total = sum(len(k) for tf in program.timeframes for k in data[tf].values())
    show = not as_json and sys.stderr.isatty()
    with click.progressbar(
        length=total, label="backtesting", file=sys.stderr, hidden=not show
    ) as bar:
        done = 0

        def progress(n: int, _total: int) -> None:
            nonlocal done
            bar.update(n - done)
            done = n

        fires = run_backtest(program, data, cooldown_bars=cooldown, progress=progress)
    ran = [t for t in traders if t.id in program.traders]
    if outcomes:
        _with_outcomes(fires, ran, data, as_json, limit, html_file)
    elif as_json:
        for f in fires:
            click.echo(json.dumps(fire_to_dict(f)))
    else:
        print_table(fires, {t.id: t.name for t in traders}, limit)
        print_summary(fires, ran, data)
    if errors:
        sys.exit(2)


def _with_outcomes(
    fires: Fires,
    traders: Sequence[TraderDef],
    data: Mapping[str, Mapping[str, Klines]],
    as_json: bool,
    limit: int,
    html_file: str | None,
) -> None:
    """The fires with their outcomes, and the per-trader records (table, JSON, HTML)."""
    # Imported here: a backtest without --outcomes does not load them.
    from kernels.fire_outcomes import fire_outcomes
    from vyx.cli.outcomes_html import finite, report_html
    from vyx.cli.outcomes_table import print_records, records_by_trader

    scored = fire_outcomes(fires, data, {t.id: t.direction for t in traders})
    keys = fires.keys()
    opened = keys.open_time.tolist()
    order = [t.id for t in traders]
    records = records_by_trader(keys.trader, opened, scored, order)
    names = {t.id: t.name for t in traders}
    if as_json:
        for f, o in zip(fires, scored, strict=True):
            click.echo(json.dumps({**fire_to_dict(f), "outcome": o.to_json()}))
        click.echo(
            json.dumps(
                {
                    "records": {
                        t: {"all": whole.to_json(), "recent": recent.to_json()}
                        for t, (whole, recent) in records.items()
                    }
                }
            )
        )
    else:
        print_table(fires, names, limit)
        print_summary(fires, traders, data)
        print_records(records, names)
    if html_file is not None:
        last: dict[str, list[float]] = {t: [] for t in order}
        trades: dict[str, list[float]] = {t: [] for t in order}
        for tid, o in zip(keys.trader, scored, strict=True):
            if o.complete:
                last[tid].extend(finite([o.returns[-1]]))
                trades[tid].extend(finite([o.trade_return]))
        page = report_html("vyx backtest: signal outcomes", records, names, last, trades)
        try:
            with open(html_file, "w", encoding="utf-8") as out:
                out.write(page)
        except OSError as exc:
            raise click.UsageError(f"cannot write {html_file}: {exc.strerror}") from None
        if not as_json:
            click.echo(f"report written to {html_file}")
