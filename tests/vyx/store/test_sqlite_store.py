"""The SQLite store as a service: idempotency, restarts, quarantine, shutdown flush, reads."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from kernels.outcomes import HORIZON, HORIZONS, Outcome
from tests.vyx.store.factory import USER, make_signal
from tests.vyx.store.history_pages import check_history_pages, history_signals
from tests.vyx.store.supabase.factory import make_analysis
from vyx.history import signal_message
from vyx.outcomes.live import OutcomeUpdate
from vyx.settings import StoreConfig
from vyx.store import (
    MachineRecord,
    RowError,
    SqliteStore,
    StoreClosed,
    Trader,
    event_row,
    metrics_row,
    run_store,
)
from vyx.store.api import PendingRow
from vyx.store.errors import TraderNotOwned
from vyx.store.sqlite import SqliteDatabase
from vyx.store.sqlite_batch import encode, row_params, signal_params


@asynccontextmanager
async def running(cfg: StoreConfig) -> AsyncIterator[SqliteStore]:
    async with trio.open_nursery() as nursery:
        store: SqliteStore = await nursery.start(run_store, cfg)
        yield store
        nursery.cancel_scope.cancel()


def rows(cfg: StoreConfig, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(cfg.database_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def analysis(signal_id: str, decision: str = "enter_trade") -> dict[str, Any]:
    return {
        "signal_id": signal_id,
        "trader_id": "t-1",
        "user_id": USER,
        "decision": decision,
        "confidence": 72,
        "reasoning": "RSI oversold at support",
        "key_levels": {"entry": 40_000, "stopLoss": 39_200, "takeProfit": [41_000, 42_000]},
        "trade_plan": {"setup": "reversal", "riskReward": 2.1},
        "created_at": 1,
    }


async def test_same_signal_twice_is_one_row(store_cfg: StoreConfig) -> None:
    async with running(store_cfg) as store:
        await store.save_signals([make_signal(1), make_signal(2)])
        await store.save_signals([make_signal(1)])
        await store.flush()
        await store.save_signals([attrs.evolve(make_signal(1), created_at=5)])
        await store.flush()
        recent = await store.recent_signals(USER)
    assert rows(store_cfg, "SELECT count(*) FROM signals") == [(2,)]
    first = next(r for r in recent if r["id"] == make_signal(1).id)
    assert first == make_signal(1).to_row()  # JSON decoded; first created_at kept


async def test_flush_by_age_and_size(
    store_cfg: StoreConfig, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(store_cfg) as store:
        await store.save_signals([make_signal(i) for i in range(3)])
        await trio.sleep(0.1)
        assert await store.recent_signals(USER) == []
        await trio.sleep(0.2)  # past the 250 ms age
        assert len(await store.recent_signals(USER)) == 3
        await store.save_signals([make_signal(i) for i in range(100, 110)])  # one full batch
        await trio.testing.wait_all_tasks_blocked()
        assert len(await store.recent_signals(USER, limit=100)) == 13
        assert store.statistics().batches == 2


async def test_restart_keeps_everything_and_duplicates_nothing(store_cfg: StoreConfig) -> None:
    signals = [make_signal(i) for i in range(35)]
    async with running(store_cfg) as store:
        await store.save_signals(signals[:20])
        await store.save_event(
            event_row(
                machine_id="m", user_id=USER, event_type="start", message="started", created_at=1
            )
        )
    async with running(store_cfg) as store:
        assert len(await store.recent_signals(USER, limit=100)) == 20
        await store.save_signals(signals)  # a replay of the first 20 plus 15 new ones
        await store.save_event(
            event_row(
                machine_id="m", user_id=USER, event_type="start", message="started", created_at=1
            )
        )
    async with running(store_cfg) as store:
        recent = await store.recent_signals(USER, limit=100)
    assert sorted(r["id"] for r in recent) == sorted(s.id for s in signals)
    assert rows(store_cfg, "SELECT count(*) FROM cloud_events") == [(1,)]


async def test_poison_row_is_quarantined_and_the_rest_lands(store_cfg: StoreConfig) -> None:
    good = [make_signal(i) for i in range(4)]
    async with running(store_cfg) as store:
        await store.save_signals(good[:2])
        await store.save_analysis(analysis(good[0].id))
        await store.save_analysis(analysis(good[1].id, decision="buy_now"))  # CHECK fails
        await store.save_analysis({**analysis(good[2].id), "mood": "happy"})  # unknown column
        await store.save_signals(good[2:])
        await store.flush()
        stats = store.statistics()
        quarantined = await store.quarantined()
        await store.save_signals([make_signal(9)])  # nothing blocks the rows behind
        await store.flush()
    assert (stats.quarantined, stats.rows_written) == (2, 5)
    assert [(q["table_name"], q["row_key"]) for q in quarantined] == [
        ("signal_analyses", good[1].id),
        ("signal_analyses", good[2].id),
    ]
    assert "CHECK constraint failed" in quarantined[0]["error"]
    assert json.loads(quarantined[0]["payload"])["decision"] == "buy_now"
    assert "mood" in quarantined[1]["error"]
    assert rows(store_cfg, "SELECT count(*) FROM signals") == [(5,)]
    assert rows(store_cfg, "SELECT signal_id, decision FROM signal_analyses") == [
        (good[0].id, "enter_trade")
    ]


async def test_analysis_upsert_by_signal_id(store_cfg: StoreConfig) -> None:
    async with running(store_cfg) as store:
        await store.save_analysis(analysis("s-1", "wait"))
        await store.save_analysis(analysis("s-1", "bad_setup"))
    assert rows(store_cfg, "SELECT decision FROM signal_analyses") == [("bad_setup",)]


async def test_shutdown_flushes_what_is_queued(store_cfg: StoreConfig) -> None:
    cfg = attrs.evolve(store_cfg, flush_interval_ms=60_000, batch_rows=1000, buffer_rows=1000)
    async with running(cfg) as store:
        await store.save_signals([make_signal(i) for i in range(50)])
        assert store.statistics().pending_rows == 50
    assert rows(cfg, "SELECT count(*) FROM signals") == [(50,)]
    with pytest.raises(StoreClosed):
        await store.save_signals([make_signal(99)])


async def test_non_finite_indicator_values_never_cost_a_signal(store_cfg: StoreConfig) -> None:
    signal = attrs.evolve(make_signal(1), indicator_data={"atr": math.nan, "x": [math.inf, 1.5]})
    async with running(store_cfg) as store:
        await store.save_signals([signal])
        await store.flush()
        (row,) = await store.recent_signals(USER)
    assert row["indicator_data"] == {"atr": None, "x": [None, 1.5]}


async def test_indicator_values_orjson_cannot_encode_are_stored_as_they_are(
    store_cfg: StoreConfig,
) -> None:
    # orjson writes the jsonb columns; what it refuses takes the standard library's encoder.
    data = {"big": 2**70, "lone": "\udc80", "é": [1.5, None, True]}
    keyed = attrs.evolve(make_signal(2), indicator_data={1: "int key"})
    async with running(store_cfg) as store:
        await store.save_signals([attrs.evolve(make_signal(1), indicator_data=data), keyed])
        await store.flush()
        got = {r["id"]: r["indicator_data"] for r in await store.recent_signals(USER)}
    assert got[make_signal(1).id] == data
    assert got[keyed.id] == {"1": "int key"}


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"indicator_data": {"atr": math.nan, "x": [math.inf, 1.5]}, "machine_id": "m-1"},
        {"indicator_data": {1: "int key", "big": 2**70}, "matched_conditions": ()},
        {"status": "seen", "source": "local", "provisional": True, "price": 3},
        {"alert_muted": True},
    ],
)
def test_a_signal_binds_as_its_row_encodes(changes: dict[str, Any]) -> None:
    # The close's batch binds the signals' fields directly; the row path must agree with it.
    signal = attrs.evolve(make_signal(1), **changes)
    assert signal_params(signal) == encode("signals", signal.to_row())


async def test_a_close_is_written_in_batches_of_batch_rows(store_cfg: StoreConfig) -> None:
    close = [make_signal(i) for i in range(25)]  # batch_rows=10
    async with running(store_cfg) as store:
        await store.save_signals(close)
        assert store.statistics().pending_rows == 25
        await store.flush()  # two full batches at once, then the rest
        stats = store.statistics()
    assert (stats.batches, stats.rows_written, stats.pending_rows) == (3, 25, 0)
    assert rows(store_cfg, "SELECT count(*) FROM signals") == [(25,)]


async def test_metrics_rows_are_idempotent(store_cfg: StoreConfig) -> None:
    row = metrics_row(machine_id="m", recorded_at=60_000, cpu_usage_vcpus=0.4, errors_count=0)
    async with running(store_cfg) as store:
        await store.save_metrics(row)
        await store.save_metrics(dict(row))
    assert rows(store_cfg, "SELECT machine_id, cpu_usage_vcpus FROM cloud_metrics") == [("m", 0.4)]


async def test_traders_add_edit_remove_and_jsonb_strings(store_cfg: StoreConfig) -> None:
    from_browser = {
        "id": "t-1",
        "user_id": USER,
        "name": "RSI dip",
        "enabled": True,
        "filter": json.dumps({"code": "rsi(14) < 30", "description": ["oversold"]}),
        "strategy": None,
        "cloud_config": '{"enabledInCloud": false}',
        "updated_at": "2025-01-02T03:04:05+00:00",
        "version": 3,
    }
    trader = Trader.from_row(from_browser)
    assert trader.filter["code"] == "rsi(14) < 30"
    assert trader.enabled_in_cloud is False
    assert trader.updated_at == 1_735_787_045_000
    async with running(store_cfg) as store:
        await store.upsert_trader(trader)
        breakout = {"code": "close > highest(high, 20)[1]"}
        await store.upsert_trader(Trader(id="t-2", user_id=USER, name="Breakout", filter=breakout))
        await store.upsert_trader(attrs.evolve(trader, name="RSI dip v2", version=4))
        await store.upsert_trader(
            Trader(id="t-3", user_id=USER, name="Off", enabled=False, filter={"code": "close > 0"})
        )
        names = [t.name for t in await store.load_traders(USER)]
        everything = {t.id: t for t in await store.load_traders(USER, include_disabled=True)}
        await store.delete_trader("t-2", user_id=USER)
        after_delete = [t.id for t in await store.load_traders(USER)]
        others = await store.load_traders("someone-else")
    assert names == ["Breakout", "RSI dip v2"]
    assert len(everything) == 3
    edited = everything["t-1"]
    assert edited.version == 4  # an edit counts up from the stored version (3)
    assert edited.updated_at is not None
    assert edited.updated_at > trader.updated_at
    assert attrs.evolve(edited, updated_at=None) == attrs.evolve(
        trader, name="RSI dip v2", version=4, updated_at=None
    )
    assert after_delete == ["t-1"]
    assert others == []


async def test_a_user_changes_only_their_own_traders(store_cfg: StoreConfig) -> None:
    theirs = Trader(
        id="t-1",
        user_id="someone-else",
        name="Theirs",
        filter={"code": "x > 1"},
        description="kept",
        cloud_config={"enabledInCloud": False},
    )
    async with running(store_cfg) as store:
        await store.upsert_trader(theirs)
        hijack = attrs.evolve(theirs, user_id=USER, name="Mine now", cloud_config={})
        with pytest.raises(TraderNotOwned, match="t-1"):
            await store.upsert_trader(hijack)
        with pytest.raises(TraderNotOwned, match="trader_remove"):
            await store.delete_trader("t-1", user_id=USER)
        await store.upsert_trader(
            attrs.evolve(theirs, name="Renamed", description="", filter={"code": "x > 2"})
        )
        # An edit's alert switches are merged into cloud_config; nothing else of it is.
        switches = {"notifyMuted": True, "enabledInCloud": True}
        edit = attrs.evolve(theirs, name="Renamed", filter={"code": "x > 2"})
        await store.upsert_trader(attrs.evolve(edit, cloud_config=switches))
        [row] = await store.load_traders("someone-else", include_disabled=True)
    # The owner's own edit merged: cloud_config and description stay, version counts up.
    assert (row.user_id, row.name, row.filter["code"]) == ("someone-else", "Renamed", "x > 2")
    assert (row.description, row.cloud_config, row.version) == (
        "kept",
        {"enabledInCloud": False, "notifyMuted": True},
        3,
    )


def test_bad_trader_row_names_the_field() -> None:
    with pytest.raises(RowError, match=r"trader 't-9'.*trader\.version"):
        Trader.from_row(
            {"id": "t-9", "user_id": USER, "name": "x", "filter": {}, "version": "three"}
        )
    with pytest.raises(RowError, match=r"trader\.filter"):
        Trader.from_row({"id": "t-9", "user_id": USER, "name": "x", "filter": "[1, 2]"})


async def test_machine_row_lifecycle(store_cfg: StoreConfig) -> None:
    record = MachineRecord(
        id="9f1e5c7a-0000-4000-8000-000000000001",
        user_id=USER,
        machine_id="vyx-1",
        status="running",
        cpus=1,
        started_at=10,
    )
    async with running(store_cfg) as store:
        assert await store.load_machine("vyx-1") is None
        await store.upsert_machine(record)
        await store.heartbeat("vyx-1", 20)
        beat = await store.load_machine("vyx-1")
        await store.upsert_machine(
            attrs.evolve(record, status="stopped", stopped_at=30, last_health_check=20)
        )
        stopped = await store.load_machine("vyx-1")
    assert beat == attrs.evolve(record, last_health_check=20, updated_at=20)
    assert stopped is not None
    assert (stopped.status, stopped.stopped_at) == ("stopped", 30)


async def test_the_signal_history_pages_through_every_signal(tmp_path: Path) -> None:
    signals = history_signals(40, USER, "t-1", "someone-else")
    analysis = {**make_analysis(signals[4]), "decision": "enter_trade", "confidence": 81.0}
    async with running(StoreConfig(tmp_path)) as store:
        await store.save_signals(signals)
        await store.save_analysis(analysis)
        await store.flush()
        await check_history_pages(store, signals, USER, {signals[4].id: analysis})


def test_an_older_database_gains_the_signals_bar_and_keeps_its_rows(tmp_path: Path) -> None:
    """A database made before ``signals.bar_open_time`` was kept: the column is added on open
    (nothing else changes) and its old rows read without it (the history derives their bar)."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE signals (id TEXT PRIMARY KEY, trader_id TEXT NOT NULL, user_id TEXT NOT "
        "NULL, symbol TEXT NOT NULL, interval TEXT NOT NULL, price REAL NOT NULL, "
        "matched_conditions TEXT NOT NULL DEFAULT '[]', indicator_data TEXT NOT NULL DEFAULT "
        "'{}', status TEXT NOT NULL DEFAULT 'new', source TEXT NOT NULL DEFAULT 'cloud', "
        "machine_id TEXT, created_at INTEGER NOT NULL);"
        f"INSERT INTO signals (id, trader_id, user_id, symbol, interval, price, created_at) "
        f"VALUES ('old', 't', '{USER}', 'BTCUSDT', '5m', 1.0, 1700000100000);"
    )
    old.close()
    db = SqliteDatabase.open(path)
    try:
        new = make_signal(1)
        db.write_batch([PendingRow.of("signals", new.to_row())])
        rows = {r["id"]: r for r in db.recent_signals(USER, 10)}
    finally:
        db.close()
    assert rows["old"]["bar_open_time"] is None
    assert signal_message(rows["old"])["barOpenTime"] == 1700000100000 - 300_000
    assert rows[new.id]["bar_open_time"] == new.bar_open_time
    assert signal_message(rows[new.id])["barOpenTime"] == new.bar_open_time


def outcome(signal_n: int, bars: int, **changes: Any) -> dict[str, Any]:
    """A ``signal_outcomes`` row as the daemon writes it (every column)."""
    s = make_signal(signal_n)
    returns = tuple(0.01 * h if h <= bars else None for h in HORIZONS)
    o = Outcome(
        "long",
        s.price,
        s.price * 0.98,
        s.price * 1.04,
        "atr",
        bars,
        returns,
        0.012,
        -0.021,
        "none",
        None,
    )
    row = OutcomeUpdate(s.id, s.trader_id, s.user_id, s.symbol, s.interval, s.bar_open_time, o)
    return {**row.to_row(1_700_000_000_000), **changes}


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("signal_outcomes", outcome(1, 3)),
        ("signal_outcomes", outcome(1, HORIZON, complete=True, touch_bar=None)),
        ("signal_outcomes", {k: v for k, v in outcome(1, 0).items() if k != "mfe"}),
        ("signals", make_signal(2).to_row()),
    ],
)
def test_a_row_binds_as_it_encodes(table: str, row: dict[str, Any]) -> None:
    assert row_params(table, row) == encode(table, row)


async def test_progressed_outcomes_land_as_upserts_would_leave_them(
    store_cfg: StoreConfig,
) -> None:
    """Rows saved as progressed are updated in place; one the table lacks is upserted; an
    outcome opened and progressed in one batch lands progressed (batch_rows=10: the first two
    saves share a batch, the rest follow in more)."""
    async with running(store_cfg) as store:
        await store.save_outcomes([outcome(1, 0), outcome(2, 0)])
        await store.save_outcomes([outcome(1, 3)], progressed=True)
        await store.flush()
        await store.save_outcomes([outcome(2, 6), outcome(3, 1)], progressed=True)
        await store.save_outcomes([outcome(i, 1) for i in range(4, 16)])
        await store.save_outcomes([outcome(i, 2) for i in range(4, 16)], progressed=True)
        await store.flush()
        stats = store.statistics()
    assert stats.quarantined == 0
    got = dict(rows(store_cfg, "SELECT signal_id, bars FROM signal_outcomes"))
    bars = {1: 3, 2: 6, 3: 1} | dict.fromkeys(range(4, 16), 2)
    assert got == {make_signal(i).id: b for i, b in bars.items()}


async def test_a_progressed_row_a_check_refuses_is_quarantined_alone(
    store_cfg: StoreConfig,
) -> None:
    async with running(store_cfg) as store:
        await store.save_outcomes([outcome(1, 0), outcome(2, 0)])
        await store.flush()
        await store.save_outcomes([outcome(1, 99), outcome(2, 4)], progressed=True)
        await store.flush()
        quarantined = await store.quarantined()
    assert [(q["table_name"], q["row_key"]) for q in quarantined] == [
        ("signal_outcomes", make_signal(1).id)
    ]
    got = dict(rows(store_cfg, "SELECT signal_id, bars FROM signal_outcomes"))
    assert got == {make_signal(1).id: 0, make_signal(2).id: 4}
