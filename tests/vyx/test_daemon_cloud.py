"""The daemon as a user's cloud machine: Supabase (the PostgREST fake over TCP) is its store,
its source of traders and the record of the machine; a browser authenticates with a Supabase
JWT. Real sockets and fast-forwarded market time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio

from tests.vyx.server.harness import hs256_token
from tests.vyx.server.wsclient import connect
from tests.vyx.store.supabase.factory import TRADER, USER
from tests.vyx.store.supabase.fake_postgrest import SERVICE_KEY, FakePostgrest, serve_tcp
from vyx.app import DaemonOptions, run_daemon
from vyx.config import Config
from vyx.market.exchange.service import ExchangeConfig, run_exchange

SECRET = "cloud-test-jwt-secret-with-enough-bytes-0123456789"
JS_TRADER = "aaaaaaaa-0000-4000-8000-000000000000"


async def test_cloud_machine_runs_database_traders_and_records_itself(tmp_path: Path) -> None:
    fake = FakePostgrest()
    fake.db.insert(
        "traders",
        [
            {
                "id": TRADER,
                "user_id": USER,
                "name": "cross",
                "execution_interval": "5m",
                "filter": {"code": "crosses_above(close, sma(close, 5))", "language": "vyx"},
            },
            {
                "id": JS_TRADER,
                "user_id": USER,
                "name": "legacy",
                "execution_interval": "5m",
                "filter": json.dumps({"code": "return rsi < 30", "language": "javascript"}),
            },
        ],
        on_conflict=None,
        resolution=None,
        columns=None,
    )
    fake.db.insert(
        "user_subscriptions",
        [{"user_id": USER, "tier": "elite", "status": "active"}],
        on_conflict=None,
        resolution=None,
        columns=None,
    )
    received: list[dict[str, Any]] = []
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_tcp, fake)
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=3, seed=11, speed=3000.0, decoys=False)
        )
        cfg = Config.from_env(
            {
                "BINANCE_REST_URL": exchange.rest_url,
                "BINANCE_WS_URL": exchange.ws_url,
                "SYMBOL_COUNT": "3",
                "VYX_DATA_DIR": str(tmp_path),
                "PORT": "0",
                "HOST": "127.0.0.1",
                "SUPABASE_URL": f"http://127.0.0.1:{port}",
                "SUPABASE_SERVICE_KEY": SERVICE_KEY,
                "SUPABASE_JWT_SECRET": SECRET,
                "USER_ID": USER,
                "MACHINE_ID": "vyx-test-1",
            }
        )
        assert cfg.mode == "cloud"

        async def daemon_task(*, task_status: trio.TaskStatus[Any]) -> None:
            await run_daemon(cfg, DaemonOptions(handle_signals=False), task_status=task_status)
            done.set()

        daemon = await nursery.start(daemon_task)
        machine = fake.rows("cloud_machines")
        assert [(m["machine_id"], m["status"]) for m in machine] == [("vyx-test-1", "running")]
        ws_url = daemon.server.url.replace("http://", "ws://")
        token = hs256_token(USER, secret=SECRET)
        async with connect(f"{ws_url}/ws?access_token={token}") as ws:
            with trio.fail_after(60):
                while len(received) < 3:
                    msg = json.loads(await ws.get_message())
                    if msg["type"] == "signal_created":
                        received.append(msg["data"])
        daemon.stop()
        with trio.fail_after(30):
            await done.wait()
        nursery.cancel_scope.cancel()

    machine_row = fake.rows("cloud_machines")[0]
    assert machine_row["status"] == "stopped"
    stored = {row["id"]: row for row in fake.rows("signals")}
    for msg in received:
        row = stored[msg["signalId"]]
        assert row["trader_id"] == TRADER
        assert row["machine_id"] == machine_row["id"]
        assert row["source"] == "cloud"
    events = [e["event_type"] for e in fake.rows("cloud_events")]
    assert "machine_started" in events
    assert "machine_stopped" in events
    # The JavaScript trader is reported, not silently skipped.
    errors = [e for e in fake.rows("cloud_events") if e["event_type"] == "error"]
    assert any("legacy" in e["message"] or JS_TRADER in json.dumps(e) for e in errors)
