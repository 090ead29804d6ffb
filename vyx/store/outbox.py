"""The alerts outbox: one row per (alert, channel), written in the transaction of its signal.

::

    save_signals(signals, alerts)  ─► one transaction: signals rows + alert_outbox rows
    save_analysis(row, alerts)     ─► one transaction: the analysis row + its alert_outbox rows
                                              │ committed: :meth:`AlertOutbox.committed` wakes
                                              ▼ the notifier
    notifier ── pending(after) ──► sends ── settle(delivered, dead, muted) ──► state, settled_at
                                                   │ at most once an hour (:data:`PRUNE_EVERY_S`)
                                                   ▼
                              settled rows older than :data:`RETENTION_S` deleted

``seq`` is the rowid, the order alerts are read in; it only grows: a prune never deletes the
newest row (SQLite gives a new row the largest rowid plus one, so deleting the newest could hand
its seq out again, behind the reader).
The table lives next to the rows it announces: in the embedded database (SQLite backend) or in
the spool file (Supabase backend: the rows go to Supabase, the outbox stays on the machine; a
signal spooled is an alert owed, whether or not Supabase has it yet). Each row's ``id`` is
``<alert key> <channel>`` — the dedupe key: inserts are ``ON CONFLICT DO NOTHING``, so a
signal saved again (a replay, a restart re-screening a bar) never queues an alert already
queued or delivered. A row is ``pending`` until the channel's service acknowledged it
(``delivered``, with the service's message id in ``ref`` when the alert was sent alone) or it
was given up (``dead``; ``reason`` ``muted`` when a mute set after it was queued held it back).
A settled row is kept :data:`RETENTION_S` (the dedupe of a replay reaches that far back), then
deleted: the outbox of a machine that runs for months stays the size of a week of alerts.
Blocking functions take the connection; :class:`AlertOutbox` calls them from Trio through the
store's one database thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import trio

T = TypeVar("T")

TABLE = "alert_outbox"

DDL = """
CREATE TABLE IF NOT EXISTS alert_outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    alert_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    notice TEXT NOT NULL CHECK (json_valid(notice)),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    created_at INTEGER NOT NULL,
    settled_at INTEGER,
    ref TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS alert_outbox_pending ON alert_outbox (seq) WHERE state = 'pending';
"""

#: Columns added after the table was first made: :func:`upgrade` adds them to an older one.
ADDED_COLUMNS = {"reason": "TEXT"}

#: Columns written by an insert (``seq`` is assigned).
COLUMNS = ("id", "alert_key", "channel", "notice", "state", "created_at", "settled_at", "ref")

INSERT_SQL = (
    f"INSERT INTO alert_outbox ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING"
)

#: Rows read per :meth:`AlertOutbox.pending` call.
PAGE_ROWS = 1000

#: A delivered or given-up row is deleted this long after it settled (README, Limits).
RETENTION_S = 7 * 86_400
#: Settled rows are pruned at most this often (by the settle that comes after).
PRUNE_EVERY_S = 3600

#: Why a row was given up without a send: a mute set after it was queued.
MUTED = "muted"


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the :data:`ADDED_COLUMNS` an older table lacks (additive; after :data:`DDL`)."""
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
    for column, kind in ADDED_COLUMNS.items():
        if column not in have:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")


@attrs.frozen
class AlertRow:
    """One alert owed to one channel, as the store writes it."""

    #: The alert: a signal id, or ``<signal id>/analysis``.
    key: str
    #: The channel's ``service:hash`` (never its URL).
    channel: str
    #: What the alert says: the notifier's notice as JSON text (or an object to encode).
    notice: str | Mapping[str, Any]

    @property
    def id(self) -> str:
        """The dedupe key."""
        return f"{self.key} {self.channel}"

    def to_row(self, now_ms: int) -> dict[str, Any]:
        """The ``alert_outbox`` row (pending)."""
        return {
            "id": self.id,
            "alert_key": self.key,
            "channel": self.channel,
            "notice": self.notice,
            "state": "pending",
            "created_at": now_ms,
            "settled_at": None,
            "ref": None,
        }


def encode(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """An ``alert_outbox`` row → insert parameters (a notice given as text is stored as it
    is: the notifier wrote it); raises ``TypeError``/``ValueError`` for a notice object JSON
    cannot carry (NaN included)."""
    unknown = row.keys() - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown column(s) of alert_outbox: {', '.join(sorted(unknown))}")
    notice = row["notice"]
    if not isinstance(notice, str):
        notice = json.dumps(notice, separators=(",", ":"), allow_nan=False)
    return tuple(notice if c == "notice" else row.get(c) for c in COLUMNS)


def insert(conn: sqlite3.Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert rows inside the caller's transaction (a row already there is left as it is)."""
    conn.executemany(INSERT_SQL, [encode(r) for r in rows])


@attrs.frozen
class OutboxEntry:
    """A pending row, read back."""

    seq: int
    key: str
    channel: str
    notice: dict[str, Any]
    created_at: int
    #: For an analysis: the service's id of its signal's message on this channel, when that
    #: signal was delivered alone (an edit or a reply can then refer to it).
    signal_ref: str | None = None


def pending(conn: sqlite3.Connection, after: int, limit: int) -> list[OutboxEntry]:
    """Pending rows with ``seq > after``, oldest first."""
    cursor = conn.execute(
        "SELECT o.seq, o.alert_key, o.channel, o.notice, o.created_at, s.ref "
        "FROM alert_outbox o LEFT JOIN alert_outbox s "
        "ON o.alert_key LIKE '%/analysis' AND s.id = substr(o.alert_key, 1, "
        "length(o.alert_key) - 9) || ' ' || o.channel AND s.state = 'delivered' "
        "WHERE o.state = 'pending' AND o.seq > ? ORDER BY o.seq LIMIT ?",
        (after, limit),
    )
    out = []
    for seq, key, channel, notice, created_at, ref in cursor:
        try:
            decoded = json.loads(notice)
        except ValueError:
            decoded = None
        notice_of = decoded if isinstance(decoded, dict) else {}
        out.append(OutboxEntry(seq, key, channel, notice_of, created_at, ref))
    return out


@attrs.frozen
class Settlement:
    """What the notifier learnt about some rows (one durable write)."""

    #: ``(alert key, channel, service message id or None)`` acknowledged.
    delivered: tuple[tuple[str, str, str | None], ...] = ()
    #: ``(alert key, channel)`` given up.
    dead: tuple[tuple[str, str], ...] = ()
    #: ``(alert key, channel)`` not sent: muted after they were queued (given up, ``muted``).
    muted: tuple[tuple[str, str], ...] = ()


def settle(
    conn: sqlite3.Connection,
    settlement: Settlement,
    now_ms: int,
    *,
    prune_before_ms: int | None = None,
) -> int:
    """Mark rows delivered, dead or muted, in one transaction (only pending rows change);
    with ``prune_before_ms``, delete the rows settled before it in that transaction
    (:func:`prune`). Returns the rows deleted."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "UPDATE alert_outbox SET state = 'delivered', settled_at = ?, ref = ? "
            "WHERE id = ? AND state = 'pending'",
            [(now_ms, ref, f"{key} {channel}") for key, channel, ref in settlement.delivered],
        )
        conn.executemany(
            "UPDATE alert_outbox SET state = 'dead', settled_at = ? "
            "WHERE id = ? AND state = 'pending'",
            [(now_ms, f"{key} {channel}") for key, channel in settlement.dead],
        )
        conn.executemany(
            "UPDATE alert_outbox SET state = 'dead', settled_at = ?, reason = ? "
            "WHERE id = ? AND state = 'pending'",
            [(now_ms, MUTED, f"{key} {channel}") for key, channel in settlement.muted],
        )
        pruned = 0 if prune_before_ms is None else prune(conn, prune_before_ms)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return pruned


def prune(conn: sqlite3.Connection, before_ms: int) -> int:
    """Delete the rows settled (delivered, dead) before ``before_ms`` but the newest row
    (``seq`` must keep growing); pending rows stay however old. Returns how many went."""
    cursor = conn.execute(
        "DELETE FROM alert_outbox WHERE state != 'pending' AND settled_at < ? "
        "AND seq < (SELECT max(seq) FROM alert_outbox)",
        (before_ms,),
    )
    return cursor.rowcount


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per state (``muted``: the given-up rows a mute held back)."""
    rows = conn.execute(
        "SELECT CASE WHEN reason = 'muted' THEN 'muted' ELSE state END, count(*) "
        "FROM alert_outbox GROUP BY 1"
    )
    return {str(state): int(n) for state, n in rows}


class AlertOutbox:
    """The outbox from Trio: every call through the store's database thread (``run``).

    The store calls :meth:`committed` after a transaction that added rows; the notifier reads
    them with :meth:`pending`, waiting on :meth:`changed` (take the event *before* reading, so
    a commit in between is not missed)."""

    def __init__(
        self,
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
        conn: Callable[[], sqlite3.Connection],
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._run = run
        self._conn = conn
        self._wall = wall
        self._changed = trio.Event()
        #: Wall time of the next prune (the first settle of a run prunes).
        self._prune_at = 0.0

    def committed(self) -> None:
        """Rows were added: wake the reader."""
        self._changed.set()
        self._changed = trio.Event()

    def changed(self) -> trio.Event:
        """Set at the next :meth:`committed`."""
        return self._changed

    async def pending(self, after: int = 0, limit: int = PAGE_ROWS) -> Sequence[OutboxEntry]:
        """Pending rows after ``seq``, oldest first."""
        result: list[OutboxEntry] = await self._run(lambda: pending(self._conn(), after, limit))
        return result

    async def settle(self, settlement: Settlement) -> None:
        """Record deliveries and give-ups durably (not abandoned when cancelled); at most
        once per :data:`PRUNE_EVERY_S`, delete the rows settled over :data:`RETENTION_S` ago."""
        wall = self._wall()
        now = int(wall * 1000)
        before: int | None = None
        if wall >= self._prune_at:
            self._prune_at = wall + PRUNE_EVERY_S
            before = now - RETENTION_S * 1000
        await self._run(lambda: settle(self._conn(), settlement, now, prune_before_ms=before))

    async def counts(self) -> dict[str, int]:
        """Rows per state."""
        result: dict[str, int] = await self._run(lambda: counts(self._conn()))
        return result
