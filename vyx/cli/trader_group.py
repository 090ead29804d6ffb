"""The ``vyx trader`` and ``vyx traders`` command groups, assembled from their modules."""

from __future__ import annotations

import click

from vyx.cli.trader import new_command, phrases_command
from vyx.cli.trader_file import (
    edit_command,
    list_command,
    remove_command,
    show_command,
)
from vyx.cli.trader_import import import_command


@click.group("trader")
def trader_group() -> None:
    """Draft traders from words, preview them, and keep them in the traders file."""


@click.group("traders")
def traders_group() -> None:
    """Bring traders in from elsewhere (import is also vyx trader import)."""


_TRADER_COMMANDS = (new_command, list_command, show_command, edit_command, remove_command)
for _command in (*_TRADER_COMMANDS, import_command, phrases_command):
    trader_group.add_command(_command)
traders_group.add_command(import_command)
