"""The alerts outbox in both backends: rows written in their signal's transaction, once per
(alert, channel), quarantined with their signal, read back in order, settled durably."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import attrs
import pytest
from trio.testing import MockClock

from tests.vyx.store.factory import make_signal
from tests.vyx.store.supabase.factory import TRADER, make_analysis
from tests.vyx.store.supabase.fake_postgrest import SERVICE_KEY, FakePostgrest, transport
from tests.vyx.store.supabase.test_store import open_store
from tests.vyx.store.test_sqlite_store import running
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.store import Store
from vyx.store.outbox import AlertRow, Settlement


@pytest.fixture
def fake() -> FakePostgrest:
    return FakePostgrest()


@pytest.fixture
def clock() -> MockClock:
    """Jumps after 20 ms of real idleness (the spool's threads finish before time moves)."""
    return MockClock(autojump_threshold=0.02)


def alerts_for(ids: list[str], *channels: str) -> dict[str, list[AlertRow]]:
    return {i: [AlertRow(i, c, {"kind": "signal", "signal_id": i}) for c in channels] for i in ids}


async def owed(store: Store) -> list[tuple[str, str]]:
    return [(e.key, e.channel) for e in await store.outbox.pending()]


async def check_outbox(store: Store) -> None:
    """Written with the signals, once; delivered ones never come back; analyses too."""
    signals = [make_signal(i, trader=TRADER) for i in range(3)]
    ids = [s.id for s in signals]
    changed = store.outbox.changed()
    await store.save_signals(signals, alerts_for(ids[:2], "json:a", "telegram:b"))
    await store.flush()
    assert changed.is_set()  # the commit woke the notifier
    a, b = "json:a", "telegram:b"
    assert await owed(store) == [(ids[0], a), (ids[0], b), (ids[1], a), (ids[1], b)]
    await store.outbox.settle(
        Settlement(delivered=((ids[0], "json:a", "m-1"),), dead=((ids[1], "telegram:b"),))
    )
    # the same signals again (a replay): nothing is queued twice, nothing delivered comes back
    await store.save_signals(signals, alerts_for(ids, "json:a", "telegram:b"))
    verdict = AlertRow(f"{ids[0]}/analysis", "json:a", {"kind": "verdict"})
    await store.save_analysis(make_analysis(signals[0]), [verdict])
    await store.flush()
    entries = await store.outbox.pending()
    assert [(e.key, e.channel) for e in entries] == [
        (ids[0], b),
        (ids[1], a),
        (ids[2], a),
        (ids[2], b),
        (verdict.key, a),
    ]
    # the analysis knows the message of its signal (delivered alone as m-1)
    assert entries[-1].signal_ref == "m-1"
    assert [e.key for e in await store.outbox.pending(after=entries[2].seq)] == [
        ids[2],
        verdict.key,
    ]
    assert await store.outbox.counts() == {"pending": 5, "delivered": 1, "dead": 1}


async def test_sqlite_outbox_rows_are_written_with_their_signals_once(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    async with running(StoreConfig(data_dir=tmp_path)) as store:
        await check_outbox(store)


async def test_the_spool_keeps_the_outbox_and_supabase_never_sees_it(
    tmp_path: Path, fake: FakePostgrest, clock: MockClock
) -> None:
    sb = SupabaseConfig(url="http://supabase.test", service_key=SERVICE_KEY)
    async with open_store(StoreConfig(data_dir=tmp_path), sb, transport(fake)) as store:
        await check_outbox(store)
        assert await store.sync(30.0)
    assert len(fake.rows("signals")) == 3
    assert {r.table for r in fake.requests} <= {"", "signals", "signal_analyses"}  # not the outbox


async def test_a_poison_signal_takes_its_alerts_with_it_and_the_batch_lands(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    good = make_signal(1)
    bad = attrs.evolve(make_signal(2), created_at=None)  # type: ignore[arg-type]  # poison
    async with running(StoreConfig(data_dir=tmp_path)) as store:
        await store.save_signals([good, bad], alerts_for([good.id, bad.id], "json:a"))
        await store.flush()
        assert await owed(store) == [(good.id, "json:a")]
        assert [q["row_key"] for q in await store.quarantined()] == [bad.id]
        # an alert that cannot be stored (NaN in its notice) quarantines its signal, not the rest
        nan = make_signal(3)
        odd = {nan.id: [AlertRow(nan.id, "json:a", {"price": math.nan})]}
        await store.save_signals([nan, make_signal(4)], odd)
        await store.flush()
        assert [q["row_key"] for q in await store.quarantined()] == [bad.id, nan.id]
    conn = sqlite3.connect(tmp_path / "vyx.sqlite3")
    try:
        stored = {r[0] for r in conn.execute("SELECT id FROM signals")}
    finally:
        conn.close()
    assert stored == {good.id, make_signal(4).id}
