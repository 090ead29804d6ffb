"""The Supabase store against real PostgreSQL behind the PostgREST test server: every row the
machine writes is accepted by our schema and by the original product's as it is (INTEGER
metrics, no unique ``signal_analyses.signal_id``, ``trade_plan NOT NULL``, the later
``signals.fly_app_id``), nothing is quarantined; and a machine, holding the service key that
bypasses RLS, changes only its own user's traders."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from kernels.outcomes import HORIZON, HORIZONS, Outcome
from tests.vyx.store.history_pages import check_history_pages, history_signals
from tests.vyx.store.supabase.factory import OTHER_USER, TRADER, USER, make_analysis, make_signal
from tests.vyx.store.supabase.pgrest_server import PostgrestServer, serving
from tests.vyx.store.supabase.postgres import Databases, Template
from vyx.cloud.machine import LifecycleConfig, MachineEvents, open_machine_lifecycle
from vyx.outcomes.live import OutcomeUpdate, outcome_from_row
from vyx.retry import Backoff, RetryPolicy
from vyx.settings import MachineConfig, StoreConfig, SupabaseConfig
from vyx.signal import Signal
from vyx.store.errors import StoreError, TraderNotOwned
from vyx.store.records import Trader, metrics_row
from vyx.store.supabase import SupabaseStore, run_supabase_store
from vyx.traders import from_record

POLICY = RetryPolicy(backoff=Backoff(initial=0.05, maximum=0.5), attempt_timeout_s=10.0)
THEIRS = "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
NEW = "7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"


def seed(server: PostgrestServer, template: Template) -> None:
    """Two users with a trader each, as the web app would have left them."""
    if template != "fresh":
        server.sql(f"insert into auth.users (id) values ('{USER}'), ('{OTHER_USER}')")
    for tid, user, name in ((TRADER, USER, "mine"), (THEIRS, OTHER_USER, "theirs")):
        server.insert(
            "traders",
            {
                "id": tid,
                "user_id": user,
                "name": name,
                "description": f"{name}, by hand",
                "filter": {"code": "rsi(14) < 30", "language": "vyx", "description": ["dip"]},
                "strategy": {"instructions": "be careful"},
                "version": 3,
                "cloud_config": {"enabledInCloud": True, "notifyOnSignal": False},
            },
        )
    server.insert("user_subscriptions", {"user_id": USER, "tier": "elite", "status": "active"})


@pytest.fixture
def database(
    request: pytest.FixtureRequest, postgres_databases: Databases
) -> Iterator[tuple[PostgrestServer, Template]]:
    template: Template = request.param
    if template != "fresh":
        request.getfixturevalue("shared_data")  # the original schema lives there
    with serving(postgres_databases, template) as server:
        seed(server, template)
        yield server, template


@asynccontextmanager
async def store_on(server: PostgrestServer, data: Path) -> AsyncIterator[SupabaseStore]:
    cfg = StoreConfig(data_dir=data, batch_rows=50, flush_interval_ms=5, final_flush_s=5.0)
    sb = SupabaseConfig(url="http://supabase.test", service_key=server.service_key)
    transport = httpx.ASGITransport(app=server)
    async with trio.open_nursery() as nursery:
        run = functools.partial(
            run_supabase_store, cfg, sb, user_id=USER, policy=POLICY, transport=transport
        )
        yield await nursery.start(run)
        nursery.cancel_scope.cancel()


async def synced(store: SupabaseStore) -> None:
    assert await store.sync(30)


def failed_analysis(row: dict[str, Any]) -> dict[str, Any]:
    """A failed analysis as :func:`vyx.analysis.rows.analysis_row` writes it."""
    return {
        **row,
        "decision": "wait",
        "confidence": 0,
        "trade_plan": {},
        "reasoning": "Analysis failed: no answer within 30s. The signal stands without an "
        "AI verdict.",
        "technical_indicators": {"analysis_status": "failed"},
    }


@pytest.mark.parametrize("database", ["fresh", "original_as_is", "original_renamed"], indirect=True)
async def test_every_row_the_machine_writes_is_accepted(
    database: tuple[PostgrestServer, Template], tmp_path: Path
) -> None:
    server, template = database
    machine = MachineConfig(
        user_id=USER, machine_id="vyx-pg-1", region="fra", cpus=1, memory_mb=256
    )
    signals = [make_signal(i) for i in range(5)]
    async with store_on(server, tmp_path) as store:
        async with open_machine_lifecycle(LifecycleConfig(machine), store) as me:
            signals = [attrs.evolve(s, machine_id=me.id) for s in signals]
            await store.save_signals(signals)
            await store.save_analysis(make_analysis(signals[0]))
            await store.save_analysis(failed_analysis(make_analysis(signals[1])))
            await store.save_analysis(make_analysis(signals[0], confidence=80))  # a replay
            await store.save_metrics(
                metrics_row(
                    machine_id=me.id,
                    recorded_at=1_700_000_000_000,
                    cpu_usage_vcpus=0.25,
                    memory_used_mb=187.4,
                    memory_total_mb=256.0,
                    filter_execution_time_ms=0.7,
                    websocket_latency_ms=12.5,
                    active_signals=3,
                )
            )
            events = MachineEvents(store, user_id=USER, machine_id=me.id)
            await events.emit("signal_created", "5 signals", details={"n": 5})
            await store.save_outcomes([outcome_row(signals[0], 0), outcome_row(signals[1], 6)])
            await store.save_outcomes([outcome_row(signals[0], HORIZON)])  # it progressed
            await synced(store)
        await synced(store)
        assert await store.quarantined() == []
        done_rows = await store.load_outcomes(USER, complete=True, limit=10)
        open_rows = await store.load_outcomes(USER, complete=False, limit=10)
        stats = store.statistics()
    assert (stats.quarantined, stats.spooled_rows) == (0, 0)
    [row] = server.rows("cloud_machines")
    assert (row["user_id"], row["status"], row["region"]) == (USER, "stopped", "fra")
    column = "fly_app_id" if template == "original_renamed" else "machine_id"
    stored = {s["id"]: s for s in server.rows("signals")}
    assert set(stored) == {s.id for s in signals}
    # The renamed column points at user_fly_apps: our machine row id cannot go there.
    expected = None if template == "original_renamed" else row["id"]
    assert {s[column] for s in stored.values()} == {expected}
    analyses = {a["signal_id"]: a for a in server.rows("signal_analyses")}
    assert set(analyses) == {signals[0].id, signals[1].id}
    assert analyses[signals[0].id]["confidence"] == 80
    assert analyses[signals[1].id]["trade_plan"] == {}
    [metrics] = server.rows("cloud_metrics", order="recorded_at")
    assert metrics["machine_id"] == row["id"]
    integer = template != "fresh"
    assert metrics["memory_used_mb"] == (187 if integer else 187.4)
    assert metrics["filter_execution_time_ms"] == (1 if integer else 0.7)
    if template == "original_as_is":
        # Without our migrations there is no signal_outcomes table: its rows are not kept
        # and nothing else is held up (every other row above landed, none quarantined).
        assert done_rows == open_rows == []
    else:
        [done], [open_] = done_rows, open_rows
        assert (done["signal_id"], done["bars"], done["touch"]) == (signals[0].id, HORIZON, "stop")
        assert done["bar_open_time"] == signals[0].bar_open_time
        assert outcome_from_row(done) == outcome_row_of(signals[0], HORIZON)
        assert (open_["signal_id"], open_["bars"], open_["complete"]) == (signals[1].id, 6, False)
    kinds = [e["event_type"] for e in server.rows("cloud_events")]
    assert sorted(kinds) == ["machine_started", "machine_stopped", "signal_created"]


def outcome_row_of(signal: Signal, bars: int) -> Outcome:
    """An outcome after ``bars`` bars (stopped out at bar 2 once it has them)."""
    returns = tuple(0.01 * h if h <= bars else None for h in HORIZONS)
    touched = bars >= 2
    return Outcome(
        "long",
        signal.price,
        signal.price * 0.98,
        signal.price * 1.04,
        "atr",
        bars,
        returns,
        0.012 if bars else None,
        -0.021 if bars else None,
        "stop" if touched else "none",
        2 if touched else None,
    )


def outcome_row(signal: Signal, bars: int) -> dict[str, Any]:
    """The ``signal_outcomes`` row the daemon writes for ``signal`` after ``bars`` bars."""
    update = OutcomeUpdate(
        signal.id,
        signal.trader_id,
        signal.user_id,
        signal.symbol,
        signal.interval,
        signal.bar_open_time,
        outcome_row_of(signal, bars),
    )
    return update.to_row(1_700_000_000_000)


def browser_edit(trader_id: str, **changes: Any) -> Trader:
    """What ``to_record`` makes of a browser's ``trader_upsert`` for the machine's user."""
    base: dict[str, Any] = {
        "id": trader_id,
        "user_id": USER,
        "name": "from the browser",
        "filter": {"code": "rsi(14) < 25", "language": "vyx"},
        "language": "vyx",
    }
    return Trader.from_row({**base, **changes})


@pytest.mark.parametrize("database", ["fresh", "original"], indirect=True)
async def test_a_machine_changes_only_its_own_users_traders(
    database: tuple[PostgrestServer, Template], tmp_path: Path
) -> None:
    server, _ = database
    theirs_before = server.rows("traders", order="id")
    machine = MachineConfig(user_id=USER, machine_id="vyx-pg-1", region="nrt")
    async with store_on(server, tmp_path) as store:
        async with open_machine_lifecycle(LifecycleConfig(machine), store):
            with pytest.raises(TraderNotOwned, match=THEIRS):
                await store.upsert_trader(browser_edit(THEIRS))
            with pytest.raises(TraderNotOwned, match="trader_remove"):
                await store.delete_trader(THEIRS, user_id=USER)
            await store.upsert_trader(browser_edit(TRADER, name="mine, renamed"))
            kept = {t.id: t.cloud_config for t in await store.load_traders(USER)}[TRADER]
            # The alert switches and cooldown a browser set are merged into cloud_config.
            switches = {"notifyMuted": True, "notifyOnSignal": True, "cooldownBars": 12}
            await store.upsert_trader(browser_edit(TRADER, cloud_config=switches))
            await store.upsert_trader(browser_edit(TRADER, name="mine, renamed"))
            await store.upsert_trader(
                browser_edit(NEW, name="new", cloud_config={"notifyOnAnalysis": False})
            )
            mine = {t.id: t for t in await store.load_traders(USER)}
            await store.delete_trader(NEW, user_id=USER)
        await synced(store)
        assert await store.quarantined() == []
    traders = {t["id"]: t for t in server.rows("traders", order="id")}
    assert traders[THEIRS] == next(t for t in theirs_before if t["id"] == THEIRS)
    assert set(traders) == {TRADER, THEIRS}  # the new one was added, then removed
    assert mine[NEW].cloud_config == {"enabledInCloud": True, "notifyOnAnalysis": False}
    edited = traders[TRADER]
    assert (edited["name"], edited["version"]) == ("mine, renamed", 6)
    assert edited["description"] == "mine, by hand"  # kept
    assert kept == {"enabledInCloud": True, "notifyOnSignal": False}  # an edit without switches
    assert edited["cloud_config"] == {
        "enabledInCloud": True,
        "notifyOnSignal": True,
        "notifyMuted": True,
        "cooldownBars": 12,
    }
    assert from_record(mine[TRADER]).definition.cooldown == 12
    assert edited["filter"] == {"code": "rsi(14) < 25", "language": "vyx", "description": ["dip"]}
    security = [e for e in server.rows("cloud_events") if e["details"].get("security")]
    assert sorted(e["details"]["action"] for e in security) == ["trader_remove", "trader_upsert"]
    assert {e["user_id"] for e in security} == {USER}
    # Every request about traders named the machine's user.
    about = [r for r in server.requests if r.path.endswith("/traders")]
    assert about
    assert all(f"user_id=eq.{USER}" in r.query for r in about if r.method != "POST")


@pytest.mark.parametrize("database", ["fresh", "original_as_is"], indirect=True)
async def test_the_signal_history_pages_through_every_signal(
    database: tuple[PostgrestServer, Template], tmp_path: Path
) -> None:
    """The same paging as SQLite's, over PostgREST's filters (``gt``/``lt``/``in``); each
    signal on its bar (``signals.bar_open_time``; a project without our migrations has no
    such column: its rows land without it)."""
    server, template = database
    signals = history_signals(40, USER, TRADER, OTHER_USER)
    analysis = {**make_analysis(signals[4]), "decision": "enter_trade", "confidence": 81.0}
    async with store_on(server, tmp_path) as store:
        await store.save_signals(signals)
        await store.save_analysis(analysis)
        await synced(store)
        await check_history_pages(
            store, signals, USER, {signals[4].id: analysis}, bar_kept=template == "fresh"
        )
        assert await store.quarantined() == []


@pytest.mark.parametrize("database", ["fresh", "original_as_is"], indirect=True)
async def test_the_users_mutes_are_kept_in_alert_mutes(
    database: tuple[PostgrestServer, Template], tmp_path: Path
) -> None:
    """Set twice, read back, removed; another user's never read. A project without our
    migrations has no ``alert_mutes``: nothing to read, and a mute is refused saying why."""
    server, template = database
    async with store_on(server, tmp_path) as store:
        if template == "original_as_is":
            assert await store.load_mutes(USER, 10) == []
            with pytest.raises(StoreError, match="no alert_mutes table"):
                await store.set_mute(USER, "symbol", "BTCUSDT", muted=True)
            return
        for _ in range(2):
            await store.set_mute(USER, "symbol", "BTCUSDT", muted=True)
        await store.set_mute(USER, "trader", TRADER, muted=True)
        await store.set_mute(OTHER_USER, "symbol", "ETHUSDT", muted=True)
        assert sorted(await store.load_mutes(USER, 10)) == [
            ("symbol", "BTCUSDT"),
            ("trader", TRADER),
        ]
        await store.set_mute(USER, "trader", TRADER, muted=False)
        assert await store.load_mutes(USER, 10) == [("symbol", "BTCUSDT")]
        assert await store.load_mutes(OTHER_USER, 10) == [("symbol", "ETHUSDT")]
    rows = server.rows("alert_mutes")
    assert sorted((r["user_id"], r["target"]) for r in rows) == [
        (USER, "BTCUSDT"),
        (OTHER_USER, "ETHUSDT"),
    ]
    mine = [r for r in server.requests if r.path.endswith("/alert_mutes")]
    assert all("user_id=eq." in r.query for r in mine if r.method in ("GET", "DELETE"))
