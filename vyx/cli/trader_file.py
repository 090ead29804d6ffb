"""``vyx trader list|show|edit|remove``: the traders file, read and edited in place."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from kernels.edges import MAX_COOLDOWN_BARS
from kernels.timeframes import TIMEFRAME_MS
from kernels.track_record import RECENT_MS, track_record
from vyx.authoring.draft import Draft, Proposal, check_proposal
from vyx.authoring.messages import problems_text
from vyx.authoring.traders_toml import remove_trader, update_trader
from vyx.cli.outcomes_table import print_records
from vyx.cli.trader import TRADERS_OPTION, fail
from vyx.cli.trader_render import echo_draft
from vyx.config import ConfigError, load_config
from vyx.outcomes.live import outcome_from_row
from vyx.outcomes.records import RECORD_SIZE
from vyx.store.sqlite import SqliteDatabase
from vyx.traders import TraderInfo
from vyx.traders_file import TradersFileError, load_traders


def _load(path: Path) -> list[TraderInfo]:
    try:
        return load_traders(path)
    except TradersFileError as exc:
        fail(str(exc))


@click.command("list")
@TRADERS_OPTION
def list_command(traders_file: Path) -> None:
    """The traders of the file: id, timeframe, enabled, whether the filter compiles."""
    entries = _load(traders_file)
    width = max((len(e.definition.id) for e in entries), default=2)
    for e in entries:
        d = e.definition
        checked = check_proposal(Proposal(d.name or d.id, d.timeframe, d.filter))
        state = "ok" if isinstance(checked, Draft) else f"{len(checked)} error(s)"
        flag = "on " if e.enabled else "off"
        click.echo(f"{d.id:<{width}}  {d.timeframe:>4}  {flag}  {state:<11} {d.name}")
    if not entries:
        click.echo(f"no traders in {traders_file}")


@click.command("show")
@click.argument("trader_id")
@TRADERS_OPTION
def show_command(trader_id: str, traders_file: Path) -> None:
    """One trader: its filter, clauses and warm-up, or its compile errors (exit 2)."""
    entry = next((e for e in _load(traders_file) if e.definition.id == trader_id), None)
    if entry is None:
        fail(f"no trader {trader_id!r} in {traders_file}")
    d = entry.definition
    click.echo(f"id:        {d.id}\nenabled:   {'yes' if entry.enabled else 'no'}")
    if entry.instructions:
        click.echo(f"notes:     {entry.instructions}")
    click.echo(f"direction: {d.direction}")
    own = "the machine's (SIGNAL_COOLDOWN_BARS)" if d.cooldown is None else f"{d.cooldown} bars"
    click.echo(f"cooldown:  {own}")
    checked = check_proposal(Proposal(d.name or d.id, d.timeframe, d.filter))
    if isinstance(checked, Draft):
        echo_draft(checked, 0)
    else:
        fail(f"{d.name}: does not compile:\n{problems_text(checked)}")
    echo_record(d.id, d.name)


def echo_record(trader_id: str, name: str) -> None:
    """The trader's record from the local database (``vyx run``'s, ``$VYX_DATA_DIR``): how
    its complete signals did, or where it would be."""
    try:
        cfg = load_config()
    except ConfigError:
        return
    path = cfg.store.database_path
    if not path.exists():
        click.echo(f"\nrecord:    no signal scored yet ({path} does not exist)")
        return
    db = SqliteDatabase.open(path)
    try:
        rows = db.outcomes(
            cfg.machine.user_id, complete=True, limit=RECORD_SIZE, trader_id=trader_id
        )
    finally:
        db.close()
    since = int(time.time() * 1000) - RECENT_MS
    outcomes = [(int(r["bar_open_time"]), outcome_from_row(r)) for r in rows]
    whole = track_record(o for _, o in outcomes)
    recent = track_record(o for at, o in outcomes if at >= since)
    click.echo(f"\nrecord of its newest {len(rows)} complete signals ({path}):")
    print_records({trader_id: (whole, recent)}, {trader_id: name})


@click.command("edit")
@click.argument("trader_id")
@click.option("--name", default=None, help="A new name.")
@click.option("--filter", "filter_text", default=None, help="A new filter ('-': stdin).")
@click.option("--timeframe", "-t", default=None, type=click.Choice(list(TIMEFRAME_MS)))
@click.option("--enable/--disable", "enabled", default=None, help="Switch it on or off.")
@click.option("--auto-analyze/--no-auto-analyze", "auto", default=None)
@click.option("--instructions", default=None, help="Strategy text for the analyst.")
@click.option(
    "--cooldown",
    type=click.IntRange(0, MAX_COOLDOWN_BARS),
    default=None,
    help="Its own cooldown: bars between two of its signals on a symbol (cooldown_bars).",
)
@click.option(
    "--machine-cooldown", is_flag=True, help="Drop its own cooldown: SIGNAL_COOLDOWN_BARS applies."
)
@TRADERS_OPTION
def edit_command(
    trader_id: str,
    name: str | None,
    filter_text: str | None,
    timeframe: str | None,
    enabled: bool | None,
    auto: bool | None,
    instructions: str | None,
    cooldown: int | None,
    machine_cooldown: bool,
    traders_file: Path,
) -> None:
    """Change a trader of the file; a new filter or timeframe must compile first."""
    if cooldown is not None and machine_cooldown:
        fail("give --cooldown or --machine-cooldown, not both")
    entry = next((e for e in _load(traders_file) if e.definition.id == trader_id), None)
    if entry is None:
        fail(f"no trader {trader_id!r} in {traders_file}")
    if filter_text == "-":
        filter_text = sys.stdin.read()
    given = {
        "name": name,
        "filter": filter_text,
        "timeframe": timeframe,
        "enabled": enabled,
        "auto_analyze": auto,
        "instructions": instructions,
        "cooldown_bars": cooldown,
    }
    changes: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    if machine_cooldown:
        changes["cooldown_bars"] = None  # the key is removed
    if not changes:
        fail("nothing to change: give --name, --filter, --timeframe, --cooldown, ...")
    d = entry.definition
    checked = check_proposal(
        Proposal(name or d.name or d.id, timeframe or d.timeframe, filter_text or d.filter)
    )
    if not isinstance(checked, Draft):
        fail(f"not changed: the filter does not compile:\n{problems_text(checked)}")
    if filter_text is not None:
        changes["filter"] = checked.filter
    try:
        update_trader(traders_file, trader_id, changes)
    except TradersFileError as exc:
        fail(str(exc))
    click.echo(f"{trader_id}: changed {', '.join(changes)}")


@click.command("remove")
@click.argument("trader_id")
@TRADERS_OPTION
def remove_command(trader_id: str, traders_file: Path) -> None:
    """Remove a trader from the file."""
    try:
        remove_trader(traders_file, trader_id)
    except TradersFileError as exc:
        fail(str(exc))
    click.echo(f"removed {trader_id} from {traders_file}")
