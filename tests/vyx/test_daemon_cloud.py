"""The daemon as a user's cloud machine on real PostgreSQL: the PostgREST test server over TCP is
its store, its source of traders and the record of the machine; the Gemini fake analyses its
signals; a browser authenticates with a Supabase JWT on ``/`` (the original web app's path).

Twice: on a fresh project (our migrations) and on the original product's schema plus our
migrations. Either way nothing is quarantined, and every signal, analysis, metric, event and
the machine row are in the database; a browser's write to another user's trader is refused.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.vyx.analysis.fake_gemini import FakeGemini
from tests.vyx.chaos.gemini_server import GeminiServer
from tests.vyx.server.harness import hs256_token
from tests.vyx.server.wsclient import connect
from tests.vyx.store.supabase.factory import OTHER_USER, TRADER, USER
from tests.vyx.store.supabase.fake_postgrest import serve_tcp
from tests.vyx.store.supabase.pgrest_server import PostgrestServer, serving
from tests.vyx.store.supabase.postgres import Databases, Template
from vyx.app import DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange

JS_TRADER = "aaaaaaaa-0000-4000-8000-000000000000"
THEIRS = "bbbbbbbb-0000-4000-8000-000000000000"
GEMINI_KEY = "cloud-gemini-key-123"


def seed(server: PostgrestServer, template: Template) -> None:
    if template != "fresh":
        server.sql(f"insert into auth.users (id) values ('{USER}'), ('{OTHER_USER}')")
    vyx = {"code": "crosses_above(close, sma(close, 5))", "language": "vyx"}
    server.insert(
        "traders",
        {
            "id": TRADER,
            "user_id": USER,
            "name": "cross",
            "filter": vyx,
            "language": "vyx",
            "strategy": {"instructions": "trend only"},
            "auto_analyze_signals": True,
            "cloud_config": {"enabledInCloud": True},  # the original's default is False
        },
        # The web app stores jsonb as JSON strings; the old traders are JavaScript.
        {
            "id": JS_TRADER,
            "user_id": USER,
            "name": "legacy",
            "strategy": "{}",
            "filter": json.dumps({"code": "return rsi < 30", "language": "javascript"}),
            "cloud_config": json.dumps({"enabledInCloud": True}),
        },
        {"id": THEIRS, "user_id": OTHER_USER, "name": "theirs", "filter": vyx, "strategy": {}},
    )
    server.insert("user_subscriptions", {"user_id": USER, "tier": "elite", "status": "active"})


def environment(
    server_port: int, server: PostgrestServer, gemini_port: int, exchange: Any, data: Path
) -> dict[str, str]:
    return {
        "BINANCE_REST_URL": exchange.rest_url,
        "BINANCE_WS_URL": exchange.ws_url,
        "SYMBOL_COUNT": "3",
        "VYX_DATA_DIR": str(data),
        "PORT": "0",
        "HOST": "127.0.0.1",
        "SUPABASE_URL": f"http://127.0.0.1:{server_port}",
        "SUPABASE_SERVICE_KEY": server.service_key,
        "SUPABASE_JWT_SECRET": server.jwt_secret,
        "USER_ID": USER,
        "MACHINE_ID": "vyx-test-1",
        "MACHINE_REGION": "nrt",
        "GEMINI_API_KEY": GEMINI_KEY,
        "GEMINI_BASE_URL": f"http://127.0.0.1:{gemini_port}",
        "GEMINI_RPM": "6000",
    }


class Browser:
    """What the browser received."""

    def __init__(self) -> None:
        self.signals: list[dict[str, Any]] = []
        self.analyses: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []

    def take(self, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        target = {
            "signal_created": self.signals,
            "analysis_completed": self.analyses,
            "error": self.errors,
            "status_update": self.statuses,
        }.get(kind)
        if target is not None:
            target.append(msg["data"])


@pytest.mark.parametrize("template", ["fresh", "original"])
async def test_cloud_machine_on_postgres(
    template: Template, postgres_databases: Databases, shared_data: Path, tmp_path: Path
) -> None:
    browser = Browser()
    done = trio.Event()
    gemini = GeminiServer(FakeGemini(shared_data, api_key=GEMINI_KEY))
    # One verdict, then invalid answers: the first signal asked twice fails (then all "ok").
    gemini.fake.script.extend(["ok", *["bad_json"] * 8])
    with serving(postgres_databases, template) as server:
        seed(server, template)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_tcp, server)
            gemini_port = await nursery.start(serve_tcp, gemini)
            exchange = await nursery.start(
                run_exchange, ExchangeConfig(symbols=3, seed=11, speed=3000.0, decoys=False)
            )
            cfg = Config.from_env(environment(port, server, gemini_port, exchange, tmp_path))
            assert cfg.mode == "cloud"

            async def daemon_task(*, task_status: trio.TaskStatus[Any]) -> None:
                await run_daemon(cfg, DaemonOptions(handle_signals=False), task_status=task_status)
                done.set()

            daemon = await nursery.start(daemon_task)
            ws_url = daemon.server.url.replace("http://", "ws://")
            token = hs256_token(USER, secret=server.jwt_secret)
            async with connect(f"{ws_url}/?access_token={token}") as ws:
                hijack = {
                    "id": THEIRS,
                    "name": "mine now",
                    "filter": {"code": "close > 0", "language": "vyx"},
                }
                await ws.send_text(
                    json.dumps({"type": "trader_upsert", "data": {"trader": hijack}})
                )
                with trio.fail_after(60):
                    while (
                        len(browser.signals) < 3
                        or {a["failed"] for a in browser.analyses} != {True, False}
                        or not browser.errors
                        or not browser.statuses
                    ):
                        browser.take(json.loads(await ws.get_message()))
            daemon.stop()
            with trio.fail_after(30):
                await done.wait()
            nursery.cancel_scope.cancel()
        check_database(server, template, browser, tmp_path)


def check_database(
    server: PostgrestServer, template: Template, browser: Browser, data: Path
) -> None:
    spool = sqlite3.connect(data / "spool.sqlite3")
    queued, quarantined = (
        spool.execute(f"select count(*) from {t}").fetchone()[0] for t in ("queue", "quarantine")
    )
    spool.close()
    assert (queued, quarantined) == (0, 0)  # everything landed, nothing quarantined
    [machine] = server.rows("cloud_machines")
    assert (machine["machine_id"], machine["status"], machine["region"]) == (
        "vyx-test-1",
        "stopped",
        "nrt",
    )
    stored = {row["id"]: row for row in server.rows("signals")}
    for msg in browser.signals:
        row = stored[msg["signalId"]]
        assert (row["trader_id"], row["machine_id"], row["source"]) == (
            TRADER,
            machine["id"],
            "cloud",
        )
    analyses = {row["signal_id"]: row for row in server.rows("signal_analyses")}
    for msg in browser.analyses:
        row = analyses[msg["signalId"]]
        assert (row["decision"], row["reasoning"]) == (msg["decision"], msg["reasoning"])
        if msg["failed"]:  # accepted although the original has trade_plan NOT NULL
            assert row["trade_plan"] == {}
    metrics = server.rows("cloud_metrics", order="recorded_at")
    assert metrics  # the last sample, at the stop
    assert {m["machine_id"] for m in metrics} == {machine["id"]}
    if template != "fresh":  # INTEGER there: rounded, not refused
        assert all(isinstance(m["memory_used_mb"], int) for m in metrics)
    events = server.rows("cloud_events")
    kinds = [e["event_type"] for e in events]
    assert {"machine_started", "config_synced", "machine_stopped"} <= set(kinds)
    assert {e["machine_id"] for e in events} == {machine["id"]}
    # The JavaScript trader is reported, not silently skipped.
    assert any(JS_TRADER in json.dumps(e) for e in events if e["event_type"] == "error")
    # The browser's write to another user's trader: refused, reported, and the row untouched.
    [refused] = browser.errors
    assert (refused["code"], refused["traderId"]) == ("trader_error", THEIRS)
    assert "not one of yours" in refused["message"]
    assert any(e["details"].get("security") for e in events)
    theirs = next(t for t in server.rows("traders") if t["id"] == THEIRS)
    assert (theirs["user_id"], theirs["name"]) == (OTHER_USER, "theirs")
    status = browser.statuses[0]
    assert status["uptime"] == status["uptime_s"]
