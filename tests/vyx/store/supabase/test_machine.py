"""cloud_machines lifecycle, heartbeat, metrics and events against the PostgREST fake."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
from trio.testing import MockClock

from tests.vyx.store.supabase.factory import USER, synced
from tests.vyx.store.supabase.fake_postgrest import FakePostgrest, transport
from vyx.config import MachineConfig, StoreConfig, SupabaseConfig
from vyx.store.supabase import SupabaseStore, run_supabase_store
from vyx.store.supabase.machine import (
    LifecycleConfig,
    open_machine_lifecycle,
    run_heartbeat,
    run_metrics_reporter,
)  # fmt: skip

MACHINE = MachineConfig(user_id=USER, machine_id="vyx-m-1", region="fra", cpus=2, memory_mb=512)


@asynccontextmanager
async def store_for(fake: FakePostgrest, cfg: StoreConfig, sb: SupabaseConfig
                    ) -> AsyncIterator[SupabaseStore]:  # fmt: skip
    async with trio.open_nursery() as nursery:
        yield await nursery.start(functools.partial(
            run_supabase_store, cfg, sb, transport=transport(fake)))  # fmt: skip
        nursery.cancel_scope.cancel()


async def test_running_heartbeat_metrics_then_stopped(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig,
    clock: MockClock,
) -> None:  # fmt: skip
    provisioned = fake.db.insert("cloud_machines", [{"user_id": USER, "machine_id": "old",
                                                     "status": "provisioning"}],
                                 on_conflict=None, resolution=None, columns=None)  # fmt: skip
    samples = iter(range(100))
    async with store_for(fake, store_cfg, supabase_cfg) as store:
        async with open_machine_lifecycle(LifecycleConfig(MACHINE), store.rest, store) as me:
            assert me.id == provisioned[0]["id"]  # the provisioner's row, reused
            row = fake.rows("cloud_machines")[0]
            assert (row["status"], row["machine_id"], row["cpus"]) == ("running", "vyx-m-1", 2)
            first_beat = row["last_health_check"]
            async with trio.open_nursery() as nursery:
                await nursery.start(functools.partial(run_heartbeat, store.rest, me,
                                                      heartbeat_s=30))  # fmt: skip
                await nursery.start(functools.partial(
                    run_metrics_reporter, store, machine_id=me.id,
                    sample=lambda: {"active_signals": next(samples), "bogus": 1},
                    interval_s=30))  # fmt: skip
                await trio.sleep(95)
                nursery.cancel_scope.cancel()
            assert fake.rows("cloud_machines")[0]["last_health_check"] > first_beat
        assert await synced(store)
    row = fake.rows("cloud_machines")[0]
    assert row["status"] == "stopped"
    assert row["stopped_at"] is not None
    metrics = fake.rows("cloud_metrics")
    assert [m["active_signals"] for m in metrics] == [0, 1, 2]
    assert {m["machine_id"] for m in metrics} == {me.id}
    kinds = [e["event_type"] for e in fake.rows("cloud_events")]
    assert kinds == ["machine_started", "machine_stopped"]


async def test_a_fatal_error_marks_the_machine_error(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig,
    clock: MockClock,
) -> None:  # fmt: skip
    async with store_for(fake, store_cfg, supabase_cfg) as store:
        with pytest.raises(RuntimeError, match="kernel exploded"):
            async with open_machine_lifecycle(LifecycleConfig(MACHINE), store.rest, store):
                raise RuntimeError("kernel exploded")
        assert await synced(store)
    row = fake.rows("cloud_machines")[0]
    assert row["status"] == "error"
    assert row["error_message"] == "RuntimeError: kernel exploded"
    assert row["error_count"] == 1
    event = fake.rows("cloud_events")[-1]
    assert (event["event_type"], event["severity"]) == ("machine_error", "error")
