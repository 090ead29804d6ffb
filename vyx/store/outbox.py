"""The alerts outbox: one row per (alert, channel), written in the transaction of its signal.

::

    save_signals(signals, alerts)  ─► one transaction: signals rows + alert_outbox rows
    save_analysis(row, alerts)     ─► one transaction: the analysis row + its alert_outbox rows
                                              │ committed: :meth:`AlertOutbox.committed` wakes
                                              ▼ the notifier
    notifier ── pending(after) ──► sends ── settle(delivered, dead) ──► state, settled_at

``seq`` is the rowid: rows are never deleted, so it only grows (the order alerts are read in).
The table lives next to the rows it announces: in the embedded database (SQLite backend) or in
the spool file (Supabase backend: the rows go to Supabase, the outbox stays on the machine; a
signal spooled is an alert owed, whether or not Supabase has it yet). Each row's ``id`` is
``<alert key> <channel>`` — the dedupe key: inserts are ``ON CONFLICT DO NOTHING``, so a
signal saved again (a replay, a restart re-screening a bar) never queues an alert already
queued or delivered. A row is ``pending`` until the channel's service acknowledged it
(``delivered``, with the service's message id in ``ref`` when the alert was sent alone) or it
was given up (``dead``). Blocking functions take the connection; :class:`AlertOutbox` calls
them from Trio through the store's one database thread.
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
    ref TEXT
);
CREATE INDEX IF NOT EXISTS alert_outbox_pending ON alert_outbox (seq) WHERE state = 'pending';
"""

#: Columns written by an insert (``seq`` is assigned).
COLUMNS = ("id", "alert_key", "channel", "notice", "state", "created_at", "settled_at", "ref")

INSERT_SQL = (
    f"INSERT INTO alert_outbox ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING"
)

#: Rows read per :meth:`AlertOutbox.pending` call.
PAGE_ROWS = 1000


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


def settle(conn: sqlite3.Connection, settlement: Settlement, now_ms: int) -> None:
    """Mark rows delivered or dead, in one transaction (only pending rows change)."""
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
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per state."""
    rows = conn.execute("SELECT state, count(*) FROM alert_outbox GROUP BY state")
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
    ) -> None:
        self._run = run
        self._conn = conn
        self._changed = trio.Event()

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
        """Record deliveries and give-ups durably (not abandoned when cancelled)."""
        now = int(time.time() * 1000)
        await self._run(lambda: settle(self._conn(), settlement, now))

    async def counts(self) -> dict[str, int]:
        """Rows per state."""
        result: dict[str, int] = await self._run(lambda: counts(self._conn()))
        return result
