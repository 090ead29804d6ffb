"""The Supabase store against the PostgREST fake: outages, faults, poison rows, duplicates,
final flush and replay. Virtual time (a MockClock that jumps after 20 ms of real idleness, so
the spool's worker threads finish before time moves)."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing
from trio.testing import MockClock

from tests.vyx.store.supabase.factory import USER, make_analysis, make_signal, synced
from tests.vyx.store.supabase.fake_postgrest import (
    ConnectionFaults,
    FakePostgrest,
    Fault,
    transport,
)
from vyx.retry import Backoff, RetryPolicy
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.store.records import event_row, metrics_row
from vyx.store.supabase import SupabaseStore, run_supabase_store

POLICY = RetryPolicy(backoff=Backoff(initial=0.5, maximum=30.0), attempt_timeout_s=5.0)
MACHINE = "7c6b5a49-3827-4165-9e4d-3c2b1a098f7e"


@asynccontextmanager
async def open_store(
    cfg: StoreConfig, sb: SupabaseConfig, faults: ConnectionFaults
) -> AsyncIterator[SupabaseStore]:
    async with trio.open_nursery() as nursery:
        run = functools.partial(
            run_supabase_store, cfg, sb, user_id=USER, policy=POLICY, transport=faults
        )
        store: SupabaseStore = await nursery.start(run)
        yield store
        nursery.cancel_scope.cancel()


def ids(fake: FakePostgrest, table: str, column: str = "id") -> list[str]:
    return [r[column] for r in fake.rows(table)]


async def test_rows_land_once_with_timestamptz_and_read_back_as_epoch_ms(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    signals = [make_signal(i) for i in range(120)]
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        await store.save_signals(signals)
        await store.save_analysis(make_analysis(signals[0]))
        await store.save_metrics(
            metrics_row(
                machine_id=MACHINE,
                recorded_at=1_700_000_000_000,
                cpu_usage_vcpus=0.25,
                active_signals=3,
            )
        )
        assert await synced(store)
        recent = await store.recent_signals(USER, limit=2)
        stats = store.statistics()
    assert sorted(ids(fake, "signals")) == sorted(s.id for s in signals)
    row = next(r for r in fake.rows("signals") if r["id"] == signals[0].id)
    assert row["created_at"] == "2023-11-14T22:18:20+00:00"
    assert row["matched_conditions"] == list(signals[0].matched_conditions)
    assert fake.rows("cloud_metrics")[0]["recorded_at"] == "2023-11-14T22:13:20+00:00"
    assert [r["id"] for r in recent] == [signals[-1].id, signals[-2].id]
    assert recent[0]["created_at"] == signals[-1].created_at
    assert (stats.rows_written, stats.spooled_rows, stats.quarantined) == (122, 0, 0)


async def test_a_ten_minute_outage_loses_nothing(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    faults = transport(fake)
    n = 0
    async with open_store(store_cfg, supabase_cfg, faults) as store:
        await store.save_signals([make_signal(n)])
        n += 1
        assert await synced(store)
        fake.down = True
        start = trio.current_time()
        while trio.current_time() - start < 600:  # 10 minutes: 503s, then refused connections
            faults.refuse = trio.current_time() - start > 300
            await store.save_signals([make_signal(i) for i in range(n, n + 10)])
            await store.save_event(
                event_row(
                    machine_id=MACHINE,
                    user_id=USER,
                    event_type="error",
                    message=f"tick {n}",
                    created_at=1_700_000_000_000 + n,
                )
            )
            n += 10
            await trio.sleep(10)
        stats = store.supabase_statistics()
        assert stats.drain.state == "retrying"
        assert stats.spooled_rows == n - 1 + 60
        assert fake.count("signals") == 1
        fake.down = faults.refuse = False
        assert await synced(store)
        after = store.statistics()
    assert sorted(ids(fake, "signals")) == sorted(make_signal(i).id for i in range(n))
    assert fake.count("cloud_events") == 60
    assert (after.spooled_rows, after.quarantined) == (0, 0)
    # Backoff is capped: roughly one attempt per 15-30 s, not a storm and not a give-up.
    failed = [r for r in fake.requests if r.status == 503]
    assert 10 <= len(failed) <= 60


async def test_timeouts_resets_429_and_5xx_are_retried_without_duplicates(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    faults = transport(fake)
    fake.inject(
        Fault("hang", seconds=60),  # the client's 5 s attempt timeout fires
        Fault(status=429, body={"message": "Too many requests"}, headers=(("Retry-After", "7"),)),
        Fault("after_commit", status=502),  # applied, but the answer is lost
        Fault(status=500, body={"code": "XX000", "message": "internal error"}),
        Fault("after_commit", status=504),
    )
    faults.resets = 2
    signals = [make_signal(i) for i in range(200)]
    async with open_store(store_cfg, supabase_cfg, faults) as store:
        await store.save_signals(signals)
        await store.save_signals(signals[:50])  # a producer's own replay: same ids
        assert await synced(store)
        stats = store.statistics()
    assert sorted(ids(fake, "signals")) == sorted(s.id for s in signals)
    assert not fake.faults
    assert stats.failures >= 5
    assert stats.quarantined == 0


async def test_a_poison_row_is_quarantined_and_the_rest_lands(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    signals = [make_signal(i) for i in range(60)]
    bad_uuid = make_signal(1000, trader="not-a-uuid")
    unknown_column = {**make_analysis(signals[3]), "sentiment": "bullish"}
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        await store.save_signals([*signals[:30], bad_uuid, *signals[30:]])
        await store.save_analysis(make_analysis(signals[1], confidence=150))  # 23514
        await store.save_analysis(unknown_column)  # PGRST204
        await store.save_analysis(make_analysis(signals[2]))
        await store.save_analysis(make_analysis(make_signal(5000)))  # 23503: no such signal
        await store.save_metrics(
            {"id": "m-1", "machine_id": MACHINE, "recorded_at": math.nan}
        )  # never spooled
        assert await synced(store)
        assert await synced(store)  # the quarantine events themselves
        quarantined = await store.quarantined()
        stats = store.supabase_statistics()
    assert sorted(ids(fake, "signals")) == sorted(s.id for s in signals)
    assert ids(fake, "signal_analyses", "signal_id") == [signals[2].id]
    codes = {q["key"]: q["code"] for q in quarantined}
    assert codes == {
        bad_uuid.id: "22P02",
        signals[1].id: "23514",
        signals[3].id: "PGRST204",
        make_signal(5000).id: "23503",
        "m-1": None,
    }
    assert stats.drain.quarantined == 4
    assert stats.quarantined_local == 1
    assert stats.drain.last_quarantine is not None
    events = fake.rows("cloud_events")
    assert len(events) == 4
    assert {e["event_type"] for e in events} == {"error"}
    assert {e["details"]["key"] for e in events} == set(codes) - {"m-1"}


async def test_blocked_requests_keep_rows_in_the_spool_instead_of_quarantining(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    denied = {"code": "42501", "message": 'permission denied for table "signals"'}
    fake.inject(
        *[Fault(status=403, body=denied)] * 3,
        Fault(status=404, body={"code": "PGRST205", "message": "no table"}),
    )
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        await store.save_signals([make_signal(i) for i in range(10)])
        await store.flush()
        await trio.sleep(1)
        assert store.supabase_statistics().drain.state == "blocked"
        assert await synced(store)
        stats = store.statistics()
    assert fake.count("signals") == 10
    assert stats.quarantined == 0


async def test_shutdown_flushes_within_the_budget_and_a_restart_replays_the_rest(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        await store.save_signals([make_signal(i) for i in range(30)])
    assert fake.count("signals") == 30  # the final flush sent them

    fake.down = True
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        await store.save_signals([make_signal(i) for i in range(30, 80)])
    assert fake.count("signals") == 30  # down: kept in the spool
    fake.down = False
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        assert store.statistics().spooled_rows == 50
        assert await synced(store)
        # Replayed at once: no failed request, no backoff. (Not a virtual-time bound: the
        # clock may jump while a spool thread works on a loaded machine.)
        assert store.drain.statistics().failures == 0
    assert sorted(ids(fake, "signals")) == sorted(make_signal(i).id for i in range(80))


async def test_requeued_quarantine_lands_after_the_cause_is_fixed(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    signal = make_signal(1)
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        await store.save_analysis(make_analysis(signal))  # its signal is not there yet
        assert await synced(store)
        assert len(await store.quarantined()) == 1
        await store.save_signals([signal])
        assert await synced(store)
        assert await store.requeue_quarantined() == 1
        assert await synced(store)
        assert await store.quarantined() == []
    assert ids(fake, "signal_analyses", "signal_id") == [signal.id]
    payload = json.dumps(fake.rows("signal_analyses")[0]["key_levels"])
    assert "stopLoss" in payload


async def test_a_malformed_answer_of_mutes_keeps_the_well_formed_rows(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    """A 200 whose rows are not mute rows (a proxy, a changed table) is read without an
    exception (which would stop the daemon's start): the well-formed rows only."""
    rows = [1, None, {"kind": "symbol"}, {"kind": 5, "target": "X"}, ["symbol", "ETHUSDT"]]
    good = {"kind": "symbol", "target": "BTCUSDT"}
    async with open_store(store_cfg, supabase_cfg, transport(fake)) as store:
        fake.inject(Fault(status=200, body=[*rows, good], table="alert_mutes"))
        assert await store.load_mutes(USER, 10) == [("symbol", "BTCUSDT")]
