"""The batch writer: a bounded queue of rows, written to a :class:`~vyx.store.api.Sink` in
batches when a batch is full (``batch_rows``) or its oldest row is ``max_age_s`` old.

Backend-neutral: the SQLite store and (later) the Supabase store's spool both sit behind it.
Producers wait when the queue is full (backpressure, never an unbounded buffer). A batch that
fails as a whole (:class:`~vyx.store.errors.StoreUnavailable`) is kept and retried with capped,
jittered backoff; rows rejected for good are quarantined by the sink and counted here, so a
poison row neither blocks the rows behind it nor is retried forever.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import trio
from loguru import logger

from vyx.retry import Backoff
from vyx.signal import Signal
from vyx.store.api import (
    Pending,
    PendingRow,
    PendingRows,
    PendingSignals,
    Sink,
    StoreStatistics,
    WriteOutcome,
)
from vyx.store.errors import StoreClosed, StoreUnavailable
from vyx.store.outbox import AlertRow
from vyx.store.row_queue import RowQueue


@attrs.frozen
class BatchPolicy:
    """When to write."""

    batch_rows: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    max_age_s: float = attrs.field(default=0.25, validator=attrs.validators.gt(0))
    buffer_rows: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    backoff: Backoff = attrs.field(factory=lambda: Backoff(initial=0.1, maximum=5.0))


@attrs.frozen
class _FlushRequest:
    done: trio.Event


_Item = Pending | _FlushRequest


class BatchWriter:
    """Queue rows with :meth:`put`; :meth:`run` writes them; :meth:`drain` empties the queue."""

    def __init__(self, sink: Sink, policy: BatchPolicy) -> None:
        self._sink = sink
        self._policy = policy
        self._queue = RowQueue[_Item](policy.buffer_rows)
        self._batch: list[Pending] = []
        self._batch_rows = 0
        self._flushes: list[trio.Event] = []
        self._batch_started = math.inf
        self._closed = False
        self._written = 0
        self._batches = 0
        self._failures = 0
        self._quarantined = 0
        self._last_error: str | None = None
        # Rows accepted by put() and not yet acknowledged (queued, or taken into a batch).
        self._pending = 0

    @property
    def batch_rows(self) -> int:
        """Rows a batch is written at (a close's signals are queued in items of this size)."""
        return self._policy.batch_rows

    async def put(self, rows: Sequence[Pending]) -> None:
        """Queue ``rows`` (each item counts :attr:`~vyx.store.api.PendingRow.size` rows),
        waiting while the queue is full. Raises :class:`StoreClosed`.

        While the queue has room nothing yields: a close's signals are queued in one go,
        and whoever put them carries on (pushes them to the browsers) in the same step.
        Cancellation: the items queued before it stay queued.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        for row in rows:
            if self._closed:
                raise StoreClosed("the store is shut down")
            try:
                await self._queue.put(row, row.size)
            except trio.ClosedResourceError:
                raise StoreClosed("the store is shut down") from None
            self._pending += row.size

    async def flush(self) -> None:
        """Return once every row queued before this call is acknowledged by the sink."""
        if self._closed:
            raise StoreClosed("the store is shut down")
        done = trio.Event()
        try:
            await self._queue.put(_FlushRequest(done), 0)
        except trio.ClosedResourceError:
            raise StoreClosed("the store is shut down") from None
        await done.wait()

    def statistics(self) -> StoreStatistics:
        """Counters of the write path."""
        pending = self._pending
        # The age of the batch being collected or written (rows queued behind it are younger).
        age = max(0.0, trio.current_time() - self._batch_started) if self._batch else 0.0
        return StoreStatistics(
            pending_rows=pending,
            spooled_rows=0,
            rows_written=self._written,
            batches=self._batches,
            failures=self._failures,
            quarantined=self._quarantined,
            oldest_pending_s=age,
            last_error=self._last_error,
        )

    async def run(self) -> None:
        """Write batches until cancelled. Rows taken from the queue but not yet written stay
        in the writer for :meth:`drain`."""
        while True:
            self._take(*await self._queue.get())
            self._take_queued()
            with trio.move_on_at(self._batch_started + self._policy.max_age_s):
                while self._batch_rows < self._policy.batch_rows and not self._flushes:
                    self._take(*await self._queue.get())
                    self._take_queued()
            await self._write_batch()

    async def drain(self) -> None:
        """Stop accepting rows and write everything queued (call it shielded, with a
        deadline: it retries a failing sink until cancelled)."""
        self._closed = True
        while True:
            while self._batch_rows < self._policy.batch_rows:
                try:
                    self._take(*self._queue.get_nowait())
                except trio.WouldBlock:
                    break
            if not self._batch and not self._flushes:
                break
            await self._write_batch()
        # Wake producers still waiting on a full queue: they get StoreClosed.
        self._queue.close()

    def _take_queued(self) -> None:
        """Take what is already queued, up to a full batch (one task switch for a close's rows,
        not one per row; an item is never split, so a batch may hold a little more)."""
        while self._batch_rows < self._policy.batch_rows and not self._flushes:
            try:
                self._take(*self._queue.get_nowait())
            except trio.WouldBlock:
                return

    def _take(self, item: _Item, rows: int) -> None:
        if isinstance(item, _FlushRequest):
            self._flushes.append(item.done)
            return
        if not self._batch:
            # The writer waits on the queue while idle, so a batch's first row is taken the
            # moment it is queued; while a write is in flight, rows wait at most that long more.
            self._batch_started = trio.current_time()
        self._batch.append(item)
        self._batch_rows += rows

    async def _write_batch(self) -> None:
        backoff = self._policy.backoff
        while self._batch:
            try:
                outcome: WriteOutcome = await self._sink.persist(self._batch)
            except StoreUnavailable as exc:
                self._failures += 1
                self._last_error = str(exc)
                logger.warning(
                    "store: batch of {} rows failed, retrying: {}", self._batch_rows, exc
                )
                await trio.sleep(backoff.delay())
                backoff = backoff.failed()
                continue
            # No checkpoint between the sink's return and here: the acknowledgement is exact.
            self._written += outcome.written
            self._quarantined += len(outcome.quarantined)
            self._batches += 1
            self._pending -= self._batch_rows
            for q in outcome.quarantined:
                logger.error("store: quarantined {} row {}: {}", q.table, q.key, q.error)
            self._batch = []
            self._batch_rows = 0
            self._batch_started = math.inf
        for done in self._flushes:
            done.set()
        self._flushes = []


class QueuedWrites:
    """The batched ``save_*`` methods of :class:`~vyx.store.api.Store`, for a store whose
    :attr:`writer` is a :class:`BatchWriter`."""

    writer: BatchWriter

    async def save_signals(
        self, signals: Iterable[Signal], alerts: Mapping[str, Sequence[AlertRow]] | None = None
    ) -> None:
        """Queue signals (upsert by id), each with its alerts (one transaction), as items of
        :attr:`BatchWriter.batch_rows` signals (one queue operation each, not one a row)."""
        signals = tuple(signals)
        owed: dict[str, tuple[PendingRow, ...]] = {}
        if alerts:
            now = int(time.time() * 1000)
            for s in signals:
                rows = _outbox(alerts.get(s.id, ()), now)
                if rows:
                    owed[s.id] = rows
        step = self.writer.batch_rows
        chunks = [signals[i : i + step] for i in range(0, len(signals), step)]
        await self.writer.put(
            [
                PendingSignals.of(c, {s.id: owed[s.id] for s in c if s.id in owed} if owed else {})
                for c in chunks
            ]
        )

    async def save_analysis(self, row: Mapping[str, Any], alerts: Sequence[AlertRow] = ()) -> None:
        """Queue a ``signal_analyses`` row (upsert by signal_id) with its alerts."""
        now = int(time.time() * 1000)
        await self.writer.put([PendingRow.of("signal_analyses", row, _outbox(alerts, now))])

    async def save_outcomes(
        self, rows: Iterable[Mapping[str, Any]], *, progressed: bool = False
    ) -> None:
        """Queue ``signal_outcomes`` rows (upsert by signal_id; ``progressed``: rows saved
        before, see :class:`~vyx.store.api.PendingRows`), as items of
        :attr:`BatchWriter.batch_rows` rows."""
        rows = tuple(rows)
        step = self.writer.batch_rows
        await self.writer.put(
            [
                PendingRows.of("signal_outcomes", rows[i : i + step], progressed=progressed)
                for i in range(0, len(rows), step)
            ]
        )

    async def save_metrics(self, row: Mapping[str, Any]) -> None:
        """Queue a ``cloud_metrics`` row (written once by id)."""
        await self.writer.put([PendingRow.of("cloud_metrics", row)])

    async def save_event(self, row: Mapping[str, Any]) -> None:
        """Queue a ``cloud_events`` row (written once by id)."""
        await self.writer.put([PendingRow.of("cloud_events", row)])


def _outbox(alerts: Iterable[AlertRow], now_ms: int) -> tuple[PendingRow, ...]:
    return tuple(PendingRow.of("alert_outbox", a.to_row(now_ms)) for a in alerts)
