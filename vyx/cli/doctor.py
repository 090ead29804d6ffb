"""``vyx doctor``: check this place for running the daemon, one line per check."""

from __future__ import annotations

import os
import sys

import click
import trio

from vyx.fleet.doctor import run_checks


@click.command("doctor")
def doctor_command() -> None:
    """Check the configuration, the data directory, the region and whether Binance (REST and
    streams), Supabase, Gemini and the Fly API answer from here; one line each.

    Exit status 0 when nothing failed (warnings and skipped checks allowed), 1 otherwise. Run it
    on a machine with `fly ssh console -C "vyx doctor"`."""
    verdicts = trio.run(run_checks, dict(os.environ))
    for verdict in verdicts:
        click.echo(verdict.line())
    failed = [v.name for v in verdicts if v.level == "fail"]
    if failed:
        click.echo(f"\n{len(failed)} check(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)
