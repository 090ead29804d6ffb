"""The store interface every backend implements (SQLite now, Supabase later).

Write path: ``save_*`` queues rows in a bounded in-memory buffer (waiting when it is full); the
batch writer (:mod:`vyx.store.writer`) hands a batch to the backend's :class:`Sink` when it
holds ``batch_rows`` rows or its oldest row is ``flush_interval_ms`` old. A row is
**acknowledged** once the sink has made it durable; ``await store.flush()`` returns when every
row queued before the call is acknowledged. Rows are keyed (:data:`KEYS`) and written as
idempotent upserts, so a batch retried after a crash or replayed from the spool never duplicates.
Errors are in :mod:`vyx.store.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol

import attrs

from vyx.signal import Signal
from vyx.store.errors import RowError, StoreClosed, StoreError, StoreUnavailable
from vyx.store.outbox import AlertOutbox, AlertRow
from vyx.store.records import MachineRecord, Trader

__all__ = [
    "KEYS",
    "Pending",
    "PendingRow",
    "PendingRows",
    "PendingSignals",
    "QuarantinedRow",
    "RowError",
    "Sink",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreStatistics",
    "StoreUnavailable",
    "Table",
    "WriteOutcome",
]

#: Tables written through the batch writer (``cloud_machines``: the Supabase store's machine
#: lifecycle rows only).
Table = Literal[
    "signals",
    "signal_analyses",
    "signal_outcomes",
    "cloud_metrics",
    "cloud_events",
    "cloud_machines",
    "alert_outbox",
]

#: The column identifying a row of each batched table.
KEYS: Mapping[Table, str] = {
    "signals": "id",
    "signal_analyses": "signal_id",
    "signal_outcomes": "signal_id",
    "cloud_metrics": "id",
    "cloud_events": "id",
    "cloud_machines": "user_id",
    "alert_outbox": "id",
}


@attrs.frozen
class PendingRow:
    """One row waiting to be written to ``table``."""

    table: Table
    row: Mapping[str, Any]
    #: Rows written in the same transaction (quarantined with this one): a signal's
    #: ``alert_outbox`` rows (:mod:`vyx.store.outbox`).
    attached: tuple[PendingRow, ...] = ()

    @property
    def key(self) -> str:
        """The row's identity (:data:`KEYS`)."""
        return str(self.row[KEYS[self.table]])

    @property
    def size(self) -> int:
        """Rows it counts as in the writer (one: attached rows ride along)."""
        return 1

    @property
    def owes_alerts(self) -> bool:
        """Whether it carries rows attached (alert rows)."""
        return bool(self.attached)

    @classmethod
    def of(
        cls, table: Table, row: Mapping[str, Any], attached: Sequence[PendingRow] = ()
    ) -> PendingRow:
        """Checks the key column is a non-empty string (a bug at the call site otherwise)."""
        key = row.get(KEYS[table])
        if not isinstance(key, str) or not key:
            raise ValueError(f"a {table} row needs a non-empty string {KEYS[table]!r}")
        return cls(table, row, tuple(attached))


@attrs.frozen(eq=False)
class PendingSignals:
    """A close's signals waiting to be written, as one item: one queue operation for all of
    them, and a backend may write them without a row dictionary each (the SQLite store binds
    the signals' fields directly). :meth:`rows` is the same as rows, for a backend that wants
    them (and for the quarantine's row-by-row replay)."""

    signals: tuple[Signal, ...]
    #: The ``alert_outbox`` rows each signal owes (by signal id), written in its transaction.
    alerts: Mapping[str, tuple[PendingRow, ...]] = attrs.field(factory=dict)

    @classmethod
    def of(
        cls, signals: Sequence[Signal], alerts: Mapping[str, tuple[PendingRow, ...]]
    ) -> PendingSignals:
        """Checks every id is a non-empty string (a bug at the call site otherwise)."""
        for s in signals:
            if not isinstance(s.id, str) or not s.id:
                raise ValueError("a signals row needs a non-empty string 'id'")
        return cls(tuple(signals), alerts)

    @property
    def size(self) -> int:
        """Rows it counts as (its signals; their alert rows ride along)."""
        return len(self.signals)

    @property
    def owes_alerts(self) -> bool:
        """Whether any of its signals carries alert rows."""
        return bool(self.alerts)

    def rows(self) -> list[PendingRow]:
        """One ``signals`` row per signal, its alert rows attached."""
        owed = self.alerts
        return [PendingRow("signals", s.to_row(), owed.get(s.id, ())) for s in self.signals]


@attrs.frozen(eq=False)
class PendingRows:
    """Rows of one table waiting to be written, as one item (one queue operation for all of
    them). ``progressed``: each row is one saved before, rewritten as it progresses (an
    outcome's next state): a backend may update it in place, and must upsert a row it does
    not find (the result is the same as the upserts'). :meth:`rows` gives them one by one."""

    table: Table
    data: tuple[Mapping[str, Any], ...]
    progressed: bool = False

    @classmethod
    def of(
        cls, table: Table, data: Sequence[Mapping[str, Any]], *, progressed: bool = False
    ) -> PendingRows:
        """Checks every key column is a non-empty string (as :meth:`PendingRow.of`)."""
        key = KEYS[table]
        for row in data:
            value = row.get(key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"a {table} row needs a non-empty string {key!r}")
        return cls(table, tuple(data), progressed)

    @property
    def size(self) -> int:
        """Rows it counts as."""
        return len(self.data)

    @property
    def owes_alerts(self) -> bool:
        """Never: no alert rides with these rows."""
        return False

    def rows(self) -> list[PendingRow]:
        """One :class:`PendingRow` per row, in order."""
        return [PendingRow(self.table, row) for row in self.data]


#: What the batch writer queues and hands to its sink.
Pending = PendingRow | PendingSignals | PendingRows


def rows_of(items: Iterable[Pending]) -> list[PendingRow]:
    """``items`` as rows, in order (:meth:`PendingSignals.rows` and :meth:`PendingRows.rows`
    expanded)."""
    out: list[PendingRow] = []
    for item in items:
        if isinstance(item, PendingRow):
            out.append(item)
        else:
            out.extend(item.rows())
    return out


@attrs.frozen
class QuarantinedRow:
    """A row the backend rejected for good (constraint, schema, encoding)."""

    table: str
    key: str
    error: str


@attrs.frozen
class WriteOutcome:
    """What a sink did with a batch."""

    #: Rows made durable.
    written: int
    #: Rows rejected and set aside with their error.
    quarantined: tuple[QuarantinedRow, ...] = ()


@attrs.frozen
class StoreStatistics:
    """A snapshot of the store's write path."""

    #: Rows queued in memory, not yet acknowledged.
    pending_rows: int
    #: Rows durable in the local spool but not yet applied to a remote backend (0 for SQLite).
    spooled_rows: int
    #: Rows acknowledged since start.
    rows_written: int
    #: Batches written since start.
    batches: int
    #: Batch attempts that failed as a whole and were retried.
    failures: int
    #: Rows quarantined since start.
    quarantined: int
    #: Seconds the oldest pending row has waited (0 when none).
    oldest_pending_s: float
    #: Message of the last whole-batch failure, if any.
    last_error: str | None


@attrs.frozen
class HistoryPage:
    """Which signals a history page holds: at most ``limit``, older than the cursor ``after``
    (the last row of the previous page: ``(created_at, id)``), of one trader or symbol."""

    limit: int = 100
    after: tuple[int, str] | None = None
    trader_id: str | None = None
    symbol: str | None = None


class Sink(Protocol):
    """The backend side of the batch writer."""

    async def persist(self, rows: Sequence[Pending]) -> WriteOutcome:
        """Make ``rows`` durable (upserts by key) or quarantine the ones rejected for good
        (:func:`rows_of` gives them row by row; ``written`` counts rows).

        Raises :class:`StoreUnavailable` when the batch as a whole could not be written; the
        writer retries it. Must be idempotent: the same batch may be persisted again."""
        ...


class Store(Protocol):
    """What the daemon's services use. All methods may raise :class:`StoreClosed`."""

    #: The alerts owed (``alert_outbox`` rows written with their signals and analyses).
    outbox: AlertOutbox

    async def save_signals(
        self, signals: Iterable[Signal], alerts: Mapping[str, Sequence[AlertRow]] | None = None
    ) -> None:
        """Queue ``signals`` (upsert by id: a replayed signal never duplicates), each with its
        ``alerts[signal.id]`` in the same transaction (an alert already queued or delivered is
        not queued again)."""
        ...

    async def save_analysis(self, row: Mapping[str, Any], alerts: Sequence[AlertRow] = ()) -> None:
        """Queue a ``signal_analyses`` row (upsert by ``signal_id``) with its ``alerts``."""
        ...

    async def save_outcomes(
        self, rows: Iterable[Mapping[str, Any]], *, progressed: bool = False
    ) -> None:
        """Queue ``signal_outcomes`` rows (upsert by ``signal_id``: a row is rewritten as its
        signal's outcome progresses). ``progressed``: the rows are of outcomes saved before
        (their signals were followed earlier): a backend may update them in place."""
        ...

    async def load_outcomes(
        self, user_id: str, *, complete: bool, limit: int
    ) -> list[dict[str, Any]]:
        """The user's newest ``signal_outcomes`` rows (by signal bar), complete or open."""
        ...

    async def save_metrics(self, row: Mapping[str, Any]) -> None:
        """Queue a ``cloud_metrics`` row built by :func:`~vyx.store.records.metrics_row`."""
        ...

    async def save_event(self, row: Mapping[str, Any]) -> None:
        """Queue a ``cloud_events`` row built by :func:`~vyx.store.records.event_row`."""
        ...

    async def flush(self) -> None:
        """Write now; return when every row queued before the call is acknowledged
        (``force_sync``). Cancelling the wait does not cancel the write."""
        ...

    async def load_traders(self, user_id: str, *, include_disabled: bool = False) -> list[Trader]:
        """The user's traders (enabled ones only unless ``include_disabled``), by name."""
        ...

    async def upsert_trader(self, trader: Trader) -> None:
        """Insert a trader of ``trader.user_id``, or merge a browser's edit into that user's
        row of the same id (:func:`~vyx.store.records.merge_trader_edit`: ``description``
        and ``cloud_config`` stay but for the alert switches the edit sets, ``version`` + 1),
        durably, before returning. Raises
        :class:`~vyx.store.errors.TraderNotOwned` when the id belongs to another user."""
        ...

    async def delete_trader(self, trader_id: str, *, user_id: str) -> None:
        """Remove ``user_id``'s trader (its signals stay). Raises
        :class:`~vyx.store.errors.TraderNotOwned` when the user has no trader of that id."""
        ...

    async def recent_signals(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The user's newest acknowledged signals as ``signals`` rows (JSON decoded)."""
        ...

    async def signal_history(self, user_id: str, page: HistoryPage) -> list[dict[str, Any]]:
        """A page of the user's signals, newest first (``created_at`` descending, then ``id``
        ascending), after ``page.after``; each row carries ``analysis`` (its
        ``signal_analyses`` row, or None)."""
        ...

    async def load_mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        """The user's mutes (``alert_mutes``) as ``(kind, target)``, oldest first, at most
        ``limit``."""
        ...

    async def set_mute(self, user_id: str, kind: str, target: str, *, muted: bool) -> None:
        """Add (``muted``) or remove one of the user's mutes, durably, before returning (setting
        one twice changes nothing)."""
        ...

    async def upsert_machine(self, machine: MachineRecord) -> None:
        """Insert or replace the ``cloud_machines`` row (by ``machine_id``), durably."""
        ...

    async def heartbeat(self, machine_id: str, at_ms: int) -> None:
        """Set ``last_health_check`` (and ``updated_at``) of the machine row."""
        ...

    async def load_machine(self, machine_id: str) -> MachineRecord | None:
        """The machine row, if any."""
        ...

    def statistics(self) -> StoreStatistics:
        """Counters of the write path."""
        ...
