"""The analysis queue on disk: jobs the analyzer accepted and has not stored yet, so a restart
resumes them and a kill loses none.

A SQLite file (``VYX_DATA_DIR/analysis-queue.sqlite3``; WAL, ``synchronous=FULL``), one row per
job: the signal, the trader's settings, the candles (the float64 arrays as zlib-compressed
bytes), its priority and its deadline (the signal's ``created_at`` plus
``AnalyzerOptions.resume_within_s``). :class:`JournalWriter` keeps the operations in the order
the analyzer makes them — ``add`` when :meth:`~vyx.analysis.ConcurrentAnalyzer.submit` accepts
a job (``submit`` never blocks: a task writes them, in a worker thread, at once), ``remove``
once the job's row is acknowledged by the store, or the job is evicted, abandoned for the token
budget, or crashed — and writes each batch in one transaction. At start the analyzer queues
again every job still before its deadline and drops the others (counted as ``expired``).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import trio
from loguru import logger

from vyx.analysis.inputs import AnalysisContext, Candles, TraderSettings
from vyx.signal import Signal

#: The journal's file name in ``VYX_DATA_DIR``.
JOURNAL_FILE = "analysis-queue.sqlite3"

DDL = """
CREATE TABLE IF NOT EXISTS jobs (
    signal_id TEXT PRIMARY KEY,
    priority INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    signal TEXT NOT NULL,
    trader TEXT NOT NULL,
    symbol TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    open_time BLOB NOT NULL,
    bar_values BLOB NOT NULL,
    n_fields INTEGER NOT NULL
);
"""


@attrs.frozen(eq=False)
class SavedJob:
    """An accepted analysis as the journal keeps it."""

    signal: Signal
    context: AnalysisContext
    #: Epoch ms after which it is not worth analysing any more.
    deadline_ms: int


Operation = tuple[Literal["add"], SavedJob] | tuple[Literal["remove"], str]


def _encode(job: SavedJob) -> tuple[Any, ...]:
    signal = attrs.asdict(job.signal, recurse=False)
    signal["matched_conditions"] = list(job.signal.matched_conditions)
    signal["indicator_data"] = dict(job.signal.indicator_data)
    trader = attrs.asdict(job.context.trader, recurse=False)
    trader["risk_management"] = dict(job.context.trader.risk_management)
    candles = job.context.candles
    values = np.ascontiguousarray(candles.values, dtype=np.float64)
    return (
        job.signal.id,
        job.context.priority,
        job.deadline_ms,
        json.dumps(signal),
        json.dumps(trader),
        candles.symbol,
        candles.timeframe,
        zlib.compress(np.ascontiguousarray(candles.open_time, dtype=np.int64).tobytes(), 1),
        zlib.compress(values.tobytes(), 1),
        values.shape[0],
    )


def _decode(row: Sequence[Any]) -> SavedJob:
    _, priority, deadline, signal, trader, symbol, timeframe, times, values, n_fields = row
    s = json.loads(signal)
    s["matched_conditions"] = tuple(s["matched_conditions"])
    open_time = np.frombuffer(zlib.decompress(times), dtype=np.int64).copy()
    bars = np.frombuffer(zlib.decompress(values), dtype=np.float64).reshape(n_fields, -1).copy()
    context = AnalysisContext(
        TraderSettings(**json.loads(trader)), Candles(symbol, timeframe, open_time, bars), priority
    )
    return SavedJob(Signal(**s), context, int(deadline))


class Journal:
    """The file. Blocking; one thread at a time."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open (creating if needed) the journal at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(DDL)
        return cls(conn)

    def apply(self, ops: Sequence[Operation]) -> None:
        """Apply ``ops`` in order, in one transaction."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, arg in ops:
                if kind == "add":
                    assert isinstance(arg, SavedJob)
                    conn.execute(
                        "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?)", _encode(arg)
                    )
                else:
                    conn.execute("DELETE FROM jobs WHERE signal_id = ?", (arg,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def load(self) -> list[SavedJob]:
        """Every job, oldest deadline first (a row that does not decode is dropped, logged)."""
        jobs = []
        for row in self._conn.execute("SELECT * FROM jobs ORDER BY deadline_ms, signal_id"):
            try:
                jobs.append(_decode(row))
            except (ValueError, TypeError, KeyError, zlib.error) as exc:
                logger.warning("analysis queue: job {} unreadable ({}); dropped", row[0], exc)
                self._conn.execute("DELETE FROM jobs WHERE signal_id = ?", (row[0],))
        return jobs

    def close(self) -> None:
        """Checkpoint and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()


class JournalWriter:
    """Queue operations from the Trio thread (never blocking); :meth:`run` writes them."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._ops: list[Operation] = []
        self._wake = trio.Event()
        self._limiter = trio.CapacityLimiter(1)

    def add(self, job: SavedJob) -> None:
        """Keep ``job`` (written at once, in the background)."""
        self._ops.append(("add", job))
        self._wake.set()

    def remove(self, signal_id: str) -> None:
        """Forget the job of ``signal_id``."""
        self._ops.append(("remove", signal_id))
        self._wake.set()

    async def call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in the journal's thread."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def write(self) -> None:
        """Write the operations queued so far (a failure is logged; they are dropped)."""
        ops, self._ops = self._ops, []
        if not ops:
            return
        try:
            await self.call(self.journal.apply, ops)
        except sqlite3.Error as exc:
            logger.error("analysis queue: {} changes not written: {}", len(ops), exc)
        except BaseException:
            # Cancelled before the thread ran (a started thread call always completes):
            # keep them, in order, for the shielded write at exit.
            self._ops = ops + self._ops
            raise

    async def run(self) -> None:
        """Write batches until cancelled; then (shielded, bounded) what is left, and close."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                await self.write()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await self.write()
                await self.call(self.journal.close)
