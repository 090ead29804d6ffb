"""The user's mutes while the daemon runs (:mod:`vyx.mutes`): read at start, changed from a
browser's ``mute`` command, told to the notifier and to every browser.

Start: the store's mutes (at most 8 s), kept in ``mutes.json`` in the data directory too; when
the store cannot answer (Supabase down), that copy, so a machine restarted during an outage
does not alert muted symbols. A change is written to the store first (durably), then applied:
a mute the browser was told about is one that survives a restart.

Changed elsewhere (another machine of the user, the web app, SQL): :meth:`MuteKeeper.refresh`
reads them again (cloud mode: at each periodic load of the traders). A trader deleted from the
dashboard takes its mute with it (:meth:`MuteKeeper.forget_traders`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from vyx.mutes import MAX_MUTES, Mute, MuteError, Mutes, read_copy, write_copy
from vyx.server.interface import CommandRejected
from vyx.server.protocol import ErrorCode, SetMute, mutes_updated
from vyx.store.api import Store
from vyx.store.errors import StoreError

#: The copy of the mutes in the data directory.
MUTES_COPY = "mutes.json"
#: Longest wait for the store, at start and per change (under the browser command's 10 s, so
#: its answer is this module's "could not be saved", not "did not answer in time").
STORE_TIMEOUT_S = 8.0


def _ignore(_: Any) -> None:
    """Nobody to tell."""


class MuteKeeper:
    """The mutes of ``user_id`` (see the module docstring).

    Args:
        store: where they are kept.
        copy: the file keeping a copy (None: no copy).
        on_change: told the mutes at start and after each change (the notifier).
        broadcast: the browsers' broadcast (``mutes_updated``).
    """

    def __init__(
        self,
        store: Store,
        user_id: str,
        *,
        copy: Path | None = None,
        on_change: Callable[[Mutes], None] = _ignore,
        broadcast: Callable[[Mapping[str, Any]], object] = _ignore,
    ) -> None:
        self.store = store
        self.user_id = user_id
        self.copy = copy
        self.on_change = on_change
        self.broadcast = broadcast
        self.mutes = Mutes()
        self._lock = trio.Lock()

    async def load(self) -> Mutes:
        """Read the mutes from the store (or, when it cannot answer, the copy) and apply them."""
        try:
            with trio.fail_after(STORE_TIMEOUT_S):
                rows = await self.store.load_mutes(self.user_id, MAX_MUTES)
        except (StoreError, trio.TooSlowError) as exc:
            copy = read_copy(self.copy, self.user_id) if self.copy is not None else None
            logger.warning(
                "mutes: the store did not answer ({}); {}",
                exc or "timeout",
                f"using the {len(copy)} kept in {self.copy}" if copy else "none apply",
            )
            mutes = copy or Mutes()
        else:
            mutes = Mutes.from_rows(rows)
            await self._keep(mutes)
        self.mutes = mutes
        self.on_change(mutes)
        return mutes

    async def refresh(self) -> bool:
        """Read the mutes again and apply them when they changed (bounded: at most
        :data:`MAX_MUTES` rows within :data:`STORE_TIMEOUT_S`; malformed rows are left out); a
        store that cannot answer keeps the mutes in use. Returns whether they changed."""
        async with self._lock:
            try:
                with trio.fail_after(STORE_TIMEOUT_S):
                    rows = await self.store.load_mutes(self.user_id, MAX_MUTES)
            except (StoreError, trio.TooSlowError) as exc:
                logger.warning("mutes: not read again ({}); the ones in use stay", exc or "timeout")
                return False
            mutes = Mutes.from_rows(rows)
            if mutes == self.mutes:
                return False
            with trio.CancelScope(shield=True):
                await self._apply(mutes, "mutes changed in the store: {} now", len(mutes))
            return True

    async def forget_traders(self, trader_ids: Collection[str]) -> None:
        """The traders ``trader_ids`` were deleted: their mutes go too (from the store first;
        one the store could not delete stays, listed as not on this machine, and can be
        unmuted from there)."""
        async with self._lock:
            gone = [t for t in trader_ids if t in self.mutes.traders]
            mutes = self.mutes
            for tid in gone:
                try:
                    await self._save(Mute("trader", tid), False)
                except CommandRejected as exc:
                    logger.warning("mutes: the removed trader {}'s stays: {}", tid, exc.message)
                    continue
                mutes = mutes.changed(Mute("trader", tid), False)
            if mutes != self.mutes:
                with trio.CancelScope(shield=True):
                    await self._apply(mutes, "unmuted removed trader(s) {}", ", ".join(gone))

    async def _apply(self, mutes: Mutes, why: str, *args: object) -> None:
        """Use ``mutes`` (already in the store): the notifier, the copy, the browsers."""
        self.mutes = mutes
        self.on_change(mutes)
        await self._keep(mutes)
        logger.info(why, *args)
        self.broadcast(mutes_updated(mutes.to_message()))

    async def set(self, command: SetMute, traders: Mapping[str, object]) -> None:
        """Carry out a browser's ``mute``: a trader must be one of ``traders`` (this machine's).
        Raises :class:`CommandRejected` (nothing changed) when it cannot be done."""
        mute = Mute("trader" if command.kind == "trader" else "symbol", command.target)
        if mute.kind == "trader" and mute.target not in traders and command.muted:
            raise CommandRejected(
                f"no trader {mute.target!r}", ErrorCode.TRADER_ERROR, trader_id=mute.target
            )
        async with self._lock:
            try:
                mutes = self.mutes.changed(mute, command.muted)
            except MuteError as exc:
                raise CommandRejected(str(exc)) from None
            if mutes == self.mutes:
                return
            await self._save(mute, command.muted)
            # Once saved, applied whole: the browser leaving (or a stop) after the write must
            # not leave the notifier, the copy or the browsers behind the keeper. (Cancelled
            # during the write, a mute may be saved and applied only at the next start; setting
            # it again is harmless.) The copy is a local file: this waits for no network.
            with trio.CancelScope(shield=True):
                verb = "muted" if command.muted else "unmuted"
                await self._apply(mutes, "{} {} {} from the browser", verb, mute.kind, mute.target)

    async def _save(self, mute: Mute, muted: bool) -> None:
        """Write one change to the store (within :data:`STORE_TIMEOUT_S`); raises
        :class:`CommandRejected` when it cannot."""
        try:
            with trio.fail_after(STORE_TIMEOUT_S):
                await self.store.set_mute(self.user_id, mute.kind, mute.target, muted=muted)
        except (StoreError, trio.TooSlowError) as exc:
            raise CommandRejected(
                f"the mute could not be saved: {exc or 'the store did not answer'}",
                ErrorCode.UNAVAILABLE,
            ) from None

    async def _keep(self, mutes: Mutes) -> None:
        if self.copy is None:
            return
        try:
            await trio.to_thread.run_sync(write_copy, self.copy, mutes, self.user_id)
        except OSError as exc:
            logger.warning("mutes: cannot keep a copy in {}: {}", self.copy, exc.strerror)
