"""How ``vyx trader`` prints a draft and its preview for people."""

from __future__ import annotations

import click

from vyx.authoring import Draft, Preview
from vyx.cli.fire_text import bar_time, echo_clauses, fmt_value


def echo_draft(draft: Draft, rounds: int) -> None:
    """Name, timeframe, the filter, what each clause checks, the warm-up."""
    how = "offline phrasebook" if draft.origin == "offline" else draft.origin
    if rounds > 1:
        how += f", {rounds} rounds with the compiler"
    click.echo(f"name:      {draft.name}\ntimeframe: {draft.timeframe}   (drafted by {how})")
    click.echo("filter:\n" + "\n".join(f"  {line}" for line in draft.filter.splitlines()))
    click.echo("clauses:")
    for i, clause in enumerate(draft.clauses, 1):
        click.echo(f"  {i}. {clause.label}")
        click.echo(f"     {clause.explanation or '(no explanation given)'}")
    warm = ", ".join(f"{n} bars of {tf}" for tf, n in draft.warmup.items())
    click.echo(f"warm-up:   {warm}")


def echo_preview(preview: Preview, origin: str) -> None:
    """Fires, per symbol, warm-up state and the last signals with their clause values."""
    bars = ", ".join(f"{n} bars of {tf}" for tf, n in preview.bars.items())
    click.echo(f"\npreview on {origin}: {preview.symbols} symbols, up to {bars}")
    if preview.missing:
        click.echo(f"  cannot preview: no bars of {', '.join(preview.missing)}")
        return
    fired_on = ", ".join(f"{s} {n}" for s, n in list(preview.per_symbol.items())[:8])
    more = " ..." if len(preview.per_symbol) > 8 else ""
    click.echo(
        f"  would have fired {preview.fires} times on {len(preview.per_symbol)} symbols"
        + (f": {fired_on}{more}" if fired_on else "")
    )
    if preview.warming_up:
        need = ", ".join(f"{n} bars of {tf}" for tf, n in preview.warmup.items())
        names = ", ".join(preview.warming_up[:6]) + (" ..." if len(preview.warming_up) > 6 else "")
        click.echo(f"  still warming up ({need} needed): {names}")
    if preview.last:
        click.echo(f"  last {len(preview.last)} signals:")
    for signal in preview.last:
        when, price = bar_time(signal.open_time), fmt_value(signal.price)
        click.echo(f"  {when}  {signal.symbol:<12} @ {price}")
        echo_clauses(signal.clauses, "      ")
