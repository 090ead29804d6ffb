"""cloud_machines lifecycle, heartbeat, metrics and events against the PostgREST fake: every
row through the spool, so the database is never needed to start or to stop."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from trio.testing import MockClock

from tests.vyx.store.supabase.factory import USER, synced
from tests.vyx.store.supabase.fake_postgrest import FakePostgrest, transport
from vyx.cloud.machine import (
    LifecycleConfig,
    open_machine_lifecycle,
    run_heartbeat,
    run_metrics_reporter,
)
from vyx.retry import Backoff, RetryPolicy
from vyx.settings import MachineConfig, StoreConfig, SupabaseConfig
from vyx.store.records import machine_row_id
from vyx.store.supabase import SupabaseStore, run_supabase_store

MACHINE = MachineConfig(user_id=USER, machine_id="vyx-m-1", region="fra", cpus=2, memory_mb=512)
LIFECYCLE = LifecycleConfig(MACHINE)
POLICY = RetryPolicy(backoff=Backoff(initial=0.5, maximum=5.0), attempt_timeout_s=5.0)


@asynccontextmanager
async def store_for(
    fake: FakePostgrest, cfg: StoreConfig, sb: SupabaseConfig
) -> AsyncIterator[SupabaseStore]:
    async with trio.open_nursery() as nursery:
        yield await nursery.start(
            functools.partial(
                run_supabase_store, cfg, sb, user_id=USER, policy=POLICY, transport=transport(fake)
            )
        )
        nursery.cancel_scope.cancel()


async def test_running_heartbeat_metrics_then_stopped(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    provisioned = fake.db.insert(
        "cloud_machines",
        [{"user_id": USER, "machine_id": "old", "status": "provisioning", "error_count": 2}],
        on_conflict=None,
        resolution=None,
        columns=None,
    )[0]["id"]
    samples = iter(range(100))
    async with store_for(fake, store_cfg, supabase_cfg) as store:
        async with open_machine_lifecycle(LIFECYCLE, store) as me:
            # Not known before the database answered: the rows carry the derived id and are
            # given the provisioner's when they are sent.
            assert me.id == machine_row_id(USER) != provisioned
            assert await synced(store)
            row = fake.rows("cloud_machines")[0]
            assert (row["id"], row["status"], row["machine_id"], row["cpus"]) == (
                provisioned,
                "running",
                "vyx-m-1",
                2,
            )
            first_beat = row["last_health_check"]
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    functools.partial(run_heartbeat, store, LIFECYCLE, heartbeat_s=30)
                )
                await nursery.start(
                    functools.partial(
                        run_metrics_reporter,
                        store,
                        machine_id=me.id,
                        sample=lambda: {"active_signals": next(samples), "bogus": 1},
                        interval_s=30,
                    )
                )
                await trio.sleep(95)
                nursery.cancel_scope.cancel()
            assert await synced(store)
            assert fake.rows("cloud_machines")[0]["last_health_check"] > first_beat
        assert await synced(store)
    rows = fake.rows("cloud_machines")
    assert [(r["id"], r["status"]) for r in rows] == [(provisioned, "stopped")]
    assert rows[0]["stopped_at"] is not None
    metrics = fake.rows("cloud_metrics")
    assert [m["active_signals"] for m in metrics] == [0, 1, 2, 3]  # 3: the last, at the stop
    assert {m["machine_id"] for m in metrics} == {provisioned}
    events = fake.rows("cloud_events")
    assert [e["event_type"] for e in events] == ["machine_started", "machine_stopped"]
    assert {e["machine_id"] for e in events} == {provisioned}
    async with store_for(fake, store_cfg, supabase_cfg) as again:
        assert again.machine_id == provisioned  # remembered by the spool
        assert again.machine_error_count == 2


async def test_a_fatal_error_marks_the_machine_error(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    async with store_for(fake, store_cfg, supabase_cfg) as store:
        with pytest.raises(RuntimeError, match="kernel exploded"):
            async with open_machine_lifecycle(LIFECYCLE, store):
                raise RuntimeError("kernel exploded")
        assert await synced(store)
    row = fake.rows("cloud_machines")[0]
    assert row["id"] == machine_row_id(USER)  # a fresh project: the machine made the row
    assert row["status"] == "error"
    assert row["error_message"] == "RuntimeError: kernel exploded"
    assert row["error_count"] == 1
    event = fake.rows("cloud_events")[-1]
    assert (event["event_type"], event["severity"]) == ("machine_error", "error")


async def test_a_database_down_at_start_and_at_stop_loses_no_lifecycle_row(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    fake.down = True
    async with store_for(fake, store_cfg, supabase_cfg) as store:
        begun = trio.current_time()
        async with open_machine_lifecycle(LIFECYCLE, store):
            # Never waits for the database: the running row and its event are in the spool, and
            # recording them took less than the budget a wait would have used up. (Virtual time
            # still moves while the spool's thread writes under load, to the syncer's next retry,
            # so it is not compared with a fixed second.)
            assert store.spooled_rows() == 2
            assert trio.current_time() - begun < LIFECYCLE.final_write_s
            async with trio.open_nursery() as beats:
                await beats.start(functools.partial(run_heartbeat, store, LIFECYCLE))
                await trio.sleep(120)  # beats while the database is down are skipped
                beats.cancel_scope.cancel()
        assert not await store.sync(60)  # nothing could land
        assert store.spooled_rows() == 4  # running, started, stopped, stopped event
    assert fake.count("cloud_machines") == 0
    fake.down = False
    statuses: list[str] = []
    async with store_for(fake, store_cfg, supabase_cfg) as store:
        assert await synced(store)  # the last run's rows first, in order
        statuses.append(fake.rows("cloud_machines")[0]["status"])
        async with open_machine_lifecycle(LIFECYCLE, store):
            assert await synced(store)
            statuses.append(fake.rows("cloud_machines")[0]["status"])
        assert await synced(store)
        statuses.append(fake.rows("cloud_machines")[0]["status"])
    assert statuses == ["stopped", "running", "stopped"]
    kinds = [e["event_type"] for e in fake.rows("cloud_events")]
    assert kinds == ["machine_started", "machine_stopped"] * 2
    assert fake.requests[0].table == ""  # the tables are described before anything is sent
