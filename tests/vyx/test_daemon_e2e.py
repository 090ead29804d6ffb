"""The whole daemon on port 0 against the simulated exchange, seen from a real WebSocket client.

The signals a browser receives must be exactly those ``vyx backtest`` computes over the same
candles (same clause values), each stored exactly once. Real sockets and real (fast-forwarded)
market time: the exchange plays a 5m candle every 0.1 s.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from kernels.backtest import run_backtest
from kernels.fire_outcomes import fire_outcomes
from kernels.program import Program, TraderDef
from kernels.timeframes import timeframe_ms
from tests.vyx.notify.fakes import FakeReceiver
from tests.vyx.server.wsclient import connect
from tests.vyx.store.supabase.fake_postgrest import serve_tcp
from vyx.app import Daemon, DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange
from vyx.outcomes.live import outcome_from_row
from vyx.traders import TraderInfo, TraderRejected

TRADERS = [
    TraderDef("cross", "crosses_above(close, sma(close, 5))", "5m", "cross"),
    TraderDef("volume", "close > open and volume > 1.2 * sma(volume, 10)", "5m", "volume"),
    TraderDef(
        "mtf",
        'crosses_above(close, ema(close, 8)) and on("15m", close > sma(close, 4))',
        "5m",
        "mtf",
    ),
]
LIVE_BARS = 36


def _faults(exchange: Any, seed: int) -> dict[int, Callable[[], object]]:
    """A seeded schedule of exchange faults, by live bar index."""
    rng = random.Random(seed)
    f = exchange.faults
    kinds: list[Callable[[], object]] = [
        lambda: f.send_malformed(4),
        f.drop_connections,
        lambda: f.server_shutdown(close_after=0.05),
        lambda: f.fail_rest(2, 429, retry_after=1),
        lambda: f.fail_rest(2, 503),
        lambda: f.stall(0.25),
    ]
    bars = sorted(rng.sample(range(4, LIVE_BARS - 6), 6))
    return {b: kinds[i % len(kinds)] for i, b in enumerate(bars)}


async def alerts_sent(daemon: Daemon) -> None:
    """Wait until the store owes no alert; /metrics and /health then show the channel."""
    with trio.fail_after(30):
        for _ in range(3000):
            if not (await daemon.store.outbox.counts()).get("pending"):
                break
            await trio.sleep(0.01)
    text = daemon.metrics.render().decode()
    assert re.search(r'vyx_alerts_delivered_total\{channel="json:\w+",service="json"\} [1-9]', text)
    alerts = daemon.health.evaluate().to_json()["components"]["alerts"]
    assert alerts["state"] == "ok"
    assert "json:" in alerts["detail"]


@pytest.mark.parametrize("chaos_seed", [None, 7], ids=["calm", "chaos"])
async def test_daemon_signals_equal_the_backtest_and_are_stored_once(
    tmp_path: Path, chaos_seed: int | None
) -> None:
    """With ``chaos_seed``, the exchange drops connections, stalls, sends malformed frames and
    a ``serverShutdown``, and answers REST with 429/503 along the way: gap repair must still
    deliver every closed candle exactly once, and the signals must still be exactly the
    backtest's."""

    async def load() -> tuple[list[TraderInfo], list[TraderRejected]]:
        return [TraderInfo(t, auto_analyze=t.id == "cross") for t in TRADERS], []

    received: list[dict[str, Any]] = []
    earlier: list[dict[str, Any]] = []
    analyses: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        exchange = await nursery.start(
            run_exchange, ExchangeConfig(symbols=3, seed=7, speed=3000.0, decoys=False)
        )
        hook = FakeReceiver()  # alerts: each stored signal once, analyses after
        hook_port = await nursery.start(serve_tcp, hook)
        cfg = Config.from_env(
            {
                "BINANCE_REST_URL": exchange.rest_url,
                "BINANCE_WS_URL": exchange.ws_url,
                "SYMBOL_COUNT": "3",
                "VYX_DATA_DIR": str(tmp_path),
                "PORT": "0",
                "NOTIFY_URLS": f"json://127.0.0.1:{hook_port}/alerts",
            }
        )
        readied: list[bool] = []
        opts = DaemonOptions(
            traders=load,
            persist_browser_edits=False,
            handle_signals=False,
            offline_analyst=True,
            ready=lambda: readied.append(True),
        )
        daemon = await nursery.start(run_daemon, cfg, opts)
        assert readied == [True]  # once, as soon as it is ready (the CLI freezes the heap)
        symbols = list(daemon.market.symbols)
        first = {
            tf: {s: int(ring.window(ring.slot(s))[0][0]) for s in symbols}
            for tf, ring in daemon.rings.items()
        }
        backfilled_to = max(
            ring.last_open_time(ring.slot(s)) for s in symbols for ring in [daemon.rings["5m"]]
        )
        ws_url = daemon.server.url.replace("http://", "ws://")
        token = daemon.server.local_token
        async with connect(f"{ws_url}/ws?access_token={token}") as ws:
            hello = json.loads(await ws.get_message())
            assert hello["type"] == "hello"
            target = backfilled_to + (LIVE_BARS + 1) * timeframe_ms("5m")
            schedule = _faults(exchange, chaos_seed) if chaos_seed is not None else {}
            with trio.fail_after(90):
                while daemon.screener.closed_upto("5m") < target:
                    live = (daemon.screener.closed_upto("5m") - backfilled_to) // timeframe_ms("5m")
                    for bar in [b for b in schedule if b <= live]:
                        schedule.pop(bar)()
                    with trio.move_on_after(0.5):
                        msg = json.loads(await ws.get_message())
                        if msg["type"] == "signal_created":
                            received.append(msg["data"])
                        elif msg["type"] == "snapshot":
                            # Signals of a bar that closed before this browser connected:
                            # their analyses may arrive now.
                            earlier.extend(msg["data"]["signals"])
                        elif msg["type"] == "analysis_completed":
                            analyses.append(msg["data"])
                        elif msg["type"] == "signal_outcome":
                            outcomes.append(msg["data"])
            screened_to = daemon.screener.closed_upto("5m")
            # Drain what is already on its way to us.
            with trio.move_on_after(0.5):
                while True:
                    msg = json.loads(await ws.get_message())
                    if msg["type"] == "signal_created":
                        received.append(msg["data"])
        await daemon.store.flush()
        stored = await daemon.store.recent_signals(cfg.machine.user_id, limit=10_000)
        await alerts_sent(daemon)
        scored = await daemon.store.load_outcomes(cfg.machine.user_id, complete=True, limit=10_000)
        metrics = daemon.metrics.render().decode()
        # Outcomes kept completing after the window, over every bar in the rings (some not
        # screened yet): the truth runs up to the newest of them too.
        ring5 = daemon.rings["5m"]
        scored_to = max(ring5.last_open_time(ring5.slot(s)) for s in symbols) + timeframe_ms("5m")
        stats = daemon.market.statistics()
        if chaos_seed is not None:
            # Faults that found no open connection deliver nothing: count what took effect.
            injected = exchange.faults.statistics()
            assert injected.dropped + injected.shutdowns_sent >= 1, injected
            # A REST failure meets a request only if the daemon makes one (a gap repair).
            assert injected.rest_failed >= 1 or exchange.faults.rest_failures_armed > 0, injected
            assert stats.reconnects + stats.rotations >= 1, stats
        # Every closed candle is in the rings exactly once, contiguous.
        for tf, ring in daemon.rings.items():
            for s in symbols:
                times, _ = ring.window(ring.slot(s))
                produced = exchange.market.closed_bars(s, tf, int(times[0]), int(times[-1]) + 1)
                assert times.tolist() == produced.open_time.tolist()
        daemon.stop()
        nursery.cancel_scope.cancel()

    # The truth: the same candles, backtested from the first bar the daemon held.
    data = {
        tf: {
            s: exchange.market.closed_bars(
                s, tf, first[tf][s], scored_to + timeframe_ms(tf)
            ).to_klines()
            for s in symbols
        }
        for tf in first
    }
    all_fires = run_backtest(Program(TRADERS), data)
    fires = [
        f
        for f in all_fires
        if backfilled_to < f.open_time and f.open_time + timeframe_ms("5m") <= screened_to
    ]
    assert len(fires) >= 5, "the scenario should produce signals"
    live = {
        (m["traderId"], m["symbol"], m["barOpenTime"]): m
        for m in received
        # The window observed: after the newest bar held when the daemon was ready (a first
        # live bar may already have closed by then) and up to the newest bar screened.
        if backfilled_to < m["barOpenTime"] and m["barOpenTime"] + timeframe_ms("5m") <= screened_to
    }
    expected = {(f.trader_id, f.symbol, f.open_time) for f in fires}
    assert set(live) == expected, (
        f"missing {sorted(expected - set(live))}, extra {sorted(set(live) - expected)}, "
        f"window {backfilled_to}..{screened_to}, market {stats}"
    )
    for f in fires:
        msg = live[(f.trader_id, f.symbol, f.open_time)]
        # Held clauses are identical; operand values agree to rounding (the daemon's history
        # may start a bar later than the backtest's when a live bar closed during start-up,
        # which moves an EMA's seed by one bar: its effect is ~1e-30 after the warm-up).
        assert msg["matchedConditions"] == list(f.matched)
        for label, clause in f.clauses.items():
            got = msg["indicatorData"][label]
            assert got["held"] == clause["held"]
            assert got["values"] == pytest.approx(clause["values"], rel=1e-9)
        assert msg["price"] == f.price
        assert msg["provisional"] is False
    ids = [row["id"] for row in stored]
    assert len(ids) == len(set(ids)), "every signal is stored exactly once"
    alerted = [s["signalId"] for body in hook.bodies for s in body["vyx"]["signals"]]
    # (The market runs on while the alerts drain: later signals may be alerted too.)
    assert set(ids) <= set(alerted), "every stored signal is alerted"
    assert len(alerted) == len(set(alerted)), "no signal is alerted twice"
    assert {m["signalId"] for m in received} <= set(ids)
    # Outcomes: each complete one stored and pushed equals the backtest's over the same candles
    # (the analysed trader's levels may be the analysis': its returns and excursions agree).
    truth = {
        (f.trader_id, f.symbol, f.open_time): o
        for f, o in zip(all_fires, fire_outcomes(all_fires, data), strict=True)
    }
    assert len(scored) >= 3, "signals in the window complete their 24 bars"
    for row in scored:
        o = truth[(row["trader_id"], row["symbol"], row["bar_open_time"])]
        got = outcome_from_row(row)
        assert (got.returns, got.mfe, got.mae, got.bars) == (o.returns, o.mfe, o.mae, o.bars)
        if row["trader_id"] != "cross":
            assert got == o
    pushed = {m["signalId"]: m for m in outcomes if m["complete"]}
    assert pushed, "signal_outcome messages arrive"
    assert set(pushed) <= {row["signal_id"] for row in scored}
    assert all(m["record"]["all"]["signals"] >= 1 for m in pushed.values())
    assert 'vyx_trader_hit_rate{horizon="24",trader="volume"}' in metrics
    # The offline analyst judged the auto-analyzed trader's signals, after they were pushed.
    cross = {m["signalId"] for m in [*earlier, *received] if m["traderId"] == "cross"}
    assert analyses, "analysis_completed messages arrive"
    assert {a["signalId"] for a in analyses} <= cross
    assert all(a["decision"] in ("enter_trade", "bad_setup", "wait") for a in analyses)
