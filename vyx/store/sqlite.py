"""The embedded SQLite database: synchronous, called from one thread at a time.

Durability: WAL journal with ``synchronous=FULL``. In WAL mode, NORMAL already survives a
process crash (kill -9: committed pages are in the OS cache), but a power cut or a kernel panic
may roll back the last transactions, and for this database that means losing signals the writer
has already acknowledged. FULL fsyncs the WAL at every commit; the writer commits one
transaction per batch (a few per second at most), so the price is one fsync per batch, not per
row — ``benchmarks/store_bench.py`` measures both.

For the SQLite backend the spool *is* the database: a batch is applied in one transaction, and
the commit is the acknowledgement. A remote backend (Supabase) appends the batch to a spool
file first and applies it afterwards; the same quarantine rules hold.

A batch is written with one savepoint and fast ``executemany`` runs; if a row violates a
constraint the savepoint is rolled back and the batch is replayed row by row, each row in its
own savepoint, so the poison row is quarantined (with its error) and every other row lands.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vyx.store import outbox
from vyx.store.api import (
    HistoryPage,
    Pending,
    PendingRow,
    QuarantinedRow,
    WriteOutcome,
    rows_of,
)
from vyx.store.errors import StoreUnavailable, TraderNotOwned
from vyx.store.records import (
    MachineRecord,
    Trader,
    merge_trader_edit,
    mute_row_id,
    new_trader_row,
    to_json,
)
from vyx.store.schema import (
    ADDED_COLUMNS,
    COLUMNS,
    DDL,
    JSON_COLUMNS,
    SCHEMA_VERSION,
    upsert_sql,
)
from vyx.store.sqlite_batch import Run, batch_runs, encode, statements

if TYPE_CHECKING:
    pass

Synchronous = Literal["FULL", "NORMAL", "OFF"]

#: Errors that belong to one row (constraint, binding type, integer range), not to the batch.
ROW_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
    OverflowError,
    TypeError,
    ValueError,
)

#: (position in the batch, row, its statements: the row's upsert and its attached rows')
_Encoded = tuple[int, PendingRow, tuple[tuple[str, tuple[Any, ...]], ...]]
#: (position in the batch, row, error)
_Rejected = tuple[int, PendingRow, str]


class SchemaError(Exception):
    """The database was written by a newer Vyx."""


def decode(table: str, row: sqlite3.Row) -> dict[str, Any]:
    """A database row → dict with JSON columns decoded."""
    json_columns = JSON_COLUMNS.get(table, frozenset())
    out = dict(zip(row.keys(), row, strict=True))
    for column in json_columns & out.keys():
        if out[column] is not None:
            # The standard library's decoder: orjson reads an integer beyond 64 bits as a float.
            out[column] = json.loads(out[column])
    return out


def _add_columns(conn: sqlite3.Connection) -> None:
    """Add the :data:`~vyx.store.schema.ADDED_COLUMNS` an older database lacks (additive)."""
    for table, columns in ADDED_COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for column, kind in columns.items():
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


class SqliteDatabase:
    """One connection; every method is blocking (run it in a worker thread, one at a time)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def open(cls, path: Path | str, *, synchronous: Synchronous = "FULL") -> SqliteDatabase:
        """Open (creating if needed) the database at ``path``, WAL mode, schema applied."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode (isolation_level=None): transactions are explicit BEGIN/COMMIT.
        # check_same_thread=False: trio's worker threads take turns, never concurrently.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise SchemaError(f"{path}: schema version {version} is newer than {SCHEMA_VERSION}")
        conn.executescript(
            f"BEGIN; {DDL}; {outbox.DDL}; PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
        )
        _add_columns(conn)
        outbox.upgrade(conn)
        return cls(conn)

    def close(self) -> None:
        """Checkpoint the WAL and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()

    # ------------------------------------------------------------------ batched writes

    def write_batch(self, items: Sequence[Pending]) -> WriteOutcome:
        """Upsert ``items`` in one transaction; quarantine rows rejected for good.

        A batch of good rows is bound straight from its items
        (:func:`~vyx.store.sqlite_batch.batch_runs`) in one ``executemany`` per run; a batch with a
        bad row is written again row by row (:meth:`_write_rows`), the bad rows quarantined.
        Raises :class:`StoreUnavailable` (nothing committed) when the batch as a whole fails."""
        try:
            runs = batch_runs(items)
        except (TypeError, ValueError):
            runs = None  # a value no column takes: found and quarantined row by row
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if runs is not None and self._apply_all(runs):
                    outcome = WriteOutcome(written=sum(item.size for item in items))
                else:
                    outcome = self._write_rows(rows_of(items))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:  # locked, disk full, I/O: the batch, not a row
            raise StoreUnavailable(f"SQLite batch write failed: {exc}") from exc
        return outcome

    def _apply_all(self, runs: Sequence[Run]) -> bool:
        """Run each statement over its parameters (:class:`~vyx.store.sqlite_batch.Run`, its
        fallback when rows updated in place were missing), in a savepoint; False (rolled back)
        when a row violates a constraint."""
        conn = self._conn
        conn.execute("SAVEPOINT batch")
        try:
            for run in runs:
                cursor = conn.executemany(run.sql, run.params)
                if run.fallback is not None and cursor.rowcount < len(run.params):
                    conn.executemany(*run.fallback)
        except ROW_ERRORS:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            return False
        conn.execute("RELEASE batch")
        return True

    def _write_rows(self, rows: Sequence[PendingRow]) -> WriteOutcome:
        """``rows`` one by one inside the caller's transaction, the rows rejected for good
        quarantined (with their error, in batch order)."""
        encoded: list[_Encoded] = []
        rejected: list[_Rejected] = []
        for i, pending in enumerate(rows):
            try:
                encoded.append((i, pending, statements(pending)))
            except (TypeError, ValueError) as exc:
                rejected.append((i, pending, f"{type(exc).__name__}: {exc}"))
        written = self._apply(encoded, rejected)
        rejected.sort(key=lambda r: r[0])
        now = int(time.time() * 1000)
        self._conn.executemany(
            "INSERT INTO quarantine (table_name, row_key, payload, error, quarantined_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(p.table, p.key, _payload(p.row), err, now) for _, p, err in rejected],
        )
        quarantined = tuple(QuarantinedRow(p.table, p.key, err) for _, p, err in rejected)
        return WriteOutcome(written=written, quarantined=quarantined)

    def _apply(self, encoded: list[_Encoded], rejected: list[_Rejected]) -> int:
        conn = self._conn
        conn.execute("SAVEPOINT batch")
        by_sql: dict[str, list[tuple[Any, ...]]] = {}
        for _, _, row_statements in encoded:
            for sql, params in row_statements:
                by_sql.setdefault(sql, []).append(params)
        try:
            for sql, params_list in by_sql.items():
                conn.executemany(sql, params_list)
        except ROW_ERRORS:
            conn.execute("ROLLBACK TO batch")
        else:
            conn.execute("RELEASE batch")
            return len(encoded)
        conn.execute("RELEASE batch")
        written = 0
        for i, pending, row_statements in encoded:
            conn.execute("SAVEPOINT one")
            try:
                for sql, params in row_statements:
                    conn.execute(sql, params)
            except ROW_ERRORS as exc:
                conn.execute("ROLLBACK TO one")
                rejected.append((i, pending, f"{type(exc).__name__}: {exc}"))
            else:
                written += 1
            conn.execute("RELEASE one")
        return written

    # ------------------------------------------------------------------ direct writes

    def upsert(self, table: str, row: Mapping[str, Any]) -> None:
        """One row, committed before returning (traders, machine rows)."""
        with self._transaction():
            self._conn.execute(upsert_sql(table), encode(table, row))

    def upsert_trader(self, trader: Trader, now_ms: int) -> None:
        """Insert ``trader`` for ``trader.user_id``, or merge the edit into that user's row
        (:func:`~vyx.store.records.merge_trader_edit`), in one transaction. Raises
        :class:`~vyx.store.errors.TraderNotOwned` when the id is another user's."""
        with self._transaction():
            found = self.select("traders", "id = ?", (trader.id,))
            if not found:
                row = {**trader.to_row(), **new_trader_row(trader, now_ms)}
                self._conn.execute(upsert_sql("traders"), encode("traders", row))
                return
            if found[0]["user_id"] != trader.user_id:
                raise TraderNotOwned(trader.id, "trader_upsert")
            values = {**merge_trader_edit(found[0], trader), "updated_at": now_ms}
            encoded = dict(zip(COLUMNS["traders"], encode("traders", values), strict=True))
            sets = ", ".join(f"{c} = ?" for c in values)
            self._conn.execute(
                f"UPDATE traders SET {sets} WHERE id = ? AND user_id = ?",
                (*(encoded[c] for c in values), trader.id, trader.user_id),
            )

    def delete_trader(self, trader_id: str, user_id: str) -> None:
        """Remove ``user_id``'s trader; raises :class:`~vyx.store.errors.TraderNotOwned` when
        the user has none of that id."""
        with self._transaction():
            gone = self._conn.execute(
                "DELETE FROM traders WHERE id = ? AND user_id = ?", (trader_id, user_id)
            ).rowcount
            if not gone:
                raise TraderNotOwned(trader_id, "trader_remove")

    def heartbeat(self, machine_id: str, at_ms: int) -> None:
        """Set the machine row's ``last_health_check``."""
        with self._transaction():
            self._conn.execute(
                "UPDATE cloud_machines SET last_health_check = ?, updated_at = ? "
                "WHERE machine_id = ?",
                (at_ms, at_ms, machine_id),
            )

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection (for :mod:`vyx.store.outbox`'s queries; same one-thread rule)."""
        return self._conn

    def _transaction(self) -> sqlite3.Connection:
        # sqlite3.Connection as a context manager commits or rolls back the open transaction.
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    # ------------------------------------------------------------------ reads

    def select(
        self, table: str, where: str = "", params: Sequence[Any] = (), tail: str = ""
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` (decoded); ``where``/``tail`` are trusted SQL fragments."""
        sql = f"SELECT * FROM {table}" + (f" WHERE {where}" if where else "") + f" {tail}"
        return [decode(table, r) for r in self._conn.execute(sql, tuple(params))]

    def traders(self, user_id: str, *, include_disabled: bool) -> list[Trader]:
        """The user's traders, by name."""
        where = "user_id = ?" + ("" if include_disabled else " AND enabled = 1")
        rows = self.select("traders", where, (user_id,), "ORDER BY name, id")
        return [Trader.from_row(r) for r in rows]

    def recent_signals(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        """Newest signals first."""
        tail = "ORDER BY created_at DESC, id LIMIT ?"
        return self.select("signals", "user_id = ?", (user_id, limit), tail)

    def signal_history(self, user_id: str, page: HistoryPage) -> list[dict[str, Any]]:
        """A page of the user's signals with their analyses (see ``Store.signal_history``)."""
        where, params = ["user_id = ?"], list[Any]([user_id])
        if page.after is not None:
            where.append("(created_at < ? OR (created_at = ? AND id > ?))")
            params += [page.after[0], page.after[0], page.after[1]]
        for column, value in (("trader_id", page.trader_id), ("symbol", page.symbol)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        tail = "ORDER BY created_at DESC, id LIMIT ?"
        rows = self.select("signals", " AND ".join(where), (*params, page.limit), tail)
        ids = [r["id"] for r in rows]
        found: dict[str, dict[str, Any]] = {}
        if ids:
            marks = ", ".join("?" * len(ids))
            for a in self.select(
                "signal_analyses", f"user_id = ? AND signal_id IN ({marks})", (user_id, *ids)
            ):
                found[a["signal_id"]] = a
        return [{**r, "analysis": found.get(r["id"])} for r in rows]

    def mutes(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        """The user's mutes, oldest first."""
        rows = self._conn.execute(
            "SELECT kind, target FROM alert_mutes WHERE user_id = ? ORDER BY created_at, id "
            "LIMIT ?",
            (user_id, limit),
        )
        return [(str(r["kind"]), str(r["target"])) for r in rows]

    def set_mute(self, user_id: str, kind: str, target: str, muted: bool, now_ms: int) -> None:
        """Add or remove one mute of the user, committed before returning."""
        row_id = mute_row_id(user_id, kind, target)
        with self._transaction():
            if muted:
                self._conn.execute(
                    "INSERT INTO alert_mutes (id, user_id, kind, target, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (row_id, user_id, kind, target, now_ms),
                )
            else:
                self._conn.execute(
                    "DELETE FROM alert_mutes WHERE id = ? AND user_id = ?", (row_id, user_id)
                )

    def outcomes(
        self, user_id: str, *, complete: bool, limit: int, trader_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The user's (or one trader's) newest ``signal_outcomes`` rows (by signal bar),
        complete or open."""
        tail = "ORDER BY bar_open_time DESC, signal_id LIMIT ?"
        where = "user_id = ? AND complete = ?"
        params: list[Any] = [user_id, int(complete)]
        if trader_id is not None:
            where += " AND trader_id = ?"
            params.append(trader_id)
        rows = self.select("signal_outcomes", where, (*params, limit), tail)
        for row in rows:
            row["complete"] = bool(row["complete"])
        return rows

    def machine(self, machine_id: str) -> MachineRecord | None:
        """The ``cloud_machines`` row of ``machine_id``."""
        rows = self.select("cloud_machines", "machine_id = ?", (machine_id,))
        return MachineRecord.from_row(rows[0]) if rows else None

    def quarantined(self, limit: int = 100) -> list[dict[str, Any]]:
        """Quarantined rows, oldest first."""
        return self.select("quarantine", tail=f"ORDER BY seq LIMIT {int(limit)}")

    def count(self, table: str) -> int:
        """Rows in ``table``."""
        return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _payload(row: Mapping[str, Any]) -> str:
    try:
        return to_json(dict(row))
    except (TypeError, ValueError):
        return json.dumps({k: repr(v) for k, v in row.items()})
