"""The durable spool: rows accepted by the store and not yet acknowledged by Supabase.

A SQLite file (``StoreConfig.spool_path``), WAL journal, ``synchronous=FULL``: appending a batch
is one transaction and its commit is the store's acknowledgement, so an acknowledged row
survives kill -9 and power loss. The drain (:mod:`vyx.store.supabase.drain`) reads rows in
``seq`` order, applies them to PostgREST and deletes them only after PostgREST said so; a row
applied but not yet deleted when the process dies is sent again after the restart, which the
idempotent upserts make harmless. Rows rejected for good move to ``quarantine`` with their error
(and can be queued again with :meth:`Spool.requeue_quarantined` once the cause is fixed).
``meta`` keeps a few values beside the rows (the machine's ``cloud_machines.id``);
``alert_outbox`` the alerts owed for the rows appended (:mod:`vyx.store.outbox`: they are
written with their signals and never sent to Supabase).

Blocking; one connection, called from one worker thread at a time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from vyx.store import outbox

DDL = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER,
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    error TEXT NOT NULL,
    code TEXT,
    quarantined_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@attrs.frozen
class SpooledRow:
    """A row waiting in the spool, in wire format (:func:`~vyx.store.supabase.wire.to_wire`)."""

    seq: int
    table: str
    key: str
    row: dict[str, Any]


@attrs.frozen
class Rejection:
    """A spooled row to quarantine."""

    seq: int
    error: str
    code: str | None = None


class Spool:
    """The spool file. Methods are blocking; use one thread at a time."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> Spool:
        """Open (creating if needed) the spool at ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(DDL + outbox.DDL)
        outbox.upgrade(conn)
        return cls(conn, path)

    def close(self) -> None:
        """Checkpoint the WAL and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()

    def append(
        self,
        rows: Iterable[tuple[str, str, str]],
        alerts: Sequence[tuple[Any, ...]] = (),
    ) -> int:
        """Append ``(table, key, payload JSON)`` rows and the alerts owed for them
        (:func:`vyx.store.outbox.encode`d ``alert_outbox`` rows, which stay on the machine) in
        one durable transaction; returns the number of rows appended. Raises
        ``sqlite3.Error`` (nothing appended) on failure."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            cursor = conn.executemany(
                "INSERT INTO queue (table_name, row_key, payload) VALUES (?, ?, ?)", rows
            )
            appended = cursor.rowcount
            conn.executemany(outbox.INSERT_SQL, alerts)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return appended

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection (for :mod:`vyx.store.outbox`'s queries; same one-thread rule)."""
        return self._conn

    def peek(self, limit: int, after: int = 0) -> list[SpooledRow]:
        """The oldest ``limit`` queued rows with ``seq > after``, in order."""
        cursor = self._conn.execute(
            "SELECT seq, table_name, row_key, payload FROM queue WHERE seq > ? "
            "ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [SpooledRow(s, t, k, json.loads(p)) for s, t, k, p in cursor]

    def settle(
        self,
        done: Sequence[int],
        rejected: Sequence[Rejection] = (),
        enqueue: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Delete applied rows, move rejected ones to ``quarantine`` and queue ``enqueue``
        (the events reporting the rejections), in one transaction."""
        conn = self._conn
        now = int(time.time() * 1000)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO quarantine "
                "(seq, table_name, row_key, payload, error, code, quarantined_at) "
                "SELECT seq, table_name, row_key, payload, ?, ?, ? FROM queue WHERE seq = ?",
                [(r.error, r.code, now, r.seq) for r in rejected],
            )
            gone = [*done, *(r.seq for r in rejected)]
            conn.executemany("DELETE FROM queue WHERE seq = ?", [(s,) for s in gone])
            conn.executemany(
                "INSERT INTO queue (table_name, row_key, payload) VALUES (?, ?, ?)", enqueue
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def quarantine_new(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Quarantine ``(table, key, payload, error)`` rows that never entered the queue."""
        now = int(time.time() * 1000)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO quarantine (table_name, row_key, payload, error, quarantined_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(*r, now) for r in rows],
            )

    def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """Quarantined rows, oldest first: ``table, key, row, error, code, quarantined_at``."""
        cursor = self._conn.execute(
            "SELECT table_name, row_key, payload, error, code, quarantined_at FROM quarantine "
            "ORDER BY id LIMIT ?",
            (limit,),
        )
        return [
            {
                "table": t,
                "key": k,
                "row": json.loads(p),
                "error": e,
                "code": c,
                "quarantined_at": at,
            }
            for t, k, p, e, c, at in cursor
        ]

    def requeue_quarantined(self) -> int:
        """Queue every quarantined row again (behind the rows queued now); returns how many."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            moved = self._conn.execute(
                "INSERT INTO queue (table_name, row_key, payload) "
                "SELECT table_name, row_key, payload FROM quarantine ORDER BY id"
            ).rowcount
            self._conn.execute("DELETE FROM quarantine")
        return moved

    def get_meta(self, key: str) -> str | None:
        """A value the store keeps beside the rows (e.g. the machine's row id), if set."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set ``key`` durably."""
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def counts(self) -> tuple[int, int, int]:
        """``(queued rows, highest seq ever assigned, quarantined rows)``."""
        queued = self._conn.execute("SELECT count(*) FROM queue").fetchone()[0]
        top = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").fetchone()
        quarantined = self._conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        return int(queued), int(top[0]) if top else 0, int(quarantined)

    def size_bytes(self) -> int:
        """Bytes on disk: the database file plus its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total
