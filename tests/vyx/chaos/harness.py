"""The chaos harness: a world that outlives the daemon, the daemon's lives, a browser, faults.

The simulated exchange, the PostgREST fake (over TCP) and the Gemini fake (over TCP) run in the
test's Trio loop and persist across the daemon's restarts. The daemon runs as ``python -m vyx
run`` in a subprocess (so it can be sent SIGTERM or SIGKILL) with one data directory for all
its lives, then once in-process (:func:`vyx.app.run_daemon`, same data directory) so its rings
and screener can be inspected. A browser stays connected to whichever daemon is up (a Supabase
JWT), reconnecting after each restart, and records every ``signal_created`` and the signals of
every ``snapshot``. A seeded :class:`Schedule` of faults is played by market bar.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from kernels.program import TraderDef
from kernels.timeframes import timeframe_ms
from tests.conftest import REPO
from tests.vyx.chaos.gemini_server import GeminiServer
from tests.vyx.server.harness import hs256_token
from tests.vyx.server.wsclient import Closed, connect
from tests.vyx.store.supabase.fake_postgrest import SERVICE_KEY, FakePostgrest, Fault
from vyx.exchange.service import ExchangeHandle

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
JWT_SECRET = "chaos-test-jwt-secret-with-enough-bytes-0123456789"
GEMINI_KEY = "chaos-gemini-key-123"
MACHINE_ID = "vyx-chaos-1"
TF = "5m"
BAR_MS = timeframe_ms(TF)

#: The traders (their ids are the ``traders`` rows' uuids); ``cross`` is auto-analyzed.
TRADERS = [
    TraderDef(
        "c0000000-0000-4000-8000-000000000001",
        "crosses_above(close, sma(close, 5))",
        TF,
        "cross",
    ),
    TraderDef(
        "c0000000-0000-4000-8000-000000000002",
        "close > open and volume > 1.2 * sma(volume, 10)",
        TF,
        "volume",
    ),
    TraderDef(
        "c0000000-0000-4000-8000-000000000003",
        'crosses_above(close, ema(close, 8)) and on("15m", close > sma(close, 4))',
        TF,
        "mtf",
    ),
]
AUTO_ANALYZED = {TRADERS[0].id}


def seed_database(fake: FakePostgrest) -> None:
    """The user's traders and an elite subscription, as the browser app would have left them."""
    rows = [
        {
            "id": t.id,
            "user_id": USER,
            "name": t.name,
            "execution_interval": t.timeframe,
            "filter": {"code": t.filter, "language": "vyx"},
            "auto_analyze_signals": t.id in AUTO_ANALYZED,
        }
        for t in TRADERS
    ]
    kw: dict[str, Any] = {"on_conflict": None, "resolution": None, "columns": None}
    fake.db.insert("traders", rows, **kw)
    fake.db.insert(
        "user_subscriptions", [{"user_id": USER, "tier": "elite", "status": "active"}], **kw
    )


def daemon_env(
    exchange: ExchangeHandle, postgrest_port: int, gemini_url: str, data_dir: Path, symbols: int
) -> dict[str, str]:
    """The daemon's configuration (cloud mode, the analyzer on)."""
    return {
        "BINANCE_REST_URL": exchange.rest_url,
        "BINANCE_WS_URL": exchange.ws_url,
        "SYMBOL_COUNT": str(symbols),
        "VYX_DATA_DIR": str(data_dir),
        "PORT": "0",
        "HOST": "127.0.0.1",
        "SUPABASE_URL": f"http://127.0.0.1:{postgrest_port}",
        "SUPABASE_SERVICE_KEY": SERVICE_KEY,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "USER_ID": USER,
        "MACHINE_ID": MACHINE_ID,
        "GEMINI_API_KEY": GEMINI_KEY,
        "GEMINI_BASE_URL": gemini_url,
        "GEMINI_TIMEOUT_S": "1",
        "GEMINI_RPM": "6000",
        "WORKERS": "1",
        "DRAIN_TIMEOUT_S": "6",
        "VYX_STORE_FLUSH_MS": "50",
    }


# --------------------------------------------------------------------------- the daemon process

DASHBOARD = re.compile(r"Dashboard: (http://\S+?)/?\s*$", re.MULTILINE)
#: Logged once the market is backfilled and streaming (the address is printed before).
READY = re.compile(r"vyx \S+ ready: ")


class DaemonProcess:
    """``python -m vyx run`` with ``env``; its stdout and stderr go to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: trio.Process | None = None
        self.url = ""

    async def start(self, timeout_s: float = 120.0) -> str:
        """Start and wait until the daemon printed its dashboard URL and is ready; the URL."""
        keep = ("PATH", "HOME", "LANG", "TMPDIR", "NUMBA_CACHE_DIR", "VIRTUAL_ENV")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(self.env, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        offset = self.log.stat().st_size if self.log.exists() else 0
        out = self.log.open("ab")
        try:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "vyx", "run"], env=env, cwd=REPO, stdout=out, stderr=out
            )
        finally:
            out.close()
        with trio.fail_after(timeout_s):
            while True:
                text = self.log.read_bytes()[offset:].decode(errors="replace")
                found = DASHBOARD.search(text)
                if found and READY.search(text):
                    self.url = found.group(1)
                    return self.url
                if self.process.poll() is not None:
                    raise AssertionError(f"the daemon exited at start-up:\n{self.tail()}")
                await trio.sleep(0.02)

    async def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; the exit code."""
        return await self._end(signal.SIGTERM, timeout_s)

    async def kill(self) -> int:
        """SIGKILL (``kill -9``) and wait; the exit code."""
        return await self._end(signal.SIGKILL, 10.0)

    async def _end(self, sig: signal.Signals, timeout_s: float) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        with trio.fail_after(timeout_s):
            return await self.process.wait()

    def abandon(self) -> None:
        """SIGKILL if still running (a failed test leaves no daemon behind)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- the browser


@attrs.define
class Browser:
    """One browser tab: what it was pushed over all its connections."""

    #: ``signal_created`` data, in arrival order (possibly repeated).
    created: list[dict[str, Any]] = attrs.Factory(list)
    #: For each of :attr:`created`, which connection (0, 1...) brought it.
    created_by: list[int] = attrs.Factory(list)
    #: Signals of every ``snapshot`` (the recent signals a daemon sends on connect).
    snapshot: list[dict[str, Any]] = attrs.Factory(list)
    analyses: list[dict[str, Any]] = attrs.Factory(list)
    connections: int = 0
    closes: list[int] = attrs.Factory(list)

    async def session(self, url: str, *, task_status: trio.TaskStatus[None]) -> None:
        """Connected to the daemon at ``url`` until it goes away; ``started`` after hello."""
        ws_url = url.replace("http://", "ws://")
        token = hs256_token(USER, secret=JWT_SECRET)
        async with connect(f"{ws_url}/ws?access_token={token}") as ws:
            hello = json.loads(await ws.get_message())
            assert hello["type"] == "hello", hello
            self.connections += 1
            task_status.started()
            while True:
                try:
                    raw = await ws.get_message()
                except trio.TooSlowError:
                    continue  # a quiet moment (the client's read step is 5 s)
                except Closed as exc:
                    self.closes.append(exc.close.code)
                    return
                msg = json.loads(raw)
                if msg["type"] == "signal_created":
                    self.created.append(msg["data"])
                    self.created_by.append(self.connections - 1)
                elif msg["type"] == "snapshot":
                    self.snapshot.extend(msg["data"]["signals"])
                elif msg["type"] == "analysis_completed":
                    self.analyses.append(msg["data"])

    def pushed_ids(self) -> set[str]:
        return {m["signalId"] for m in [*self.created, *self.snapshot]}


# --------------------------------------------------------------------------- faults


@attrs.define
class World:
    """Everything that outlives the daemon, with the fault switches the schedule flips."""

    exchange: ExchangeHandle
    postgrest: FakePostgrest
    gemini: GeminiServer
    nursery: trio.Nursery
    #: Signal ids the database rejects as poison, and how many more to pick.
    poisoned: set[str] = attrs.Factory(set)
    poison_armed: int = 0
    outages: int = 0
    injected: list[str] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self.postgrest.poison = self._is_poison

    def _is_poison(self, table: str, row: dict[str, Any]) -> bool:
        if table != "signals":
            return False
        sid = str(row.get("id"))
        if sid in self.poisoned:
            return True
        if self.poison_armed and not self.postgrest.db.select("signals", [("id", sid)]):
            self.poison_armed -= 1
            self.poisoned.add(sid)
            return True
        return False

    def market_ms(self) -> int:
        return self.exchange.clock.now_ms()

    # The faults; each returns nothing and may start a task that ends it.

    def db_outage(self, seconds: float) -> None:
        """PostgREST answers 503 to everything for ``seconds``."""
        self.outages += 1

        async def outage() -> None:
            self.postgrest.down = True
            try:
                await trio.sleep(seconds)
            finally:
                self.postgrest.down = False

        self.nursery.start_soon(outage)

    def db_errors(self) -> None:
        """The next requests fail: a 500, a 429 with Retry-After, a lost answer after commit."""
        self.postgrest.inject(
            Fault(status=500, body={"code": "XX000", "message": "internal error"}),
            Fault(
                status=429, body={"message": "Too many requests"}, headers=(("Retry-After", "1"),)
            ),
            Fault("after_commit", status=502, table="signals"),
        )

    def poison_next_signal(self) -> None:
        """The next new signal row the database sees is rejected (23514), every time."""
        self.poison_armed += 1

    def rest_fails(self, status: int) -> None:
        """The next REST requests get ``status`` (429 or 418, Retry-After 1 s); the connections
        drop so that gap repair asks REST at once."""
        self.exchange.faults.fail_rest(2, status, retry_after=1)
        self.exchange.faults.drop_connections()


#: Fault kinds by name: what each does to the world.
FAULTS: dict[str, Callable[[World], object]] = {
    "malformed": lambda w: w.exchange.faults.send_malformed(4),
    "disconnect": lambda w: w.exchange.faults.drop_connections(),
    "stall": lambda w: w.exchange.faults.stall(0.4),
    "server_shutdown": lambda w: w.exchange.faults.server_shutdown(close_after=0.05),
    "rest_429": lambda w: w.rest_fails(429),
    "rest_418": lambda w: w.rest_fails(418),
    "db_outage": lambda w: w.db_outage(1.5),
    "db_errors": lambda w: w.db_errors(),
    "poison_row": lambda w: w.poison_next_signal(),
    "gemini_429": lambda w: w.gemini.rate_limit(2, retry_delay_s=1.0),
    "gemini_hang": lambda w: w.gemini.hang(2),
}


@attrs.frozen
class Phase:
    """One life of the daemon: how it runs, how long (live bars), how it ends."""

    #: ``process`` (a subprocess) or ``inprocess`` (run_daemon here, inspectable).
    where: str
    bars: int
    #: ``sigterm``, ``kill`` (SIGKILL) or ``stop`` (Daemon.stop, the in-process one).
    end: str
    #: Fault kind names by live bar index.
    faults: dict[int, list[str]]
    #: The database is down from just before the end until the daemon has exited (its final
    #: flush and "stopped" write fail; the next life replays the spool).
    down_at_end: bool = False


def schedule(seed: int, ends: list[str], bars: int, extra_faults: int) -> list[Phase]:
    """A seeded plan: one life per entry of ``ends`` (the last one in-process), each ``bars``
    live bars long; every fault kind once, plus ``extra_faults`` drawn at random, spread over
    the lives at random bars (none in the first 3 or last 6 bars of a life, so a life starts
    clean and its last faults have time to heal before it ends). The first life, and others at
    random, end with the database down."""
    rng = random.Random(seed)
    kinds = list(FAULTS)
    rng.shuffle(kinds)
    kinds += [rng.choice(list(FAULTS)) for _ in range(extra_faults)]
    plans: list[dict[int, list[str]]] = [{} for _ in ends]
    for i, kind in enumerate(kinds):
        plans[i % len(ends)].setdefault(rng.randrange(3, bars - 6), []).append(kind)
    last = len(ends) - 1
    return [
        Phase(
            "inprocess" if i == last else "process",
            bars,
            end,
            plans[i],
            down_at_end=i != last and (i == 0 or rng.random() < 0.5),
        )
        for i, end in enumerate(ends)
    ]
