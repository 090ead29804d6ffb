"""The running daemon against thousands of hostile filters over its WebSocket.

The daemon runs in-process on port 0 against the simulated exchange (a 5m candle closes every
0.2 s) with two traders of its own, while one browser sends random, mutated and pathological
filters (``tests/vyx/fuzz_filters.py``) as ``trader_upsert``, ``config_update`` and
``trader_remove``. Throughout:

- the event loop never blocks for 250 ms: a watchdog task measures, between two of its wake-ups,
  the CPU time the event loop's thread spent (time the process was not scheduled, on a loaded
  machine, is not the daemon blocking: wall-clock latencies are not asserted, only printed), and
  ``/health`` is fetched every 100 ms and always answers 200;
- RSS stays within +50 MiB of what it was once the daemon ran;
- every frame the browser receives (but the connect snapshot) is under 16 KB;
- the daemon never exits, and its own traders keep firing to the end.

``VYX_FUZZ=long`` sends 20,000 messages instead of 1,500; ``VYX_FUZZ_SEED`` picks the seed.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import httpx
import psutil
import trio

from kernels.program import TraderDef
from tests.vyx.fuzz_filters import filters
from tests.vyx.server.wsclient import WsClient, connect
from vyx.app import Daemon, DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange
from vyx.server.protocol import MAX_FRAME_BYTES
from vyx.traders import TraderInfo, TraderRejected

LONG = os.environ.get("VYX_FUZZ") == "long"
MESSAGES = 20_000 if LONG else 1_500
SEED = int(os.environ.get("VYX_FUZZ_SEED", "20261206"))
OWN = [
    TraderDef("cross-up", "crosses_above(close, sma(close, 5))", "5m", "cross up"),
    TraderDef("cross-down", "crosses_below(close, sma(close, 5))", "5m", "cross down"),
]
FUZZ_IDS = [f"fuzz-{k}" for k in range(8)]
BLOCK_LIMIT_S = 0.25
RSS_LIMIT = 50 * 2**20
FRAME_LIMIT = 16 * 1024


async def _own() -> tuple[list[TraderInfo], list[TraderRejected]]:
    return [TraderInfo(t) for t in OWN], []


@attrs.define
class Watch:
    """What the probes saw."""

    busiest_s: float = 0.0
    health_s: list[float] = attrs.Factory(list)
    health_codes: Counter[int] = attrs.Factory(Counter)
    rss: list[int] = attrs.Factory(list)

    async def event_loop(self) -> None:
        """The longest stretch of CPU the event loop's thread spent between two wake-ups."""
        while True:
            cpu = time.thread_time()
            await trio.sleep(0.005)
            self.busiest_s = max(self.busiest_s, time.thread_time() - cpu)

    async def health(self, url: str) -> None:
        async with httpx.AsyncClient(base_url=url) as http:
            while True:
                started = trio.current_time()
                response = await http.get("/health")
                self.health_s.append(trio.current_time() - started)
                self.health_codes[response.status_code] += 1
                await trio.sleep(0.1)


@attrs.define
class Browser:
    """The hostile browser: sends a command, reads frames until its answer."""

    ws: WsClient
    largest: int = 0
    kinds: Counter[str] = attrs.Factory(Counter)
    own_signals: list[int] = attrs.Factory(list)
    answers: Counter[str] = attrs.Factory(Counter)
    sent: int = 0

    async def command(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        self.sent += 1
        rid = self.sent
        await self.ws.send_text(_frame({"type": kind, "data": {**data, "requestId": rid}}))
        while True:
            text = await self.ws.get_message()
            assert isinstance(text, str)
            message = json.loads(text)
            self.kinds[message["type"]] += 1
            if message["type"] != "snapshot":
                self.largest = max(self.largest, len(text.encode()))
                assert len(text.encode()) < FRAME_LIMIT, text[:300]
            if message["type"] == "signal_created" and message["data"]["traderId"] in {
                t.id for t in OWN
            }:
                self.own_signals.append(rid)
            if message["data"].get("requestId") == rid and message["type"] in (
                "ack",
                "error",
                "pong",
            ):
                self.answers[f"{kind} {message['type']}"] += 1
                return dict(message)


def _frame(message: dict[str, Any]) -> str:
    """``message`` as JSON that fits one frame (a filter is cut to fit; text that is not
    UTF-8 is sent as JSON escapes)."""
    text = json.dumps(message, ensure_ascii=False)
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        text = json.dumps(message)
        size = len(text)
    if size <= MAX_FRAME_BYTES - 64:
        return text
    data = message["data"]
    for trader in [data["trader"]] if "trader" in data else data["traders"]:
        if trader["id"] in FUZZ_IDS:
            code = trader["filter"]["code"]
            trader["filter"]["code"] = code[: len(code) // 2]
    return _frame(message)


def _trader(tid: str, code: str, rng: random.Random, timeframe: str = "") -> dict[str, Any]:
    return {
        "id": tid,
        "name": tid,
        "filter": {"code": code, "language": "vyx"},
        "executionInterval": timeframe or rng.choice(["5m", "5m", "5m", "15m", "1h"]),
    }


async def _fuzz(browser: Browser, watch: Watch) -> None:
    rng = random.Random(SEED)
    process = psutil.Process()
    for n, code in enumerate(filters(SEED, MESSAGES)):
        roll = rng.random()
        if roll < 0.85:
            trader = _trader(rng.choice(FUZZ_IDS), code, rng)
            await browser.command("trader_upsert", {"trader": trader})
        elif roll < 0.92:
            extra = [_trader(tid, code, rng) for tid in rng.sample(FUZZ_IDS, 3)]
            own = [_trader(t.id, t.filter, rng, t.timeframe) for t in OWN]
            await browser.command("config_update", {"version": n, "traders": [*own, *extra]})
        else:
            await browser.command("trader_remove", {"traderId": rng.choice(FUZZ_IDS)})
        if n % 50 == 0:
            watch.rss.append(process.memory_info().rss)


async def test_hostile_filters_never_freeze_crash_or_bloat_the_daemon(tmp_path: Path) -> None:
    watch = Watch()
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=3, seed=5, speed=1500.0, decoys=False)
        )
        cfg = Config.from_env(
            {
                "BINANCE_REST_URL": exchange.rest_url,
                "BINANCE_WS_URL": exchange.ws_url,
                "SYMBOL_COUNT": "3",
                "VYX_DATA_DIR": str(tmp_path),
                "PORT": "0",
            }
        )
        opts = DaemonOptions(traders=_own, persist_browser_edits=False, handle_signals=False)
        exited = trio.Event()

        async def run(*, task_status: trio.TaskStatus[Daemon]) -> None:
            await run_daemon(cfg, opts, task_status=task_status)
            exited.set()

        daemon: Daemon = await nursery.start(run)
        nursery.start_soon(watch.event_loop)
        nursery.start_soon(watch.health, daemon.server.url)
        url = daemon.server.url.replace("http://", "ws://")
        async with connect(f"{url}/ws?access_token={daemon.server.local_token}") as ws:
            browser = Browser(ws)
            await browser.command("ping", {})
            watch.rss.append(psutil.Process().memory_info().rss)
            with trio.fail_after(600 if LONG else 120):
                await _fuzz(browser, watch)
        assert not exited.is_set()
        statistics = daemon.screener.statistics()
        assert set(daemon.control.traders) >= {t.id for t in OWN}
        assert all(statistics.traders[t.id].error is None for t in OWN), [
            statistics.traders[t.id] for t in OWN
        ]
        daemon.stop()
        nursery.cancel_scope.cancel()

    print(
        f"fuzz: {browser.sent} messages, answers {dict(browser.answers)}, frames "
        f"{dict(browser.kinds)}, largest {browser.largest} B, event loop busiest "
        f"{watch.busiest_s * 1000:.0f} ms CPU, /health p99 "
        f"{sorted(watch.health_s)[int(len(watch.health_s) * 0.99)] * 1000:.0f} ms, max "
        f"{max(watch.health_s) * 1000:.0f} ms wall over "
        f"{len(watch.health_s)}, RSS +{(max(watch.rss) - watch.rss[0]) / 2**20:.1f} MiB"
    )
    assert watch.busiest_s < BLOCK_LIMIT_S
    assert watch.health_codes.keys() == {200}
    assert max(watch.rss) - watch.rss[0] < RSS_LIMIT
    # Its own traders fired all along: in each quarter of the run.
    # (a signal that arrives after the last command counts in the last quarter)
    quarters = {min(rid * 4 // browser.sent, 3) for rid in browser.own_signals}
    assert quarters == {0, 1, 2, 3}, browser.own_signals[-10:]
    accepted = browser.answers["trader_upsert ack"]
    refused = browser.answers["trader_upsert error"]
    assert accepted > 50
    assert refused > 50
