"""What the server needs from the daemon: a command handler and a snapshot provider.

The server validates browser commands (``vyx.server.protocol``) and hands each one to the
daemon's :data:`CommandHandler`; it does not pause, sync or edit traders itself. Two ways to
plug in::

    async def handle(command: Command) -> None:          # act directly
        match command:
            case PauseExecution(): screener.pause()
            case TraderUpsert(trader=t): await traders.upsert(t)  # may raise CommandRejected
            ...

    send, receive = trio.open_memory_channel[Command](16)  # or queue them (bounded)
    deps = ServerDeps(commands=send.send, ...)

The server awaits the handler under ``command_timeout_s`` and answers ``ack`` when it returns
(a request — ``trader_draft``, ``trader_check`` — under ``request_timeout_s``, answered with
``<type>_result`` carrying what the handler returned),
``error`` with the rejection's code when it raises :class:`CommandRejected`, and a generic
``error`` (the exception is logged, never shown) on anything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from vyx.server.protocol import Command, ErrorCode

#: The daemon's side of the browser commands: None for a command (the browser gets ``ack``),
#: the reply's data for a :data:`~vyx.server.protocol.Request` (``<type>_result``).
CommandHandler = Callable[[Command], Awaitable[Mapping[str, Any] | None]]


class CommandRejected(Exception):
    """Raised by a :data:`CommandHandler`: the browser gets ``error {message, code}``.

    ``message`` is shown to the user as it is (say what is wrong, e.g. a filter's compile error
    with line:column; never secrets).
    """

    def __init__(
        self, message: str, code: str = ErrorCode.COMMAND_FAILED, *, trader_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.trader_id = trader_id


@attrs.frozen
class Snapshot:
    """What a browser gets on connect (all values JSON-serialisable)."""

    #: Recent signals, newest first, each the ``data`` of a ``signal_created`` message.
    signals: Sequence[Mapping[str, Any]] = ()
    #: Every trader with its state (``id``, ``name``, ``state``, statistics, ``error``, ...).
    traders: Sequence[Mapping[str, Any]] = ()
    #: The ``data`` of a ``status_update`` message.
    status: Mapping[str, Any] = attrs.field(factory=dict)


#: Returns the current snapshot; called synchronously (no await) when a client authenticates,
#: so no broadcast can slip between the snapshot and the live stream.
SnapshotProvider = Callable[[], Snapshot]


def empty_snapshot() -> Snapshot:
    """A snapshot with nothing in it (the default provider)."""
    return Snapshot()


async def reject_commands(command: Command) -> Mapping[str, Any] | None:
    """A handler for a server without a daemon behind it: rejects every command."""
    raise CommandRejected(f"{command.TYPE} is not available", ErrorCode.UNAVAILABLE)
