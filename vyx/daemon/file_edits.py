"""A browser's trader edits under ``vyx run --traders FILE``, written back to the file.

The file is where those traders live, so a change saved in the browser (a filter, a name, the
cooldown, the alert switches, enabled) or a trader added or deleted there is written to it
before it runs (:func:`~vyx.authoring.traders_toml.save_trader`, ``remove_trader``: only the
keys that changed, the user's comments and layout kept, checked by the daemon's own reader,
replaced atomically): a restart runs what the browser last saved. A write that fails (the file
made read-only, the disk full, the file broken by hand meanwhile) refuses the edit with the
reason; nothing changes. A file that cannot be written at start (read-only, its directory
read-only: the replace needs both) keeps the browser's edits in memory instead, and the page
says so and why (``status.editsKept`` false, ``status.editsNote``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio
from loguru import logger

from vyx.authoring.traders_toml import remove_trader, save_trader
from vyx.server.interface import CommandRejected
from vyx.server.protocol import ErrorCode
from vyx.traders import TraderInfo
from vyx.traders_file import TradersFileError

T = TypeVar("T")


def unwritable(path: Path) -> str | None:
    """Why the browser's edits cannot be written to ``path`` (None: they can)."""
    folder = path.parent if str(path.parent) else Path(".")
    for what, where in (("the file", path), ("its directory", folder)):
        if not os.access(where, os.W_OK):
            return f"{what} {where} is not writable"
    return None


class TradersFileEdits:
    """Writes the browser's edits of the traders of ``path`` into it (blocking work in a
    worker thread; one at a time: the caller holds its trader lock)."""

    def __init__(self, path: Path) -> None:
        #: The file itself (a symlink's target: replacing the link would cut it).
        self.path = path.resolve()

    async def save(self, info: TraderInfo) -> None:
        """Write ``info`` (added or edited); raises :class:`CommandRejected` when it cannot."""
        await self._run(save_trader, info, info.id)

    async def remove(self, trader_id: str) -> None:
        """Delete the trader ``trader_id``; raises :class:`CommandRejected` when it cannot."""
        await self._run(remove_trader, trader_id, trader_id)

    async def _run(self, write: Callable[[Path, T], object], arg: T, trader_id: str) -> None:
        try:
            await trio.to_thread.run_sync(write, self.path, arg)
        except (TradersFileError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            logger.warning("traders file {}: a browser's edit not saved: {}", self.path, reason)
            raise CommandRejected(
                f"not saved to the traders file {self.path}: {reason}; nothing changed",
                ErrorCode.TRADER_ERROR,
                trader_id=trader_id,
            ) from None
        logger.info("traders file {}: saved a browser's edit of {}", self.path, trader_id)


def file_edits_for(path: Path | None) -> dict[str, Any]:
    """:class:`~vyx.daemon.control.Control`'s ``file_edits`` for the traders file ``path``
    (None: traders from elsewhere), or, when it cannot be written, its ``edits_note``."""
    if path is None:
        return {}
    reason = unwritable(path.resolve())
    if reason is None:
        return {"file_edits": TradersFileEdits(path)}
    logger.warning("traders file: {}: a browser's edits run until the machine restarts", reason)
    return {"edits_note": f"{reason}: a change saved here runs until the machine restarts"}
