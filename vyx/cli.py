"""The ``vyx`` command line: one click group, each command in the module that owns it."""

from __future__ import annotations

from typing import ClassVar

import click

from vyx import __version__


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps ``vyx --help`` fast)."""

    #: command name -> "module:attribute"
    lazy: ClassVar[dict[str, str]] = {
        "filter": "vyx.commands.filter_cmd:filter_group",
        "eval": "vyx.commands.eval_cmd:eval_command",
        "backtest": "vyx.commands.backtest_cmd:backtest_command",
        "trader": "vyx.commands.trader_group:trader_group",
        "traders": "vyx.commands.trader_group:traders_group",
        "demo": "vyx.commands.demo_cmd:demo_command",
        "run": "vyx.commands.run_cmd:run_command",
        "exchange": "vyx.market.exchange.cli:exchange_command",
        "provision": "vyx.ops.provision_cli:provision_command",
        "machines": "vyx.ops.provision_cli:machines_group",
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
