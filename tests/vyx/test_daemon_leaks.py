"""The daemon does not leak: tasks, file descriptors and internal queues return to their level.

The whole daemon runs in-process against the simulated exchange (3 symbols, a 1m candle every
25 ms, so a few hundred closes in seconds; one trader reads 1h through ``on()``, so every hour a
close is held for the longer bar; intrabar screens make provisional signals). Meanwhile a browser
stays connected, others connect, read and leave, the server closes every browser once a cycle,
and the exchange drops every connection now and then (reconnect and gap repair). The levels are
taken after the first four-round cycle and after the last, at the same point of the cycle, as
the minimum over a few looks (a screen in flight or a request being served is a transient, a
leak is not); a task or file leaked per round shows as growth well above the slack. The long
version is ``just soak``."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import attrs
import trio

from kernels.program import TraderDef
from kernels.timeframes import timeframe_ms
from tests.vyx.server.wsclient import Closed, connect
from vyx.app import Daemon, DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, ExchangeHandle, run_exchange
from vyx.telemetry.metrics import trio_task_count
from vyx.traders import TraderInfo, TraderRejected

TRADERS = [
    TraderDef("cross", "crosses_above(close, sma(close, 5))", "1m", "cross"),
    TraderDef("dip", "rsi(14) < 45", "1m", "dip"),
    TraderDef("mtf", 'on("1h", close > ema(close, 8)) and close > open', "1m", "mtf"),
]
SYMBOLS = 3
#: Market ms per real second: a 1m candle every 25 ms.
SPEED = 2400.0
ROUNDS = 12  # three cycles of four
CLOSES_PER_ROUND = 20
KEEP_ALIVE_S = 6.0
START_MS = 1_736_121_600_000 + 45 * 60_000  # the first hour boundary comes early


@attrs.frozen
class Level:
    """What must not grow."""

    tasks: int
    fds: int
    browsers: int
    exchange_connections: int
    provisional: int
    pending_buckets: int
    repairing: int
    held_frames: int

    def within(self, base: Level) -> list[str]:
        """Where this level is above ``base`` by more than a small fixed slack."""
        slack = {"tasks": 2, "fds": 2}
        return [
            f"{name}: {getattr(base, name)} -> {getattr(self, name)}"
            for name in attrs.fields_dict(Level)
            if getattr(self, name) > getattr(base, name) + slack.get(name, 0)
        ]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _level(daemon: Daemon, exchange: ExchangeHandle) -> Level:
    """The minimum of a few looks 10 ms apart (transients pass, leaks stay)."""
    looks = []
    for _ in range(8):
        await trio.sleep(0.01)
        market = daemon.market._svc
        looks.append(
            Level(
                tasks=int(trio_task_count()),
                fds=_fds(),
                browsers=daemon.server._hub.statistics().connections,
                exchange_connections=exchange.statistics().connections,
                provisional=sum(len(p) for p in daemon.screener._provisional.values()),
                pending_buckets=len(market.tracker._buckets),
                repairing=len(market.repairing),
                held_frames=market.announcer.queued,
            )
        )
    return Level(*(min(getattr(x, f) for x in looks) for f in attrs.fields_dict(Level)))


async def _streaming(daemon: Daemon, closes: int) -> None:
    """Wait until ``closes`` more 1m closes are screened and the market is streaming."""
    target = daemon.screener.closed_upto("1m") + closes * timeframe_ms("1m")

    def done() -> bool:
        return daemon.screener.closed_upto("1m") >= target and daemon.market.statistics().healthy

    while not done():  # noqa: ASYNC110 - polled: no event tells both
        await trio.sleep(0.02)


async def _visit(url: str, messages: int) -> None:
    """A browser that connects, reads ``messages`` messages and leaves."""
    async with connect(url) as ws:
        for _ in range(messages):
            json.loads(await ws.get_message())


async def test_no_task_fd_or_queue_growth_over_hundreds_of_closes(tmp_path: Path) -> None:
    async def load() -> tuple[list[TraderInfo], list[TraderRejected]]:
        return [TraderInfo(t) for t in TRADERS], []

    pushed: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange,
            ExchangeConfig(
                symbols=SYMBOLS,
                seed=11,
                speed=SPEED,
                start_ms=START_MS,
                decoys=False,
                timeframes=("1m", "1h"),
                forming_updates=1,
            ),
        )
        cfg = Config.from_env(
            {
                "BINANCE_REST_URL": exchange.rest_url,
                "BINANCE_WS_URL": exchange.ws_url,
                "SYMBOL_COUNT": str(SYMBOLS),
                "VYX_DATA_DIR": str(tmp_path),
                "PORT": "0",
                "KLINE_INTERVAL": "1m",
                "SCREENING_INTERVAL_MS": "100",
            }
        )
        opts = DaemonOptions(traders=load, persist_browser_edits=False, handle_signals=False)
        started = trio.current_time()
        daemon: Daemon = await nursery.start(run_daemon, cfg, opts)
        intrabar_screens = 0
        screen_forming = daemon.screener.intrabar

        async def counted() -> None:
            nonlocal intrabar_screens
            intrabar_screens += 1
            await screen_forming()

        # Counted at the loop's call: whether a screen finds a forming bar (and makes provisional
        # signals) depends on how late the loop runs, not on the code under test.
        daemon.screener.intrabar = counted  # type: ignore[method-assign]
        url = daemon.server.url.replace("http://", "ws://")
        url += f"/ws?access_token={daemon.server.local_token}"

        async def browser() -> None:
            """Stays connected (reconnects when the server closes every browser)."""
            while True:
                with contextlib.suppress(Closed):
                    async with connect(url) as ws:
                        while True:
                            try:
                                msg = json.loads(await ws.get_message())
                            except trio.TooSlowError:
                                continue  # no message for a while: keep listening
                            if msg["type"] == "signal_created":
                                pushed.append(msg["data"])

        nursery.start_soon(browser)
        # The start-up's REST connections (backfill) idle out first: HTTP keep-alive is 5 s.
        await trio.sleep_until(started + KEEP_ALIVE_S)
        with trio.fail_after(60):
            # Rounds of the same four-round cycle; the baseline is taken after the first cycle
            # (lazily created state exists by then) and compared with the end of the last one,
            # at the same point of the cycle.
            for i in range(ROUNDS):
                async with trio.open_nursery() as visitors:
                    for _ in range(3):
                        visitors.start_soon(_visit, url, 3)
                if i % 4 == 1:
                    exchange.faults.drop_connections()
                if i % 4 == 3:
                    # Browsers the server closes mid-stream (the other one reconnects).
                    with contextlib.suppress(Closed):
                        async with connect(url) as ws:
                            await ws.get_message()
                            daemon.server._hub.close_all(1001, "going away")
                            while True:
                                await ws.get_message()
                await _streaming(daemon, CLOSES_PER_ROUND)
                await daemon.server._hub.wait_until(connections=1)
                if i == 3:
                    base = await _level(daemon, exchange)
            end = await _level(daemon, exchange)
            stats = daemon.market.statistics()
            # Every close the market announced was screened: nothing stays held.
            exchange.faults.stall(1e9)
            await trio.sleep(2.5)  # the close tracker's grace
            ring = daemon.rings["1m"]
            newest = max(ring.last_open_time(ring.slot(s)) for s in daemon.market.symbols)
            assert daemon.screener.closed_upto("1m") == newest + timeframe_ms("1m")
        daemon.stop()
        nursery.cancel_scope.cancel()

    assert stats.reconnects + stats.rotations >= 2, stats
    closes = (daemon.screener.closed_upto("1m") - START_MS) // timeframe_ms("1m")
    assert closes >= ROUNDS * CLOSES_PER_ROUND, "hundreds of closes were screened"
    assert pushed, "the browser received signals"
    assert intrabar_screens > 0, "intrabar screens ran"
    assert end.within(base) == [], f"grew from {base} to {end}"
