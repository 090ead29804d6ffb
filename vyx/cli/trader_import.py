"""``vyx trader import`` / ``vyx traders import``: the original product's traders, redrafted.

Reads an export of the original ``traders`` table (a JSON array of rows, as PostgREST or the
Supabase dashboard gives it), drafts a Vyx filter for each row from its description (and, with
Gemini, its code), prints what came out and, with ``--out``, writes the proposals to a traders
file — disabled: nothing imported runs until you switch it on (``vyx trader edit ID --enable``).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import click
import trio

from kernels.timeframes import TIMEFRAME_MS
from vyx.authoring.draft import Drafter
from vyx.authoring.legacy import (
    MAX_IMPORT_BYTES,
    Conversion,
    ImportFileError,
    LegacyTrader,
    convert,
    read_rows,
)
from vyx.authoring.messages import result_message
from vyx.authoring.traders_toml import NewTrader, add_traders
from vyx.cli.trader import fail, with_drafter
from vyx.traders_file import TradersFileError


def _proposal(c: Conversion) -> NewTrader:
    assert c.result.draft is not None
    words = c.legacy.words or "(no description)"
    return NewTrader(
        name=c.legacy.name or c.result.draft.name,
        filter=c.result.draft.filter,
        timeframe=c.result.draft.timeframe,
        enabled=False,
        auto_analyze=c.legacy.auto_analyze,
        instructions=c.legacy.instructions,
        note=f"imported from original trader {c.legacy.id}: {words}"[:300],
    )


def _read(path: Path) -> tuple[list[LegacyTrader], list[tuple[str, str]]]:
    try:
        if path.stat().st_size > MAX_IMPORT_BYTES:
            fail(f"{path}: larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
        found, unreadable = read_rows(path.read_bytes())
    except OSError as exc:
        fail(f"{path}: {exc.strerror}")
    except ImportFileError as exc:
        fail(f"{path}: {exc}")
    return found, [(u.ref, u.reason) for u in unreadable]


@click.command("import")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the proposals (disabled) to this traders file.",
)
@click.option(
    "--allow",
    "allowed",
    multiple=True,
    type=click.Choice(list(TIMEFRAME_MS)),
    help="Timeframes the drafts may use (repeat; default: any).",
)
@click.option("--offline", is_flag=True, help="Use the offline phrasebook even with a key.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def import_command(
    export: Path, out: Path | None, allowed: tuple[str, ...], offline: bool, as_json: bool
) -> None:
    """Propose Vyx traders for the original product's EXPORT (JSON rows of `traders`)."""
    legacy, unreadable = _read(export)
    work = partial(_convert, legacy, allowed or None)
    conversions = trio.run(with_drafter, offline, work)
    done = [c for c in conversions if c.result.draft is not None]
    failed = [
        (c.legacy.name, c.legacy.id, str(c.result.problems[0]))
        for c in conversions
        if c.result.draft is None
    ]
    saved: list[str] = []
    if out is not None and done:
        try:
            saved = add_traders(out, [_proposal(c) for c in done])
        except TradersFileError as exc:
            fail(str(exc))
    if as_json:
        rows = [
            {"id": c.legacy.id, "name": c.legacy.name} | result_message(c.result)
            for c in conversions
        ]
        rows += [
            {"id": ref, "ok": False, "problems": [{"message": why}]} for ref, why in unreadable
        ]
        click.echo(json.dumps({"traders": rows, "savedAs": saved}, indent=2))
        return
    for c in done:
        assert c.result.draft is not None
        click.echo(f"✓ {c.legacy.name} ({c.legacy.id}), {c.result.draft.timeframe}:")
        click.echo("\n".join(f"    {line}" for line in c.result.draft.filter.splitlines()))
    for name, ref, why in failed:
        click.echo(f"✗ {name} ({ref}): {why}")
    for ref, why in unreadable:
        click.echo(f"✗ {ref}: {why}")
    total = len(conversions) + len(unreadable)
    click.echo(f"\n{len(done)} of {total} traders converted")
    if saved:
        click.echo(f"written to {out}, disabled: review them, then vyx trader edit ID --enable")
    elif done:
        click.echo("not written: add --out FILE to keep the proposals")


async def _convert(
    legacy: list[LegacyTrader], allowed: tuple[str, ...] | None, drafter: Drafter
) -> list[Conversion]:
    return await convert(legacy, drafter, allowed_timeframes=allowed)
