"""The ``vyx`` command line: one click group, each command in the module that owns it."""

from __future__ import annotations

from typing import ClassVar

import click

from vyx import __version__


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps ``vyx --help`` fast)."""

    #: command name -> "module:attribute"
    lazy: ClassVar[dict[str, str]] = {
        "filter": "vyx.cli.filter:filter_group",
        "eval": "vyx.cli.eval:eval_command",
        "backtest": "vyx.cli.backtest:backtest_command",
        "trader": "vyx.cli.trader_group:trader_group",
        "traders": "vyx.cli.trader_group:traders_group",
        "demo": "vyx.cli.demo:demo_command",
        "run": "vyx.cli.run:run_command",
        "doctor": "vyx.cli.doctor:doctor_command",
        "exchange": "vyx.cli.exchange:exchange_command",
        "provision": "vyx.cli.provision:provision_command",
        "machines": "vyx.cli.provision:machines_group",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            module = __import__(module_name, fromlist=[attr])
            command: click.Command = getattr(module, attr)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(__version__, prog_name="vyx")
def cli() -> None:
    """Vyx: screen every Binance pair you care about the instant a candle closes."""


def main() -> None:
    """Console-script entry point."""
    cli()
