"""The spool drain: applies spooled rows to PostgREST in order, then deletes them.

Rows are read oldest first (``batch_rows`` at a time) and sent as one upsert per consecutive
run of the same table (``POST /rest/v1/{table}?on_conflict={key}``, ``Prefer:
resolution=merge-duplicates``, or ``ignore-duplicates`` for metrics and events, which are
immutable). A key repeated inside a run is sent once (PostgreSQL refuses an upsert that touches
the same row twice). What happens on failure depends on :func:`~vyx.store.supabase.wire.classify`:

- ``retry``/``blocked``: nothing after the failed run is sent; the drain waits the
  :class:`~vyx.retry.RetryPolicy` delay and tries the same run again, for as long
  as it takes (the rows are durable in the spool, so an outage only delays them);
- ``reject``: the run is halved until the rejected rows stand alone (O(k log n) requests for k
  poison rows); they are quarantined with the database's error and the rest land.

Only settled rows (applied or quarantined) leave the spool, so a crash at any point resends at
most the rows in flight, and the upserts make that harmless.

Before its first request the drain asks PostgREST to describe the project's tables, and every
row goes out adapted to them (:mod:`vyx.store.supabase.project`: integer columns, the
``signals`` column naming the machine, the machine's row id). ``cloud_machines`` rows (the
machine's lifecycle: running, heartbeat, stopped, error) are not upserted but written by
:meth:`~vyx.store.supabase.project.Project.write_machine`, one request per row, in their place
in the order; rows of one key in a run are merged, newer columns over older ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any, Literal, TypeVar

import attrs
import trio
from loguru import logger

from vyx.retry import RetryPolicy
from vyx.store.api import QuarantinedRow
from vyx.store.supabase.project import Project
from vyx.store.supabase.rest import PostgrestError, Rest
from vyx.store.supabase.spool import Rejection, Spool, SpooledRow
from vyx.store.supabase.wire import CONFLICT_KEYS, IMMUTABLE_TABLES

T = TypeVar("T")

#: ``(table, key, payload JSON)``: a row as the spool queues it.
SpoolEntry = tuple[str, str, str]

DrainState = Literal["ok", "retrying", "blocked"]


class SpoolIO:
    """The spool from Trio: every call in a worker thread, one at a time. Thread calls are
    not abandoned on cancellation, so a commit in flight always completes."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.limiter = trio.CapacityLimiter(1)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the spool's thread."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)


@attrs.frozen
class DrainStatistics:
    """A snapshot of the drain."""

    #: ``ok``; ``retrying`` (the database is unreachable or failing: 5xx, timeouts, network);
    #: ``blocked`` (it refuses the requests as configured: key, permissions, missing table).
    state: DrainState
    #: Rows applied to PostgREST since start.
    applied_rows: int
    #: Upsert requests sent since start (including failed ones).
    requests: int
    #: Requests that failed (any verdict).
    failures: int
    #: Rows quarantined by the drain since start.
    quarantined: int
    #: The last failure, if any (no secrets: status, code and PostgREST's message).
    last_error: str | None
    #: The last quarantine error, if any.
    last_quarantine: str | None


@attrs.frozen
class _Group:
    key: str
    row: dict[str, Any]
    seqs: tuple[int, ...]


#: Tables whose rows are partial snapshots: repeated keys are merged, newer columns win.
MERGED_TABLES: frozenset[str] = frozenset({"cloud_machines"})


def group_run(table: str, rows: Sequence[SpooledRow]) -> list[_Group]:
    """One entry per key: merged tables keep the newest version (``cloud_machines`` the union
    of the columns, newest first), immutable ones the first."""
    keep_first = table in IMMUTABLE_TABLES
    groups: dict[str, _Group] = {}
    for r in rows:
        old = groups.get(r.key)
        if old is None:
            groups[r.key] = _Group(r.key, r.row, (r.seq,))
        else:
            if table in MERGED_TABLES:
                row = {**old.row, **r.row}
            else:
                row = old.row if keep_first else r.row
            groups[r.key] = _Group(r.key, row, (*old.seqs, r.seq))
    return list(groups.values())


class Drain:
    """Call :meth:`run` in a task; :meth:`wake` after appending; :meth:`wait_applied` to sync."""

    def __init__(
        self,
        io: SpoolIO,
        rest: Rest,
        *,
        project: Project | None = None,
        batch_rows: int = 500,
        on_quarantine: Callable[[QuarantinedRow], SpoolEntry | None] = lambda row: None,
    ) -> None:
        self._io = io
        self._rest = rest
        self.project = project or Project(rest, None)
        self._batch_rows = batch_rows
        self._on_quarantine = on_quarantine
        self._wake = trio.Event()
        self._state: DrainState = "ok"
        self._applied = 0
        self._requests = 0
        self._failures = 0
        self._quarantined = 0
        self._last_error: str | None = None
        self._last_quarantine: str | None = None
        #: Every row with seq <= this is settled (applied or quarantined).
        self.settled_through = 0
        #: Rows that left the queue (applied or quarantined) / that the drain queued itself.
        self.settled_rows = 0
        self.enqueued_rows = 0
        self._waiters: list[tuple[int, trio.Event]] = []

    def wake(self) -> None:
        """New rows are in the spool."""
        self._wake.set()

    def statistics(self) -> DrainStatistics:
        """Counters of the drain."""
        return DrainStatistics(
            state=self._state,
            applied_rows=self._applied,
            requests=self._requests,
            failures=self._failures,
            quarantined=self._quarantined,
            last_error=self._last_error,
            last_quarantine=self._last_quarantine,
        )

    async def wait_applied(self, seq: int) -> None:
        """Return once every spooled row with ``seq`` or lower is settled."""
        if self.settled_through >= seq:
            return
        done = trio.Event()
        self._waiters.append((seq, done))
        self.wake()
        await done.wait()

    async def run(self) -> None:
        """Drain until cancelled, retrying with :attr:`Rest.policy` backoff."""
        policy: RetryPolicy = self._rest.policy
        while True:
            # A fresh event before draining: an append from now on wakes the next pass.
            self._wake = trio.Event()
            try:
                while await self.drain_chunk():
                    pass
            except PostgrestError as exc:
                delay = policy.delay(exc.failure.retry_after_s)
                policy = policy.failed()
                self._state = "blocked" if exc.verdict == "blocked" else "retrying"
                logger.warning(
                    "supabase: {} spooled rows wait ({}); next try in {:.1f} s",
                    self._state,
                    exc,
                    delay,
                )
                await trio.sleep(delay)
                continue
            policy = policy.succeeded()
            self._state = "ok"
            await self._wake.wait()

    async def drain_chunk(self) -> bool:
        """Apply the oldest ``batch_rows`` spooled rows; False when the spool was empty.

        Raises :class:`PostgrestError` (``retry``/``blocked``) with the rows before the failed run
        settled and the rest still spooled."""
        spool = self._io.spool
        # One thread call: the top seq read with an empty queue is exactly what is settled.
        rows, top = await self._io.run(lambda: (spool.peek(self._batch_rows), spool.counts()[1]))
        if not rows:
            self.settled_through = max(self.settled_through, top)
            self._settle_waiters()
            return False
        await self.project.describe()
        for table, run in groupby(rows, key=lambda r: r.table):
            await self._apply_run(table, list(run))
        return True

    async def _apply_run(self, table: str, rows: list[SpooledRow]) -> None:
        done: list[int] = []
        rejected: list[Rejection] = []
        reports: list[SpoolEntry] = []
        try:
            await self._apply(table, group_run(table, rows), done, rejected, reports)
        finally:
            if done or rejected:
                # Shielded: the thread call finishes anyway; this keeps the counters exact.
                with trio.CancelScope(shield=True):
                    await self._io.run(self._io.spool.settle, done, rejected, reports)
                self._applied += len(done)
                self.settled_rows += len(done) + len(rejected)
                self.enqueued_rows += len(reports)
        # Reached only when the whole run is settled (rows are drained in seq order).
        self.settled_through = max(self.settled_through, rows[-1].seq)
        self._settle_waiters()

    async def _apply(
        self,
        table: str,
        groups: list[_Group],
        done: list[int],
        rejected: list[Rejection],
        reports: list[SpoolEntry],
    ) -> None:
        self._requests += 1
        try:
            await self._send(table, groups)
        except PostgrestError as exc:
            self._failures += 1
            self._last_error = str(exc)
            if exc.verdict != "reject":
                raise
            if len(groups) > 1:
                mid = len(groups) // 2
                await self._apply(table, groups[:mid], done, rejected, reports)
                await self._apply(table, groups[mid:], done, rejected, reports)
                return
            group = groups[0]
            error = str(exc.failure)
            rejected.extend(Rejection(s, error, exc.failure.code) for s in group.seqs)
            self._quarantined += len(group.seqs)
            self._last_quarantine = f"{table} {group.key}: {error}"
            logger.error("supabase: quarantined {} row {}: {}", table, group.key, error)
            report = self._on_quarantine(QuarantinedRow(table, group.key, error))
            if report is not None:
                reports.append(report)
            return
        for g in groups:
            done.extend(g.seqs)

    async def _send(self, table: str, groups: list[_Group]) -> None:
        project = self.project
        if project.schema is not None and project.schema.lacks(table):
            return  # settled unsent: the project keeps no such rows (logged by describe)
        if table == "cloud_machines":
            for g in groups:
                held = await project.write_machine(project.adapt(table, g.row))
                if project.machine is not None:
                    await self._io.run(project.machine.learn, held, self._io.spool)
            return
        await self._rest.upsert(
            table,
            [project.adapt(table, g.row) for g in groups],
            on_conflict=CONFLICT_KEYS[table],
            ignore_duplicates=table in IMMUTABLE_TABLES,
        )

    def _settle_waiters(self) -> None:
        keep = []
        for seq, event in self._waiters:
            if seq <= self.settled_through:
                event.set()
            else:
                keep.append((seq, event))
        self._waiters = keep
