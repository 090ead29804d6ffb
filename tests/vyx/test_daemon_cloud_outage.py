"""The database is never a start-up dependency: a cloud machine whose database answers 503 at
start runs the traders of its last load, screens and serves browsers; when the database is back
its rows land, the machine's lifecycle rows first and in order, nothing quarantined."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import trio

from tests.vyx.server.harness import hs256_token
from tests.vyx.server.wsclient import connect
from tests.vyx.store.supabase.factory import USER
from tests.vyx.store.supabase.fake_postgrest import serve_tcp
from tests.vyx.store.supabase.pgrest_server import PostgrestServer, serving
from tests.vyx.store.supabase.postgres import Databases
from tests.vyx.test_daemon_cloud import TRADER, environment, seed
from vyx.app import DaemonOptions, run_daemon
from vyx.cloud.traders import save_cache
from vyx.config import Config
from vyx.daemon.cloud import TRADERS_CACHE
from vyx.exchange.service import ExchangeConfig, run_exchange


async def until(condition: Any, timeout_s: float = 60) -> None:
    """Poll ``condition()`` (the database, as another client would see it)."""
    with trio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.1)


def landed(server: PostgrestServer, signal_ids: list[str]) -> bool:
    machines = server.rows("cloud_machines")
    stored = {r["id"] for r in server.rows("signals")}
    return bool(machines) and machines[0]["status"] == "running" and set(signal_ids) <= stored


def synced(server: PostgrestServer) -> bool:
    """The trader sync's retried first load has reached the database (it retries on its own
    backoff, independent of the spool's flush of the signals)."""
    return any(e["event_type"] == "config_synced" for e in server.rows("cloud_events"))


async def test_a_machine_starts_and_screens_while_the_database_is_down(
    postgres_databases: Databases, tmp_path: Path
) -> None:
    received: list[str] = []
    done = trio.Event()
    with serving(postgres_databases, "fresh") as server:
        seed(server, "fresh")
        mine = [r for r in server.rows("traders", order="id") if r["user_id"] == USER]
        save_cache(tmp_path / TRADERS_CACHE, USER, mine, True)  # the last successful load
        server.down = True
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_tcp, server)
            exchange = await nursery.start(
                run_exchange, ExchangeConfig(symbols=3, seed=11, speed=3000.0, decoys=False)
            )
            env = environment(port, server, 0, exchange, tmp_path)
            del env["GEMINI_API_KEY"]
            cfg = Config.from_env(env)

            async def daemon_task(*, task_status: trio.TaskStatus[Any]) -> None:
                await run_daemon(cfg, DaemonOptions(handle_signals=False), task_status=task_status)
                done.set()

            daemon = await nursery.start(daemon_task)  # no exit 1: it runs
            token = hs256_token(USER, secret=server.jwt_secret)
            url = daemon.server.url.replace("http://", "ws://") + f"/ws?access_token={token}"
            async with connect(url) as ws:
                with trio.fail_after(60):
                    while len(received) < 2:
                        msg = json.loads(await ws.get_message())
                        if msg["type"] == "signal_created":
                            received.append(msg["data"]["signalId"])
            assert server.rows("cloud_machines") == []  # screened with the database down
            server.down = False
            await until(lambda: landed(server, received) and synced(server))
            daemon.stop()
            with trio.fail_after(30):
                await done.wait()
            nursery.cancel_scope.cancel()
        [machine] = server.rows("cloud_machines")
        assert machine["status"] == "stopped"
        stored = {r["id"]: r for r in server.rows("signals")}
        assert {stored[s]["trader_id"] for s in received} == {TRADER}
        events = [e["event_type"] for e in server.rows("cloud_events")]
        assert events[0] == "machine_started"
        assert events[-1] == "machine_stopped"
        assert "config_synced" in events  # the traders were loaded once it answered
    spool = sqlite3.connect(tmp_path / "spool.sqlite3")
    counts = [
        spool.execute(f"select count(*) from {t}").fetchone()[0] for t in ("queue", "quarantine")
    ]
    spool.close()
    assert counts == [0, 0]
