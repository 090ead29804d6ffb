"""``vyx trader``: draft a trader from words, preview it, keep it in the traders file.

``new`` drafts (Gemini with ``GEMINI_API_KEY``, else the offline phrasebook), shows the filter,
what each clause checks and a preview over ``--klines`` files (or the demo's synthetic market),
and with ``--save`` appends it to the traders file; ``phrases`` lists what the offline
phrasebook reads. The group is assembled in :mod:`vyx.cli.trader_group`. Bad input exits 2
with every problem; an unreachable model exits 1.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import NoReturn, TypeVar

import click
import trio

from kernels.timeframes import DAY_MS, TIMEFRAME_MS, timeframe_ms
from vyx.authoring import Draft, Drafter, DraftResult, OfflineDrafter, open_gemini_drafter
from vyx.authoring.messages import preview_message, problems_text, result_message
from vyx.authoring.phrasebook import phrasings
from vyx.authoring.preview import PREVIEW_BARS, Bars, preview_bars
from vyx.authoring.traders_toml import (
    DEFAULT_TRADERS_FILE,
    NewTrader,
    add_traders,
)
from vyx.cli.klines_args import load_klines_args
from vyx.cli.option_types import timeframe_option
from vyx.cli.trader_render import echo_draft, echo_preview
from vyx.config import ConfigError, load_config
from vyx.traders_file import TradersFileError

T = TypeVar("T")

TRADERS_OPTION = click.option(
    "--traders",
    "traders_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_TRADERS_FILE,
    show_default=True,
    help="The traders file (TOML, see README).",
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(message, err=True)
    sys.exit(code)


async def with_drafter(offline: bool, work: Callable[[Drafter], Awaitable[T]]) -> T:
    """Run ``work(drafter)`` with Gemini when a key is configured (and not ``offline``)."""
    cfg = None
    if not offline:
        try:
            cfg = load_config().analyzer
        except ConfigError as exc:
            fail(str(exc))
    if cfg is None or not cfg.enabled:
        return await work(OfflineDrafter())
    async with open_gemini_drafter(cfg) as drafter:
        return await work(drafter)


async def _draft(words: str, timeframe: str, drafter: Drafter) -> DraftResult:
    return await drafter.draft(words, timeframe=timeframe)


def demo_days(draft: Draft) -> int:
    """Days of synthetic 1m history that give the preview its bars (2..60)."""
    span = max(
        (n + (PREVIEW_BARS if tf == draft.timeframe else 0)) * TIMEFRAME_MS[tf]
        for tf, n in draft.warmup.items()
    )
    return max(2, min(60, math.ceil(span / DAY_MS) + 1))


def preview_data(
    draft: Draft, loaded: Bars | None, files: int, symbols: int, seed: int
) -> tuple[Bars, str]:
    """The bars to preview on and where they come from: ``loaded`` (the bars of ``files``
    klines files), else the demo's synthetic market."""
    if loaded is not None:
        return loaded, f"{files} klines file(s)"
    from vyx.cli.demo import synthetic_klines  # the demo's market (slow import)

    days = demo_days(draft)
    data = synthetic_klines(symbols, days, list(draft.timeframes), seed)
    return data, f"the demo's synthetic market ({symbols} symbols, {days} days, seed {seed})"


@click.command("new")
@click.argument("words")
@timeframe_option(
    "Unless the words say another (default: the shortest --klines timeframe, else 5m).",
    default=None,
)
@click.option(
    "--klines",
    multiple=True,
    metavar="[TF=]FILE",
    help="Preview on these klines CSVs (default: the demo's synthetic market).",
)
@click.option("--symbols", default=12, show_default=True, help="Synthetic preview: symbols.")
@click.option("--seed", default=0, show_default=True, help="Synthetic preview: market seed.")
@click.option("--save", is_flag=True, help="Append the draft to the traders file.")
@click.option("--offline", is_flag=True, help="Use the offline phrasebook even with a key.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@TRADERS_OPTION
def new_command(
    words: str,
    timeframe: str | None,
    klines: tuple[str, ...],
    symbols: int,
    seed: int,
    save: bool,
    offline: bool,
    as_json: bool,
    traders_file: Path,
) -> None:
    """Draft a trader from WORDS ("RSI below 30 and on the 1h trend up"), explain, preview."""
    loaded = load_klines_args(klines) if klines else None  # a bad file: before any drafting
    if timeframe is None:
        timeframe = min(loaded, key=timeframe_ms) if loaded else "5m"
    result = trio.run(with_drafter, offline, partial(_draft, words, timeframe))
    if result.draft is None:
        if as_json:
            click.echo(json.dumps(result_message(result), indent=2))
        else:
            click.echo(f"could not draft a filter:\n{problems_text(result.problems)}", err=True)
        sys.exit(1 if result.unavailable else 2)
    draft = result.draft
    data, origin = preview_data(draft, loaded, len(klines), symbols, seed)
    preview = preview_bars(draft, data)
    saved = None
    if save:
        trader = NewTrader(draft.name, draft.filter, draft.timeframe, note=f"from: {words}")
        try:
            saved = add_traders(traders_file, [trader])[0]
        except TradersFileError as exc:
            fail(str(exc))
    if as_json:
        doc = result_message(result) | {"preview": preview_message(preview), "savedAs": saved}
        click.echo(json.dumps(doc, indent=2))
        return
    echo_draft(draft, len(result.rounds))
    echo_preview(preview, origin)
    if saved:
        click.echo(f"\nsaved as {saved!r} in {traders_file} (vyx run --traders {traders_file})")
    else:
        click.echo(f"\nnot saved: add --save to append it to {traders_file}")


@click.command("phrases")
def phrases_command() -> None:
    """What the offline drafter understands (each line drafts exactly that filter)."""
    for words, code, tf in phrasings():
        click.echo(f"{words:<52} → {code}" + (f"   (timeframe {tf})" if tf else ""))
