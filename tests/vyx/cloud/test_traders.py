"""Traders and the subscription from Supabase: classification, diff, events, reloads."""

from __future__ import annotations

import functools
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
from trio.testing import MockClock

from tests.vyx.store.supabase.factory import OTHER_USER, TRADER, USER, synced
from tests.vyx.store.supabase.fake_postgrest import FakePostgrest, transport
from vyx.cloud.traders import (
    TraderSync,
    TraderSyncConfig,
    TraderUpdate,
    classify_traders,
    run_trader_sync,
)
from vyx.daemon.cloud import TraderBridge
from vyx.daemon.muting import MuteKeeper
from vyx.mutes import Mutes
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.store.supabase import SupabaseStore, run_supabase_store

OTHER_TRADER = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def trader(
    id: str = TRADER,
    *,
    code: str = "rsi(14) < 30",
    language: str | None = "vyx",
    as_string: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    filt: dict[str, Any] = {"code": code, "description": ["oversold"]}
    if language is not None:
        filt["language"] = language
    return {
        "id": id,
        "user_id": USER,
        "name": f"trader {id[:4]}",
        "filter": json.dumps(filt) if as_string else filt,
        **extra,
    }


async def start_store(
    nursery: trio.Nursery, fake: FakePostgrest, cfg: StoreConfig, sb: SupabaseConfig
) -> SupabaseStore:
    """A Supabase store on the fake, running in ``nursery``."""
    store: SupabaseStore = await nursery.start(
        functools.partial(run_supabase_store, cfg, sb, transport=transport(fake))
    )
    return store


def test_classify_accepts_json_strings_and_reports_foreign_or_broken_filters() -> None:
    rows = [
        trader(as_string=True, cloud_config=json.dumps({"enabledInCloud": True})),
        trader(
            "a" * 8 + "-0000-4000-8000-" + "0" * 12, language="javascript", code="return rsi < 30"
        ),
        trader("b" * 8 + "-0000-4000-8000-" + "0" * 12, code="rsi(14) <"),
        trader("c" * 8 + "-0000-4000-8000-" + "0" * 12, cloud_config={"enabledInCloud": False}),
        {"id": "d" * 8, "user_id": USER, "name": "broken", "filter": 42},
    ]
    found = classify_traders(rows)
    assert [t.id for t in found.traders] == [TRADER]
    kinds = {r.name: r.kind for r in found.rejected}
    assert kinds == {"trader aaaa": "language", "trader bbbb": "compile", "broken": "unreadable"}
    assert "javascript" in next(r.reason for r in found.rejected if r.kind == "language")


async def test_sync_loads_reports_and_reloads(
    fake: FakePostgrest,
    store_cfg: StoreConfig,
    supabase_cfg: SupabaseConfig,
    clock: MockClock,
) -> None:
    db = fake.db
    db.insert(
        "traders",
        [trader(), trader(OTHER_TRADER, code="nope(")],
        on_conflict=None,
        resolution=None,
        columns=None,
    )
    db.insert(
        "user_subscriptions",
        [
            {"user_id": USER, "tier": "elite", "status": "active"},
            {"user_id": OTHER_USER, "tier": "pro", "status": "active"},
        ],
        on_conflict=None,
        resolution=None,
        columns=None,
    )
    updates: list[TraderUpdate] = []

    async def on_update(update: TraderUpdate) -> None:
        updates.append(update)

    async with trio.open_nursery() as nursery:
        store = await start_store(nursery, fake, store_cfg, supabase_cfg)
        cfg = TraderSyncConfig(user_id=USER, reload_s=60, subscription_s=300)
        sync: TraderSync = await nursery.start(
            functools.partial(run_trader_sync, cfg, store.rest, store, on_update=on_update)
        )
        assert sync.entitled
        assert [t.id for t in updates[0].current.traders] == [TRADER]
        assert [r.kind for r in updates[0].changes.newly_rejected] == ["compile"]

        db.update("traders", {"name": "renamed", "version": 2}, [("id", TRADER)])
        db.update(
            "traders",
            {"filter": {"code": "close > ema(close, 50)", "language": "vyx"}},
            [("id", OTHER_TRADER)],
        )
        await trio.sleep(61)  # the periodic reload
        last = updates[-1].changes
        assert [t.name for t in last.updated] == ["renamed"]
        assert [t.id for t in last.added] == [OTHER_TRADER]

        db.delete("traders", [("id", OTHER_TRADER)])
        changes = await sync.reload("config_update")  # on demand
        assert [t.id for t in changes.removed] == [OTHER_TRADER]

        db.update("user_subscriptions", {"status": "cancelled"}, [("user_id", USER)])
        await trio.sleep(300)
        assert not sync.entitled
        assert updates[-1].entitled is False
        assert await synced(store)
        nursery.cancel_scope.cancel()
    kinds = [e["event_type"] for e in fake.rows("cloud_events")]
    for kind in ("config_synced", "trader_added", "trader_updated", "trader_removed", "error"):
        assert kind in kinds
    error = next(e for e in fake.rows("cloud_events") if e["event_type"] == "error")
    assert error["severity"] == "warning"
    assert error["details"]["trader_id"] == OTHER_TRADER


async def test_a_database_down_at_start_runs_the_last_loads_traders(
    fake: FakePostgrest,
    store_cfg: StoreConfig,
    supabase_cfg: SupabaseConfig,
    tmp_path: Path,
    clock: MockClock,
) -> None:
    fake.db.insert("traders", [trader()], on_conflict=None, resolution=None, columns=None)
    fake.db.insert(
        "user_subscriptions",
        [{"user_id": USER, "tier": "elite", "status": "active"}],
        on_conflict=None,
        resolution=None,
        columns=None,
    )
    cfg = TraderSyncConfig(user_id=USER, cache=tmp_path / "traders.json")
    updates: list[TraderUpdate] = []

    async def on_update(update: TraderUpdate) -> None:
        updates.append(update)

    async with trio.open_nursery() as nursery:
        store = await start_store(nursery, fake, store_cfg, supabase_cfg)
        sync = functools.partial(run_trader_sync, cfg, store.rest, store, on_update=on_update)
        first = await nursery.start(sync)  # a load that works: it is cached
        assert first.statistics().loads == 1
        nursery.cancel_scope.cancel()
    fake.down = True
    updates.clear()
    async with trio.open_nursery() as nursery:
        store = await start_store(nursery, fake, store_cfg, supabase_cfg)
        begun = trio.current_time()
        second: TraderSync = await nursery.start(
            functools.partial(run_trader_sync, cfg, store.rest, store, on_update=on_update)
        )
        assert trio.current_time() - begun <= cfg.first_load_s
        assert [t.id for t in updates[0].current.traders] == [TRADER]  # from the cache
        assert updates[0].entitled
        assert second.statistics().loads == 0
        fake.down = False
        await trio.sleep(60)
        assert second.statistics().loads >= 1  # retried until the database answered
        nursery.cancel_scope.cancel()


async def test_the_periodic_load_reads_the_mutes_again(
    fake: FakePostgrest, store_cfg: StoreConfig, supabase_cfg: SupabaseConfig, clock: MockClock
) -> None:
    """Mutes changed outside this machine (another machine, the web app) are applied at the
    next periodic load of the traders, not only at the next start."""
    db = fake.db
    db.insert("traders", [trader()], on_conflict=None, resolution=None, columns=None)
    subscription = {"user_id": USER, "tier": "elite", "status": "active"}
    db.insert("user_subscriptions", [subscription], on_conflict=None, resolution=None, columns=None)

    async def on_update(update: TraderUpdate) -> None:
        pass

    async with trio.open_nursery() as nursery:
        store = await start_store(nursery, fake, store_cfg, supabase_cfg)
        keeper = MuteKeeper(store, USER)
        await keeper.load()
        bridge = TraderBridge(control=SimpleNamespace(mutes=keeper))  # type: ignore[arg-type]
        cfg = TraderSyncConfig(user_id=USER, reload_s=60, subscription_s=300)
        sync = functools.partial(
            run_trader_sync, cfg, store.rest, store, on_update=on_update, on_synced=bridge.synced
        )
        await nursery.start(sync)
        mutes = [
            {"id": str(uuid.uuid4()), "user_id": USER, "kind": "symbol", "target": "ETHUSDT"},
            {"id": str(uuid.uuid4()), "user_id": OTHER_USER, "kind": "symbol", "target": "XRPUSDT"},
        ]
        db.insert("alert_mutes", mutes, on_conflict=None, resolution=None, columns=None)
        await trio.sleep(61)
        assert keeper.mutes == Mutes(frozenset({"ETHUSDT"}))  # the user's only
        fake.down = True
        db.delete("alert_mutes", [("user_id", USER)])
        await trio.sleep(61)
        assert keeper.mutes == Mutes(frozenset({"ETHUSDT"}))  # no answer: the ones in use stay
        fake.down = False
        await trio.sleep(61)
        assert keeper.mutes == Mutes()
        nursery.cancel_scope.cancel()
