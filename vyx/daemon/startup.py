"""What keeps the daemon from starting, said to the operator in one line (exit status 2).

The errors themselves (:class:`~vyx.data_dir.StartupError`) and the data directory's checks
live in :mod:`vyx.data_dir`, below the daemon, so that operator tooling (``vyx doctor``) can use
them without the daemon; their users import them from there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from errno import EACCES, EADDRINUSE, EADDRNOTAVAIL

import click

from vyx.data_dir import StartupError
from vyx.server.service import ListenError


def listen_error(exc: ListenError, port_setting: str) -> StartupError:
    """The operator's error for an address the server cannot bind, with what to change
    (``port_setting``: what chose the port, e.g. ``PORT``)."""
    hint = {
        EADDRINUSE: f"; set {port_setting} to a free port",
        EACCES: f"; set {port_setting} to a port above 1023",
        EADDRNOTAVAIL: "; set HOST to an address of this machine",
    }.get(exc.errno or 0, "")
    return StartupError(f"{exc}{hint}")


def _startup_errors(exc: BaseException) -> Iterator[StartupError]:
    if isinstance(exc, StartupError):
        yield exc
    elif isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _startup_errors(inner)


def exit_on_startup_error(run: Callable[[], None]) -> None:
    """Call ``run``; a :class:`StartupError` (even inside exception groups) is printed as one
    line and exits with status 2."""
    try:
        run()
    except BaseException as exc:
        found = next(_startup_errors(exc), None)
        if found is None:
            raise
        click.echo(f"vyx: {found}", err=True)
        sys.exit(2)
