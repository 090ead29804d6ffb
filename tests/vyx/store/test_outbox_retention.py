"""The outbox does not grow forever: settled rows go after the retention, pending ones stay,
and ``seq`` keeps growing across a prune (the notifier reads new rows by it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vyx.store import outbox
from vyx.store.outbox import (
    PRUNE_EVERY_S,
    RETENTION_S,
    AlertOutbox,
    AlertRow,
    Settlement,
    insert,
    pending,
    prune,
    settle,
)

#: The table as the first version made it (no ``reason``): an older data directory's.
OLD_DDL = outbox.DDL.replace("ref TEXT,\n    reason TEXT", "ref TEXT")

DAY_MS = 86_400_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(OLD_DDL)
    outbox.upgrade(db)
    yield db
    db.close()


def add(conn: sqlite3.Connection, *keys: str, channel: str = "json:a") -> None:
    insert(conn, [AlertRow(k, channel, {"kind": "signal"}).to_row(0) for k in keys])


def seqs(conn: sqlite3.Connection) -> dict[str, int]:
    return {k: s for s, k in conn.execute("SELECT seq, alert_key FROM alert_outbox")}


def test_an_older_table_gains_the_reason_column() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(OLD_DDL)
    outbox.upgrade(db)
    outbox.upgrade(db)  # idempotent
    assert "reason" in {r[1] for r in db.execute("PRAGMA table_info(alert_outbox)")}


def test_prune_deletes_old_settled_rows_keeps_pending_and_the_newest(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "a", "b", "c", "d")
    settle(conn, Settlement(delivered=(("a", "json:a", "m1"),), dead=(("b", "json:a"),)), DAY_MS)
    settle(conn, Settlement(delivered=(("d", "json:a", None),)), DAY_MS)
    before = seqs(conn)
    assert prune(conn, DAY_MS) == 0  # settled at the limit: kept
    # "c" is pending (however old: still owed); "d" is the newest row (its seq stays taken)
    assert prune(conn, DAY_MS + 1) == 2
    assert set(seqs(conn)) == {"c", "d"}
    add(conn, "e")
    assert seqs(conn)["e"] > before["d"]
    assert [e.key for e in pending(conn, after=before["c"], limit=10)] == ["e"]


def test_the_dedupe_of_a_replay_reaches_back_as_far_as_the_retention(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "a", "b")
    settle(conn, Settlement(delivered=(("a", "json:a", None),)), 0)
    last_ms = RETENTION_S * 1000  # the retention's last moment: "a" is still kept
    settle(conn, Settlement(), last_ms, prune_before_ms=last_ms - RETENTION_S * 1000)
    add(conn, "a")  # a replay of its signal: not queued again
    assert [e.key for e in pending(conn, 0, 10)] == ["b"]
    settle(conn, Settlement(), last_ms + 1, prune_before_ms=1)
    add(conn, "a")  # past it, the row is gone: a replay would queue it again (README Limits)
    assert [e.key for e in pending(conn, 0, 10)] == ["b", "a"]


def test_muted_rows_are_recorded_apart_and_pruned_like_the_others(
    conn: sqlite3.Connection,
) -> None:
    add(conn, "a", "b", "c")
    settle(conn, Settlement(muted=(("a", "json:a"),), dead=(("b", "json:a"),)), 0)
    assert outbox.counts(conn) == {"muted": 1, "dead": 1, "pending": 1}
    assert settle(conn, Settlement(), 10, prune_before_ms=1) == 2
    assert outbox.counts(conn) == {"pending": 1}


async def test_settling_prunes_at_most_once_an_hour(conn: sqlite3.Connection) -> None:
    wall = [RETENTION_S + 1.0]

    async def run(call: Callable[[], Any]) -> Any:
        return call()

    journal = AlertOutbox(run, lambda: conn, wall=lambda: wall[0])
    add(conn, "old", "young", "x", "y", "z")
    settle(conn, Settlement(delivered=(("old", "json:a", None),)), 0)
    settle(conn, Settlement(delivered=(("young", "json:a", None),)), 3_600_000)
    await journal.settle(Settlement(delivered=(("x", "json:a", None),)))
    assert "old" not in seqs(conn)  # the run's first settle prunes
    assert "young" in seqs(conn)
    wall[0] += PRUNE_EVERY_S - 1
    await journal.settle(Settlement(delivered=(("y", "json:a", None),)))
    assert "young" in seqs(conn)  # past the retention now, but pruned within the hour
    wall[0] += 1
    await journal.settle(Settlement(delivered=(("z", "json:a", None),)))
    assert "young" not in seqs(conn)
    assert await journal.counts() == {"delivered": 3}
