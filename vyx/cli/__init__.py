"""The ``vyx`` command line: one click group, each command in the module that owns it.

``vyx --help`` imports no command module (numba, the kernels, trio and the cloud clients are
seconds of imports): each command's one-line help is written in :data:`_LazyGroup.lazy` next to
where its module is, and a test checks it against the command's own docstring.
"""

from __future__ import annotations

import gc
import os
from typing import ClassVar

import click

from vyx import __version__


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps ``vyx --help`` fast)."""

    #: command name -> ("module:attribute", the first paragraph of the command's help)
    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "filter": (
            "vyx.cli.filter:filter_group",
            "Work with filters written in the Vyx filter language.",
        ),
        "eval": (
            "vyx.cli.eval:eval_command",
            "Print EXPR (a number or a condition) at every bar; null while warming up.",
        ),
        "backtest": (
            "vyx.cli.backtest:backtest_command",
            "When each trader would have fired (edge-triggered), with its clause values; with "
            "--outcomes, how each signal did and each trader's record.",
        ),
        "trader": (
            "vyx.cli.trader_group:trader_group",
            "Draft traders from words, preview them, and keep them in the traders file.",
        ),
        "traders": (
            "vyx.cli.trader_group:traders_group",
            "Bring traders in from elsewhere (import is also vyx trader import).",
        ),
        "demo": (
            "vyx.cli.demo:demo_command",
            "Run Vyx on a simulated exchange with the example traders (Ctrl-C stops it).",
        ),
        "run": (
            "vyx.cli.run:run_command",
            "Run the screener daemon (configuration from the environment, see README).",
        ),
        "doctor": (
            "vyx.cli.doctor:doctor_command",
            "Check the configuration, the data directory, the region and whether Binance (REST "
            "and streams), Supabase, Gemini and the Fly API answer from here; one line each.",
        ),
        "exchange": (
            "vyx.cli.exchange:exchange_command",
            "Run a simulated Binance-compatible exchange (REST + combined streams) until Ctrl-C.",
        ),
        "provision": (
            "vyx.cli.provision:provision_command",
            "Create (or reuse and start) USER_ID's machine and wait until it runs.",
        ),
        "machines": (
            "vyx.cli.provision:machines_group",
            "Start, stop, destroy or inspect a user's machine.",
        ),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name][0].split(":")
            module = _import_frozen(module_name, attr)
            command: click.Command = getattr(module, attr)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's table of commands, from the written helps: no command module is imported."""
        names = self.list_commands(ctx)
        if names:
            limit = formatter.width - 6 - max(map(len, names))
            rows = [(n, self._short_help(ctx, n, limit)) for n in names]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _short_help(self, ctx: click.Context, name: str, limit: int) -> str:
        if name in self.lazy:
            # click's own truncation, on a stand-in holding the written help
            return click.Command(name, help=self.lazy[name][1]).get_short_help_str(limit)
        command = super().get_command(ctx, name)
        return "" if command is None else command.get_short_help_str(limit)


#: Whether a command's module is imported with the collector off and then frozen (a ``vyx``
#: process, :func:`main`; not when the group is run in another program, such as tests).
_FREEZE_IMPORTS = False


def _import_frozen(module_name: str, attr: str) -> object:
    """Import a command's module; in a ``vyx`` process without the cyclic garbage collector,
    then with what it loaded set aside from the collector for good (:func:`gc.freeze`).

    A command imports hundreds of thousands of long-lived objects (numba's compiler is most of
    them): the collector would traverse them again and again as they load, and then in every
    full collection the command triggers (~0.05-0.1 s of CPU of a ``vyx backtest``). Modules
    are not garbage; the few cycles an import leaves behind stay in memory (as frozen objects
    they are still freed by reference counting). The daemon freezes its heap again once
    ready (:mod:`vyx.daemon.heap`)."""
    if not _FREEZE_IMPORTS:
        return __import__(module_name, fromlist=[attr])
    enabled = gc.isenabled()
    gc.disable()
    try:
        module = __import__(module_name, fromlist=[attr])
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return module


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="vyx")
def cli() -> None:
    """Vyx: screen every Binance pair you care about the instant a candle closes."""


def main() -> None:
    """Console-script entry point. numpy's BLAS gets one thread unless the environment says
    otherwise: Vyx does no linear algebra, and OpenBLAS's pool of threads spinning as numpy
    is imported cost ~60 ms of CPU a process (every command that imports numpy)."""
    global _FREEZE_IMPORTS
    _FREEZE_IMPORTS = True
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    cli()
