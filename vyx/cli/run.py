"""``vyx run``: the daemon for real (live Binance; SQLite, or Supabase when configured)."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import attrs
import click
import trio

from kernels.warmup import prepare_kernels
from vyx.app import DaemonOptions, run_daemon
from vyx.config import Config, ConfigError, load_config
from vyx.daemon.heap import freeze_startup_heap
from vyx.daemon.intake import TraderSource
from vyx.daemon.startup import exit_on_startup_error
from vyx.data_dir import private_files
from vyx.logs import setup_logging
from vyx.server.service import ServerHandle
from vyx.traders import TraderInfo, TraderRejected
from vyx.traders_file import TradersFileError, load_traders


def file_source(path: Path, first: list[TraderInfo] | None = None) -> TraderSource:
    """Traders read from a traders file: ``first`` (the file as the command already read it,
    each filter compiled) on the first load, then read again on each ``config_update``."""
    pending = [first] if first is not None else []

    async def load() -> tuple[list[TraderInfo], list[TraderRejected]]:
        if pending:
            return pending.pop(), []
        entries = await trio.to_thread.run_sync(load_traders, path)
        return entries, []

    return load


def daemon_options(
    traders_file: Path | None, first: list[TraderInfo] | None = None
) -> DaemonOptions:
    """``vyx run``'s options: the traders of the store, or of ``traders_file`` (``first``: as
    already read), a browser's edits then written back to that file."""
    if traders_file is None:
        return DaemonOptions()
    return DaemonOptions(
        traders=file_source(traders_file, first),
        persist_browser_edits=False,
        traders_file=traders_file,
    )


def announce(server: ServerHandle) -> None:
    """Print where the dashboard is (printed, never logged: the embedded URL carries the local
    token); the page shows how the market's start-up goes until the daemon is ready."""
    click.echo(f"\n  Vyx is starting. Dashboard: {server.dashboard_url}\n", err=True)


#: The interpreter's GIL switch interval in the daemon's process (Python's default: 5 ms). A
#: worker thread running Python (the SQLite writer encoding a batch, a trader's compile) keeps
#: the event loop waiting for the GIL up to this long, several times over on a close's path.
SWITCH_INTERVAL_S = 0.001


async def serve(cfg: Config, opts: DaemonOptions) -> None:
    """Run the daemon; its dashboard's address is printed as soon as the server listens, and
    its start-up's heap is frozen once it is ready (the collector no longer walks it)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    await run_daemon(cfg, attrs.evolve(opts, announce=announce, ready=freeze_startup_heap))


@click.command("run")
@click.option(
    "--traders",
    "traders_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run the traders of this file (TOML) instead of the store's.",
)
def run_command(traders_file: Path | None) -> None:
    """Run the screener daemon (configuration from the environment, see README)."""
    try:
        cfg = load_config()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    first = None
    if traders_file is not None:
        try:
            first = load_traders(traders_file)
        except TradersFileError as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
    # On a machine (or a version) that never ran the kernels: compiled now, with progress, in
    # forked processes, so the daemon never holds numba's compiler.
    prepare_kernels()
    setup_logging(cfg.log)
    opts = daemon_options(traders_file, first)
    with private_files():
        exit_on_startup_error(partial(trio.run, partial(serve, cfg, opts)))
