"""The Supabase store as a Trio service: :func:`run_supabase_store`.

Write path::

    save_*() ─► BatchWriter (memory, bounded) ─► spool (SQLite, FULL) ─► Drain ─► PostgREST
                                    acknowledged here ──┘          deleted only after PostgREST

``flush()`` returns once earlier rows are durable in the spool (the :class:`Store` contract)
and starts sending at once; ``sync()`` waits until they are in Supabase too (``force_sync``).
Rows that cannot be encoded are quarantined before they are spooled; rows PostgREST rejects are
quarantined by the drain. Each quarantined row also queues a ``cloud_events`` error event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio
from loguru import logger

from vyx.retry import RetryPolicy
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.store import outbox
from vyx.store.api import (
    HistoryPage,
    Pending,
    PendingRow,
    QuarantinedRow,
    Sink,
    Store,
    StoreStatistics,
    WriteOutcome,
    rows_of,
)
from vyx.store.errors import RowError, StoreUnavailable, TraderNotOwned
from vyx.store.outbox import AlertOutbox
from vyx.store.records import (
    MachineRecord,
    Trader,
    event_row,
    merge_trader_edit,
    new_trader_row,
)
from vyx.store.supabase import queries
from vyx.store.supabase.drain import Drain, DrainStatistics, SpoolEntry, SpoolIO
from vyx.store.supabase.project import MachineIds, Project
from vyx.store.supabase.rest import PostgrestError, Rest
from vyx.store.supabase.spool import Spool
from vyx.store.supabase.wire import encode_wire, from_wire, to_wire
from vyx.store.writer import BatchPolicy, BatchWriter, QueuedWrites


def _now_ms() -> int:
    return int(time.time() * 1000)


@attrs.frozen
class SupabaseStatistics:
    """The Supabase store's write path in detail (:meth:`SupabaseStore.statistics` folds it
    into the backend-neutral :class:`~vyx.store.api.StoreStatistics`)."""

    #: The writer's view: rows in memory, rows acknowledged into the spool.
    writer: StoreStatistics
    #: The drain's view: state, rows applied to Supabase, failures, quarantines.
    drain: DrainStatistics
    #: Rows durable in the spool and not yet applied to Supabase.
    spooled_rows: int
    #: Rows quarantined before spooling (values JSON cannot carry).
    quarantined_local: int


class _SpoolSink:
    """The BatchWriter's sink: append to the spool (the acknowledgement), wake the drain."""

    def __init__(self, store: SupabaseStore) -> None:
        self._store = store

    async def persist(self, rows: Sequence[Pending]) -> WriteOutcome:
        good: list[SpoolEntry] = []
        alerts: list[tuple[Any, ...]] = []
        bad: list[tuple[str, str, str, str]] = []
        for p in rows_of(rows):
            try:
                owed = [outbox.encode(a.row) for a in p.attached]
                good.append((p.table, p.key, encode_wire(p.table, p.row)))
                alerts.extend(owed)
            except (TypeError, ValueError) as exc:
                bad.append(
                    (
                        p.table,
                        p.key,
                        json.dumps({k: repr(v) for k, v in p.row.items()}),
                        f"{type(exc).__name__}: {exc}",
                    )
                )
        spool = self._store.io.spool

        def write() -> None:
            spool.append(good, alerts)
            if bad:
                spool.quarantine_new(bad)

        try:
            await self._store.io.run(write)
        except sqlite3.Error as exc:  # disk full, I/O error: the batch, not a row
            raise StoreUnavailable(f"spool append failed: {exc}") from exc
        self._store.note_spooled(len(good), len(bad))
        self._store.drain.wake()
        if alerts:
            self._store.outbox.committed()
        return WriteOutcome(
            written=len(good), quarantined=tuple(QuarantinedRow(t, k, e) for t, k, _, e in bad)
        )


class SupabaseStore(QueuedWrites):
    """The cloud store (implements :class:`~vyx.store.api.Store`); get one from
    :func:`run_supabase_store`.

    ``user_id`` is the machine's user: whose traders a browser may change, and (with
    ``machine_id``, the ``cloud_machines.id`` the machine's rows carry) the label of the events
    this store writes (quarantined rows, refused trader changes). ``machine`` is what the
    spool remembers of the machine's row (:class:`~vyx.store.supabase.project.MachineIds`)."""

    def __init__(
        self,
        io: SpoolIO,
        rest: Rest,
        policy: BatchPolicy,
        *,
        user_id: str | None = None,
        machine: MachineIds | None = None,
        drain_rows: int = 500,
        initial_spooled: int = 0,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.io = io
        self.rest = rest
        self.user_id = user_id
        self.machine = machine
        self.machine_id: str | None = machine.current if machine is not None else None
        self._now_ms = now_ms
        self.drain = Drain(
            io,
            rest,
            project=Project(rest, machine),
            batch_rows=drain_rows,
            on_quarantine=self._report,
        )
        self.writer = BatchWriter(_SpoolSink(self), policy)
        self.outbox = AlertOutbox(io.run, lambda: io.spool.connection)
        self._initial_spooled = initial_spooled
        self._appended = 0
        self._quarantined_local = 0

    def note_spooled(self, appended: int, quarantined: int) -> None:
        """Called by the sink after an append."""
        self._appended += appended
        self._quarantined_local += quarantined

    def _report(self, row: QuarantinedRow) -> SpoolEntry | None:
        if row.table == "cloud_events":  # never report a rejected report (no loops)
            return None
        event = event_row(
            machine_id=self.machine_id or "",
            user_id=self.user_id or "",
            event_type="error",
            severity="warning",
            message=f"Supabase rejected a {row.table} row; it is quarantined on the machine",
            details={"table": row.table, "key": row.key, "error": row.error},
            created_at=self._now_ms(),
        )
        event["machine_id"] = self.machine_id
        event["user_id"] = self.user_id
        return ("cloud_events", event["id"], encode_wire("cloud_events", event))

    # ------------------------------------------------------------------ batched writes
    # save_signals/save_analysis/save_metrics/save_event: QueuedWrites.

    async def flush(self) -> None:
        """Return when every row queued before the call is durable in the spool; sending to
        Supabase starts at once. Cancelling the wait does not cancel the write."""
        await self.writer.flush()
        self.drain.wake()

    async def sync(self, timeout_s: float) -> bool:
        """Flush, then wait up to ``timeout_s`` until Supabase holds (or has rejected) every
        row queued before the call (``force_sync``). True when it does."""
        with trio.move_on_after(timeout_s):
            await self.flush()
            top = await self.io.run(lambda: self.io.spool.counts()[1])
            await self.drain.wait_applied(top)
            return True
        return False

    # ------------------------------------------------------------------ direct calls

    async def load_traders(self, user_id: str, *, include_disabled: bool = False) -> list[Trader]:
        """The user's traders by name; rows that do not structure are logged and left out
        (:mod:`vyx.cloud.traders` reports them as events)."""
        eq: dict[str, Any] = {"user_id": user_id}
        if not include_disabled:
            eq["enabled"] = True
        rows = await self.rest.call("load traders", lambda: self.rest.select("traders", eq=eq))
        traders = []
        for row in rows:
            try:
                traders.append(Trader.from_row(row))
            except RowError as exc:
                logger.error("supabase: unreadable trader row: {}", exc)
        return sorted(traders, key=lambda t: (t.name, t.id))

    async def upsert_trader(self, trader: Trader) -> None:
        """Insert ``trader`` for ``trader.user_id``, or merge the edit into that user's row
        (:meth:`~vyx.store.api.Store.upsert_trader`). Every request is filtered by the user:
        the service key bypasses RLS, so ownership is enforced here. Raises
        :class:`~vyx.store.errors.TraderNotOwned` (and reports a security event) when the id is
        another user's, :class:`~vyx.store.supabase.rest.SupabaseUnavailable` or
        :class:`~vyx.store.supabase.rest.PostgrestError`."""
        rest = self.rest
        mine = {"id": trader.id, "user_id": trader.user_id}
        for _ in range(2):
            found = await rest.call("load trader", partial(rest.select, "traders", eq=mine))
            if found:
                edit = {**merge_trader_edit(found[0], trader), "updated_at": self._now_ms()}
                update = partial(rest.update, "traders", to_wire("traders", edit), eq=mine)
                if await rest.call("update trader", update):
                    return
                continue  # removed meanwhile: insert it again
            row = to_wire("traders", new_trader_row(trader, self._now_ms()))
            try:
                await rest.call("insert trader", partial(rest.insert, "traders", [row]))
                return
            except PostgrestError as exc:
                if exc.failure.code != "23505":
                    raise
            # The id exists: ours (an earlier attempt whose answer was lost) or another user's?
            probe = partial(rest.select, "traders", eq=mine, columns="id")
            if not await rest.call("load trader", probe):
                break
        raise await self._refuse(trader.id, trader.user_id, "trader_upsert")

    async def delete_trader(self, trader_id: str, *, user_id: str) -> None:
        """Remove ``user_id``'s trader ``trader_id`` (the delete is filtered by both). Raises
        :class:`~vyx.store.errors.TraderNotOwned` (a security event) when nothing was the
        user's to remove."""
        mine = {"id": trader_id, "user_id": user_id}
        gone = await self.rest.call(
            "delete trader", lambda: self.rest.delete("traders", eq=mine, returning=True)
        )
        if not gone:
            raise await self._refuse(trader_id, user_id, "trader_remove")

    async def _refuse(self, trader_id: str, user_id: str, action: str) -> TraderNotOwned:
        """Log a refused trader change as a security event (and a ``cloud_events`` row)."""
        refused = TraderNotOwned(trader_id, action)
        logger.warning(
            "security: {} of trader {} refused: not a trader of user {}", action, trader_id, user_id
        )
        event = event_row(
            machine_id=self.machine_id or "",
            user_id=self.user_id or user_id,
            event_type="error",
            severity="warning",
            message=f"refused {action} of trader {trader_id}: not one of this user's traders",
            details={"trader_id": trader_id, "action": action, "security": True},
            created_at=self._now_ms(),
        )
        event["machine_id"] = self.machine_id
        await self.save_event(event)
        return refused

    async def save_machine(self, row: Mapping[str, Any]) -> None:
        """Queue a ``cloud_machines`` lifecycle row (it carries ``user_id``, ``machine_id``,
        ``status``, ``region``...): through the spool like every other row, in order; see
        :meth:`~vyx.store.supabase.project.Project.write_machine`."""
        await self.writer.put([PendingRow.of("cloud_machines", row)])

    @property
    def machine_error_count(self) -> int:
        """``cloud_machines.error_count`` when the database last answered (0 if never)."""
        return self.machine.error_count if self.machine is not None else 0

    async def recent_signals(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The user's newest signals in Supabase (timestamps as epoch ms)."""
        return await queries.recent_signals(self.rest, user_id, limit)

    async def signal_history(self, user_id: str, page: HistoryPage) -> list[dict[str, Any]]:
        """A page of the user's signals in Supabase with their analyses, newest first."""
        return await queries.signal_history(self.rest, user_id, page)

    async def load_mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        """The user's mutes in Supabase (``alert_mutes``), oldest first; none when the project
        has no such table (logged once, at its description)."""
        return await queries.load_mutes(self.rest, self.drain.project, user_id, limit)

    async def set_mute(self, user_id: str, kind: str, target: str, *, muted: bool) -> None:
        """Add or remove one of the user's mutes (:func:`~vyx.store.supabase.queries.set_mute`).
        Raises :class:`~vyx.store.errors.StoreError`."""
        await queries.set_mute(self.rest, self.drain.project, user_id, kind, target, muted=muted)

    async def load_outcomes(
        self, user_id: str, *, complete: bool, limit: int
    ) -> list[dict[str, Any]]:
        """The user's newest ``signal_outcomes`` rows in Supabase (by signal bar); none when
        the project has no such table. Waits first until Supabase holds every row queued
        before the call (the last run's, from the spool, included): what it reads is what this
        machine wrote."""
        await self.flush()
        top = await self.io.run(lambda: self.io.spool.counts()[1])
        await self.drain.wait_applied(top)
        schema = await self.rest.call("describe", self.drain.project.describe)
        if schema.lacks("signal_outcomes"):
            return []
        rows = await self.rest.call(
            "load outcomes",
            lambda: self.rest.select(
                "signal_outcomes",
                eq={"user_id": user_id, "complete": complete},
                order="bar_open_time",
                desc=True,
                limit=limit,
            ),
        )
        return [from_wire("signal_outcomes", r) for r in rows]

    async def upsert_machine(self, machine: MachineRecord) -> None:
        """Queue the ``cloud_machines`` row and make it durable in the spool."""
        await self.save_machine(machine.to_row())
        await self.flush()

    async def heartbeat(self, machine_id: str, at_ms: int) -> None:
        """Set ``last_health_check`` and ``updated_at`` of the machine row."""
        values = to_wire("cloud_machines", {"last_health_check": at_ms, "updated_at": at_ms})
        await self.rest.call(
            "heartbeat",
            lambda: self.rest.update("cloud_machines", values, eq={"machine_id": machine_id}),
        )

    async def load_machine(self, machine_id: str) -> MachineRecord | None:
        """The machine row, if any."""
        rows = await self.rest.call(
            "load machine",
            lambda: self.rest.select("cloud_machines", eq={"machine_id": machine_id}),
        )
        return MachineRecord.from_row(rows[0]) if rows else None

    async def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """Quarantined rows with their errors, oldest first."""
        return await self.io.run(self.io.spool.quarantined, limit)

    async def requeue_quarantined(self) -> int:
        """Send every quarantined row again (after fixing the schema); returns how many."""
        moved = await self.io.run(self.io.spool.requeue_quarantined)
        self._appended += moved
        self.drain.wake()
        return moved

    # ------------------------------------------------------------------ statistics

    def spooled_rows(self) -> int:
        """Rows durable in the spool, not yet applied to Supabase."""
        d = self.drain
        return self._initial_spooled + self._appended + d.enqueued_rows - d.settled_rows

    def supabase_statistics(self) -> SupabaseStatistics:
        """The write path in detail."""
        return SupabaseStatistics(
            writer=self.writer.statistics(),
            drain=self.drain.statistics(),
            spooled_rows=self.spooled_rows(),
            quarantined_local=self._quarantined_local,
        )

    def statistics(self) -> StoreStatistics:
        """Backend-neutral counters: ``rows_written`` counts rows applied to Supabase,
        ``spooled_rows`` those waiting in the spool."""
        w = self.writer.statistics()
        d = self.drain.statistics()
        return StoreStatistics(
            pending_rows=w.pending_rows,
            spooled_rows=self.spooled_rows(),
            rows_written=d.applied_rows,
            batches=w.batches,
            failures=w.failures + d.failures,
            quarantined=w.quarantined + d.quarantined,
            oldest_pending_s=w.oldest_pending_s,
            last_error=d.last_error or w.last_error,
        )

    async def push_spool(self) -> None:
        """Send the spool until it is empty, retrying with backoff (run it under a deadline:
        it retries until cancelled)."""
        policy = self.rest.policy
        while True:
            try:
                while await self.drain.drain_chunk():
                    pass
                return
            except Exception as exc:  # PostgrestError, sqlite3.Error: retry until the deadline
                logger.warning("supabase: final flush: {}", exc)
                await trio.sleep(policy.delay())
                policy = policy.failed()


async def run_supabase_store(
    cfg: StoreConfig,
    supabase: SupabaseConfig,
    *,
    user_id: str | None = None,
    policy: RetryPolicy | None = None,
    transport: Any = None,
    drain_rows: int = 500,
    task_status: trio.TaskStatus[SupabaseStore] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the spool at ``cfg.spool_path``, write batches to it and drain it to Supabase
    until cancelled.

    ``task_status.started(store)`` hands back the :class:`SupabaseStore` once the spool is open
    and the writer and drain run; rows left in the spool by an earlier run (a crash, an
    outage) are sent first, in order. On cancellation, rows in memory go to the spool and the
    spool is pushed to Supabase, all within ``cfg.final_flush_s`` (shielded); what is still
    spooled then is sent by the next run. ``transport`` (an ``httpx.AsyncBaseTransport``) is
    the test seam. Raises ``sqlite3.Error``/``OSError`` if the spool cannot be opened.
    """
    spool = await trio.to_thread.run_sync(Spool.open, cfg.spool_path)
    io = SpoolIO(spool)
    queued, _, _ = await io.run(spool.counts)
    machine = await io.run(MachineIds.load, spool, user_id) if user_id is not None else None
    rest = Rest.open(supabase, policy=policy, transport=transport)
    batch = BatchPolicy(
        batch_rows=cfg.batch_rows,
        max_age_s=cfg.flush_interval_ms / 1000,
        buffer_rows=cfg.buffer_rows,
    )
    store = SupabaseStore(
        io,
        rest,
        batch,
        user_id=user_id,
        machine=machine,
        drain_rows=drain_rows,
        initial_spooled=queued,
    )
    logger.info(
        "store: Supabase at {} (spool {}, {} rows to replay)", supabase.url, cfg.spool_path, queued
    )
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.writer.run)
            nursery.start_soon(store.drain.run)
            task_status.started(store)
    finally:
        with trio.move_on_after(cfg.final_flush_s) as scope:
            scope.shield = True
            await store.writer.drain()
            await store.push_spool()
        left = store.spooled_rows() + store.writer.statistics().pending_rows
        if scope.cancelled_caught or left:
            logger.warning(
                "store: final flush ended with {} rows not in Supabase "
                "(kept in the spool for the next start)",
                left,
            )
        with trio.move_on_after(5) as close_scope:
            close_scope.shield = True
            await io.run(spool.close)
            await rest.aclose()


if TYPE_CHECKING:  # mypy proves the classes implement the protocols

    def _is_store(store: SupabaseStore) -> Store:
        return store

    def _is_sink(sink: _SpoolSink) -> Sink:
        return sink
