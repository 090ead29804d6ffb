"""The SQLite store as a Trio service: :func:`run_store`.

Every SQLite call runs in ``trio.to_thread.run_sync`` under one ``CapacityLimiter(1)``: one
connection, used by one thread at a time, never blocking the event loop. Thread calls are not
abandoned on cancellation, so a write in flight always finishes and its outcome is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from loguru import logger

from vyx.settings import StoreConfig
from vyx.store.api import HistoryPage, Pending, Sink, Store, StoreStatistics, WriteOutcome
from vyx.store.errors import TraderNotOwned
from vyx.store.outbox import AlertOutbox
from vyx.store.records import MachineRecord, Trader
from vyx.store.sqlite import SqliteDatabase, Synchronous
from vyx.store.writer import BatchPolicy, BatchWriter, QueuedWrites

T = TypeVar("T")


class _SqliteSink:
    def __init__(
        self, db: SqliteDatabase, limiter: trio.CapacityLimiter, outbox: AlertOutbox
    ) -> None:
        self._db = db
        self._limiter = limiter
        self._outbox = outbox

    async def persist(self, rows: Sequence[Pending]) -> WriteOutcome:
        outcome = await trio.to_thread.run_sync(
            self._db.write_batch, list(rows), limiter=self._limiter
        )
        if any(r.owes_alerts for r in rows):
            self._outbox.committed()
        return outcome


class SqliteStore(QueuedWrites):
    """The embedded store (implements :class:`~vyx.store.api.Store`); get one from
    :func:`run_store`."""

    def __init__(self, db: SqliteDatabase, policy: BatchPolicy) -> None:
        self._db = db
        self._limiter = trio.CapacityLimiter(1)
        self.outbox = AlertOutbox(self._call, lambda: db.connection)
        self.writer = BatchWriter(_SqliteSink(db, self._limiter, self.outbox), policy)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def flush(self) -> None:
        """Return when everything queued before is committed."""
        await self.writer.flush()

    async def load_traders(self, user_id: str, *, include_disabled: bool = False) -> list[Trader]:
        """The user's traders, by name."""
        return await self._call(
            lambda: self._db.traders(user_id, include_disabled=include_disabled)
        )

    async def upsert_trader(self, trader: Trader) -> None:
        """Insert ``trader`` or merge the edit into its owner's row, committed before
        returning; a change to another user's trader is refused (logged as a security event,
        :class:`~vyx.store.errors.TraderNotOwned`)."""
        try:
            await self._call(self._db.upsert_trader, trader, int(time.time() * 1000))
        except TraderNotOwned as exc:
            logger.warning("security: {}", exc)
            raise

    async def delete_trader(self, trader_id: str, *, user_id: str) -> None:
        """Remove ``user_id``'s trader (:class:`~vyx.store.errors.TraderNotOwned` if none)."""
        try:
            await self._call(self._db.delete_trader, trader_id, user_id)
        except TraderNotOwned as exc:
            logger.warning("security: {}", exc)
            raise

    async def recent_signals(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest committed signals of the user."""
        return await self._call(self._db.recent_signals, user_id, limit)

    async def signal_history(self, user_id: str, page: HistoryPage) -> list[dict[str, Any]]:
        """A page of the user's committed signals with their analyses, newest first."""
        return await self._call(self._db.signal_history, user_id, page)

    async def load_mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        """The user's mutes, oldest first."""
        return await self._call(self._db.mutes, user_id, limit)

    async def set_mute(self, user_id: str, kind: str, target: str, *, muted: bool) -> None:
        """Add or remove one mute of the user, committed before returning."""
        now_ms = int(time.time() * 1000)
        await self._call(self._db.set_mute, user_id, kind, target, muted, now_ms)

    async def load_outcomes(
        self, user_id: str, *, complete: bool, limit: int
    ) -> list[dict[str, Any]]:
        """The user's newest ``signal_outcomes`` rows (by signal bar), complete or open."""
        return await self._call(partial(self._db.outcomes, user_id, complete=complete, limit=limit))

    async def upsert_machine(self, machine: MachineRecord) -> None:
        """Insert or replace the machine row (by machine_id)."""
        await self._call(self._db.upsert, "cloud_machines", machine.to_row())

    async def heartbeat(self, machine_id: str, at_ms: int) -> None:
        """Set the machine row's last_health_check."""
        await self._call(self._db.heartbeat, machine_id, at_ms)

    async def load_machine(self, machine_id: str) -> MachineRecord | None:
        """The machine row."""
        return await self._call(self._db.machine, machine_id)

    async def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """Quarantined rows with their errors, oldest first."""
        return await self._call(self._db.quarantined, limit)

    def statistics(self) -> StoreStatistics:
        """Counters of the write path."""
        return self.writer.statistics()

    async def close(self) -> None:
        """Checkpoint and close the database (after the writer has drained)."""
        await self._call(self._db.close)


async def run_store(
    cfg: StoreConfig,
    *,
    synchronous: Synchronous = "FULL",
    task_status: trio.TaskStatus[SqliteStore] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the SQLite store in ``cfg.data_dir`` and write batches until cancelled.

    ``task_status.started(store)`` hands back the :class:`SqliteStore` once the database is
    open and the writer runs. On cancellation the writer stops taking rows and everything
    queued is written within ``cfg.final_flush_s`` (shielded); rows still queued after that
    deadline are lost and logged. Raises ``sqlite3.Error``/``OSError`` if the database cannot be
    opened, :class:`~vyx.store.sqlite.SchemaError` if a newer Vyx wrote it.
    """
    path = cfg.database_path
    db = await trio.to_thread.run_sync(lambda: SqliteDatabase.open(path, synchronous=synchronous))
    policy = BatchPolicy(
        batch_rows=cfg.batch_rows,
        max_age_s=cfg.flush_interval_ms / 1000,
        buffer_rows=cfg.buffer_rows,
    )
    store = SqliteStore(db, policy)
    logger.info("store: SQLite at {} (WAL, synchronous={})", path, synchronous)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.writer.run)
            task_status.started(store)
    finally:
        with trio.move_on_after(cfg.final_flush_s) as scope:
            scope.shield = True
            await store.writer.drain()
        left = store.statistics().pending_rows
        if scope.cancelled_caught or left:
            logger.error("store: final flush missed its deadline; {} rows not written", left)
        with trio.move_on_after(5) as close_scope:
            close_scope.shield = True
            await store.close()


if TYPE_CHECKING:  # mypy proves the SQLite classes implement the protocols

    def _is_store(store: SqliteStore) -> Store:
        return store

    def _is_sink(sink: _SqliteSink) -> Sink:
        return sink
