"""Chaos: the daemon through SIGTERM, kill -9 and restarts under a seeded schedule of faults,
checked against ``vyx backtest`` over the candles the exchange produced.

Lives of the daemon (one data directory for all of them): ``python -m vyx run`` ended by
SIGTERM, then one ended by SIGKILL, then (long mode: more of those) one in-process, inspected
and stopped. Across them the exchange drops connections, stalls, sends malformed frames and a
``serverShutdown``, answers REST with 429 and 418; PostgREST goes down (also across a SIGTERM
or a kill: the spool carries the rows to the next life), fails requests (500, 429, an answer
lost after commit) and rejects a poison row; Gemini answers 429 and hangs. Afterwards:

- every signal stored is one the backtest fires (same clauses, same price), stored once;
  ties are the exception (a comparison of operands equal in exact arithmetic, decided by the
  last bits of running totals that depend on where history started: ``ties.py``): they may go
  either way, and how many did is printed;
- every signal the backtest fires on a bar that closed after the first daemon was ready and up
  to the last bar screened is stored, including bars that closed while no daemon ran (catch-up
  on restart), except the poison rows, which are quarantined and reported as events;
- no signal for history: each life signals bars after its start mark (``screened.json``);
- every closed candle is in the last daemon's rings, once and in order;
- every stored signal reached the connected browser (``signal_created`` or a ``snapshot``);
- SIGTERM drains in bounded time (exit 0, browsers closed with 1001); analyses land despite
  Gemini's faults; every fault took effect.

``VYX_CHAOS=long`` (``just chaos``): five lives, more faults, three seeds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from kernels.backtest import Fire, run_backtest
from kernels.fire_outcomes import fire_outcomes
from kernels.program import Program
from kernels.timeframes import HOUR_MS, timeframe_ms
from tests.vyx.analysis.fake_gemini import FakeGemini
from tests.vyx.chaos.gemini_server import GeminiServer, serve_gemini
from tests.vyx.chaos.harness import (
    AUTO_ANALYZED,
    BAR_MS,
    FAULTS,
    GEMINI_KEY,
    TF,
    TRADERS,
    Browser,
    DaemonProcess,
    Phase,
    World,
    daemon_env,
    schedule,
    seed_database,
)
from tests.vyx.chaos.ties import tie_signal_ids
from tests.vyx.notify.fakes import FakeReceiver
from tests.vyx.store.supabase.fake_postgrest import FakePostgrest, serve_tcp
from vyx.app import Daemon, DaemonOptions, run_daemon
from vyx.config import Config
from vyx.exchange.service import ExchangeConfig, run_exchange
from vyx.market.statistics import MarketStatistics
from vyx.outcomes.live import outcome_from_row
from vyx.signal import signal_id
from vyx.store.supabase import SupabaseStore

LONG = os.environ.get("VYX_CHAOS") == "long"
SEEDS = [7, 11, 23] if LONG else [7]
SYMBOLS = 5 if LONG else 3
ENDS = ["sigterm", "kill", "sigterm", "kill", "stop"] if LONG else ["sigterm", "kill", "stop"]
BARS = 60 if LONG else 24
EXTRA_FAULTS = 10 if LONG else 0


@attrs.define
class Life:
    """What happened to one daemon life, in market time (and wall seconds)."""

    phase: Phase
    ready_ms: int
    started_s: float
    ready_s: float
    end_ms: int = -1
    exit_code: int | None = None
    #: Bars screened by catch-up at start (bars that closed while no daemon ran).
    caught_up: int = 0
    #: ``screened.json`` as this life left it.
    marks: str = ""
    #: Seconds from SIGTERM (or stop) to exit.
    stop_s: float = 0.0


@attrs.frozen
class Final:
    """The last (in-process) daemon, seen just before it stopped."""

    screened_to: int
    symbols: list[str]
    rings: dict[str, dict[str, list[int]]]
    market: MarketStatistics
    caught_up: int
    #: Signals in the database once the alerts were settled: each was alerted by then (those
    #: stored later, up to the stop, may still be owed by the outbox when the daemon stops).
    settled: set[str]


async def play(world: World, phase: Phase, ready_ms: int) -> None:
    """Let ``phase.bars`` bars close after ``ready_ms``, injecting the faults due."""
    due = dict(phase.faults)
    with trio.fail_after(phase.bars * 2 + 30):
        while True:
            live = (world.market_ms() - ready_ms) // BAR_MS
            for bar in sorted(b for b in due if b <= live):
                for kind in due.pop(bar):
                    FAULTS[kind](world)
                    world.injected.append(kind)
            if live >= phase.bars:
                return
            await trio.sleep(0.01)


CAUGHT_UP = re.compile(r"caught up (\d+) bars")


async def process_life(world: World, browser: Browser, phase: Phase, proc: DaemonProcess) -> Life:
    """``vyx run`` until ``phase.bars`` bars closed, then SIGTERM or SIGKILL."""
    started = trio.current_time()
    url = await proc.start()
    life = Life(phase, world.market_ms(), started, trio.current_time())
    async with trio.open_nursery() as tab:
        await tab.start(browser.session, url)
        await play(world, phase, life.ready_ms)
        life.end_ms = world.market_ms()
        world.postgrest.down = phase.down_at_end
        stopping = trio.current_time()
        try:
            if phase.end == "sigterm":
                life.exit_code = await proc.terminate()
            else:
                life.exit_code = await proc.kill()
        finally:
            world.postgrest.down = False
        life.stop_s = trio.current_time() - stopping
        # The browser notices on its own that the daemon is gone.
        tab.cancel_scope.deadline = trio.current_time() + 10
    life.caught_up = sum(int(n) for n in CAUGHT_UP.findall(proc.log.read_text(errors="replace")))
    marks = Path(proc.env["VYX_DATA_DIR"]) / "screened.json"
    life.marks = marks.read_text() if marks.exists() else ""
    assert life.exit_code == (0 if phase.end == "sigterm" else -signal.SIGKILL), proc.tail()
    return life


async def inprocess_life(
    world: World, browser: Browser, env: dict[str, str], phase: Phase, nursery: trio.Nursery
) -> tuple[Life, Final]:
    """``run_daemon`` here until ``phase.bars`` bars closed and the store is in sync; its
    rings and screener as they are then; stopped (as SIGTERM would)."""
    cfg = Config.from_env(env)
    done = trio.Event()

    async def daemon_task(*, task_status: trio.TaskStatus[Daemon]) -> None:
        await run_daemon(cfg, DaemonOptions(handle_signals=False), task_status=task_status)
        done.set()

    started = trio.current_time()
    daemon: Daemon = await nursery.start(daemon_task)
    life = Life(phase, world.market_ms(), started, trio.current_time())
    async with trio.open_nursery() as tab:
        await tab.start(browser.session, daemon.server.url)
        await play(world, phase, life.ready_ms)
        screened_to = daemon.screener.closed_upto(TF)
        assert isinstance(daemon.store, SupabaseStore)
        assert await daemon.store.sync(60), "the store reaches Supabase after the faults"
        await alerts_settled(daemon.store)
        symbols = list(daemon.market.symbols)
        final = Final(
            screened_to,
            symbols,
            {
                tf: {s: ring.window(ring.slot(s))[0].tolist() for s in symbols}
                for tf, ring in daemon.rings.items()
            },
            daemon.market.statistics(),
            daemon.screener.caught_up,
            {row["id"] for row in world.postgrest.rows("signals")},
        )
        life.caught_up = final.caught_up
        life.end_ms = world.market_ms()
        stopping = trio.current_time()
        daemon.stop()
        with trio.fail_after(30):
            await done.wait()
        life.stop_s = trio.current_time() - stopping
        tab.cancel_scope.deadline = trio.current_time() + 10
    return life, final


async def alerts_settled(store: SupabaseStore) -> None:
    """Wait until the spool owes no alert (the webhook's faults are behind it by then)."""
    with trio.fail_after(60):
        for _ in range(6000):
            if not (await store.outbox.counts()).get("pending"):
                return
            await trio.sleep(0.01)


def check_alerts(
    hook: FakeReceiver, outbox: Path, stored: set[str], final: Final, poisoned: set[str], ends: int
) -> None:
    """Every signal stored before the last daemon's alerts settled reached the webhook, and
    every later one (stored during its stop) did or is still owed by the outbox; the outbox
    says each was delivered once; the only repeats are of messages in flight when a life ended
    (at most one per life)."""
    got = [s["signalId"] for body in hook.bodies for s in body["vyx"]["signals"]]
    settled = stored & final.settled
    assert settled <= set(got), f"stored, never alerted: {sorted(settled - set(got))[:10]}"
    # Poison rows are stored on the machine (and quarantined by Supabase): alerted too.
    assert set(got) - stored <= poisoned
    conn = sqlite3.connect(outbox)
    try:
        rows = conn.execute("SELECT alert_key, state FROM alert_outbox").fetchall()
    finally:
        conn.close()
    signal_rows = {key: state for key, state in rows if "/" not in key}
    assert len(signal_rows) == len([k for k, _ in rows if "/" not in k])
    owed = {key for key, state in signal_rows.items() if state == "pending"}
    assert stored <= set(got) | owed, f"never alerted nor owed: {sorted(stored - set(got) - owed)}"
    assert set(signal_rows) == set(got) | owed
    assert not owed & final.settled, "an alert owed although the alerts had settled"
    assert set(signal_rows.values()) <= {"delivered", "pending"}
    first_seen: dict[str, int] = {}
    for i, body in enumerate(hook.bodies):
        for sig in body["vyx"]["signals"]:
            first_seen.setdefault(sig["signalId"], i)
    repeated = {first_seen[sid] for sid in got if got.count(sid) > 1}
    assert len(repeated) <= ends, f"{len(repeated)} messages repeated over {ends} ends of life"


@pytest.mark.parametrize("seed", SEEDS)
async def test_chaos_lives_and_restarts_lose_and_duplicate_nothing(
    tmp_path: Path, shared_data: Path, seed: int
) -> None:
    plan = schedule(seed, ENDS, BARS, EXTRA_FAULTS)
    fake = FakePostgrest()
    seed_database(fake)
    gemini = GeminiServer(FakeGemini(shared_data, api_key=GEMINI_KEY), hang_s=2.5)
    browser = Browser()
    hook = FakeReceiver()
    lives: list[Life] = []
    procs: list[DaemonProcess] = []
    try:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(serve_tcp, fake)
            gemini_url = await nursery.start(serve_gemini, gemini)
            exchange = await nursery.start(
                run_exchange,
                ExchangeConfig(symbols=SYMBOLS, seed=seed, speed=3000.0, decoys=False),
            )
            world = World(exchange, fake, gemini, nursery)
            env = daemon_env(exchange, port, gemini_url, tmp_path / "data", SYMBOLS)
            # Alerts to a webhook that fails now and then (502s, a 429 with Retry-After).
            hook.script.extend(["ok", "502", "502", "ok", "429", "ok", "ok", "500"])
            hook.retry_after = 1.0
            env["NOTIFY_URLS"] = f"json://127.0.0.1:{await nursery.start(serve_tcp, hook)}/chaos"
            for i, phase in enumerate(plan):
                if phase.where == "process":
                    procs.append(DaemonProcess(env, tmp_path / f"daemon-{i}.log"))
                    lives.append(await process_life(world, browser, phase, procs[-1]))
                else:
                    life, final = await inprocess_life(world, browser, env, phase, nursery)
                    lives.append(life)
            end_ms = world.market_ms()
            nursery.cancel_scope.cancel()
    finally:
        for proc in procs:
            proc.abandon()
    assert set(world.injected) == {k for p in plan for ks in p.faults.values() for k in ks}
    first_ready = lives[0].ready_ms
    screened_to = final.screened_to

    # Every closed candle is in the last daemon's rings, once, in order, up to date.
    for tf, by_symbol in final.rings.items():
        for s, times in by_symbol.items():
            produced = exchange.market.closed_bars(s, tf, times[0], times[-1] + 1)
            assert times == produced.open_time.tolist(), (tf, s)
            # No bar that closed by the last screen is missing at the end.
            assert times[-1] + 2 * timeframe_ms(tf) > screened_to, (tf, s)

    # The truth: the backtest over the candles the exchange produced, from well before the
    # first daemon's start (indicator warm-up) to the last closed bar.
    start = first_ready // HOUR_MS * HOUR_MS - 400 * BAR_MS
    data = {
        tf: {
            s: exchange.market.closed_bars(s, tf, start, end_ms - timeframe_ms(tf) + 1).to_klines()
            for s in final.symbols
        }
        for tf in final.rings
    }
    list_fires = run_backtest(Program(TRADERS), data)
    fires = {signal_id(f.trader_id, f.symbol, f.timeframe, f.open_time): f for f in list_fires}

    #: Signal id -> (trader name, symbol, bar open time), for every bar of the run.
    bar_of = {
        signal_id(t.id, s, TF, o): (t.name, s, o)
        for t in TRADERS
        for s in final.symbols
        for o in range(start, end_ms, BAR_MS)
    }

    # Every signal stored is one the backtest fires, with the same clauses and price. Ids are
    # (trader, symbol, timeframe, bar): a signal stored twice would be a second row or an id
    # the backtest does not know.
    stored_rows = fake.rows("signals")
    stored = {row["id"]: row for row in stored_rows}
    assert len(stored) == len(stored_rows), "every signal is stored exactly once"
    # Ties (equal operands, decided by the running totals' last bits, which depend on where
    # history started: see ties.py) may go either way; everything else must agree.
    ties = tie_signal_ids(data)
    tie_extra = (set(stored) - set(fires)) & ties
    extra = sorted(set(stored) - set(fires) - ties)
    if extra:
        shown = [
            (bar_of.get(sid), stored[sid]["price"], stored[sid]["indicator_data"]) for sid in extra
        ]
        raise AssertionError(
            f"stored signals the backtest does not fire: {shown}; lives "
            + ", ".join(f"{life.phase.end} {life.ready_ms}..{life.end_ms}" for life in lives)
        )
    for sid, row in stored.items():
        if sid in tie_extra:
            continue
        f = fires[sid]
        assert row["matched_conditions"] == list(f.matched), sid
        assert row["price"] == f.price, sid
        for label, clause in f.clauses.items():
            got = row["indicator_data"][label]
            assert got["held"] == clause["held"], (sid, label)
            assert got["values"] == pytest.approx(clause["values"], rel=1e-9), (sid, label)

    # No signals for history: a daemon screens the bars closing after it starts, and on a
    # restart those after the last bar screened before (as ``screened.json`` says: after a
    # kill -9 it may be behind, and those bars are screened again), never older bars.
    # (Bars that closed while the first daemon started up are screened: allow a few.)
    old = sorted(sid for sid in stored if bar_of[sid][2] < first_ready - 5 * BAR_MS)
    assert not old, f"signals for history bars: {[bar_of[sid] for sid in old]}"
    for msg, i in zip(browser.created, browser.created_by, strict=True):
        since = json.loads(lives[i - 1].marks)["closed_upto"][TF] if i else first_ready - 5 * BAR_MS
        assert msg["barOpenTime"] >= since, (
            f"life {i} pushed a signal for a bar before its start mark: {msg}; lives {lives}"
        )

    # The window: bars that closed after the first daemon was ready, up to the last screened.
    in_window = {
        sid: f
        for sid, f in fires.items()
        if f.open_time >= first_ready and f.open_time + BAR_MS <= screened_to
    }
    downtime = {
        sid
        for sid, f in in_window.items()
        if not any(life.ready_ms <= f.open_time < life.end_ms for life in lives)
    }
    tie_missing = (set(in_window) - set(stored) - world.poisoned) & ties
    summary = (
        f"seed {seed}: {len(in_window)} signals expected ({len(downtime)} on bars closed while "
        f"no daemon ran), {len(stored)} stored, {len(world.poisoned)} poisoned, ties decided "
        f"otherwise than the backtest: {len(tie_extra)} stored, {len(tie_missing)} not; lives "
        + ", ".join(
            f"{life.phase.end}{' (database down)' if life.phase.down_at_end else ''} (start "
            f"{life.ready_s - life.started_s:.1f}s, caught up {life.caught_up} bars, "
            f"stop {life.stop_s:.1f}s)"
            for life in lives
        )
        + f"; faults {sorted(world.injected)}; Gemini {gemini.served}, analyses stored for "
        + f"{len({a['signal_id'] for a in fake.rows('signal_analyses')})} of "
        + f"{sum(row['trader_id'] in AUTO_ANALYZED for row in stored.values())} signals; browser: "
        + f"{len({m['signalId'] for m in browser.created})} signals pushed live, "
        + f"{len(browser.pushed_ids() - {m['signalId'] for m in browser.created})} only in a "
        + "snapshot"
    )
    print(summary)
    assert len(in_window) >= 10, "the scenario should produce signals"
    assert downtime, "signals fell on bars closed while no daemon ran"
    # (A life killed while catching up logs no count: the next one redoes it.)
    assert lives[-1].caught_up > 0, summary
    assert world.poisoned, "a poison row was picked"
    # Poison rows are quarantined (and reported), never stored.
    assert not world.poisoned & set(stored)
    reported = {
        e["details"].get("key")
        for e in fake.rows("cloud_events")
        if e["event_type"] == "error" and isinstance(e.get("details"), dict)
    }
    assert world.poisoned <= reported, "every poison row is reported as an error event"

    # While a daemon was up, nothing was missed (a margin before kill -9: the last screens'
    # rows may not have reached the spool).
    for life in lives:
        margin = 5 * BAR_MS if life.phase.end == "kill" else 0
        upto = screened_to if life is lives[-1] else life.end_ms - margin
        live = {
            sid
            for sid, f in in_window.items()
            if f.open_time >= life.ready_ms and f.open_time + BAR_MS <= upto
        }
        missing = sorted(live - set(stored) - world.poisoned - ties)
        assert not missing, f"life {life.phase.end}: missing {describe(missing, fires)}"
    # Including the bars that closed while no daemon ran: the restarted one caught up.
    missing = sorted(set(in_window) - set(stored) - world.poisoned - ties)
    assert not missing, f"missing {describe(missing, fires)}; {summary}"

    # Every stored signal was alerted, once but for a message in flight at a life's end.
    spool = tmp_path / "data" / "spool.sqlite3"
    check_alerts(hook, spool, set(stored), final, world.poisoned, len(lives) - 1)

    # Every stored signal was pushed to the browser at least once.
    unseen = sorted(set(stored) - browser.pushed_ids())
    assert not unseen, f"stored but never pushed: {describe(unseen, stored)}"
    assert browser.connections == len(lives)
    # SIGTERM and stop drain within DRAIN_TIMEOUT_S, the machine's "stopped" write included
    # even when the database is down (it overran by 5 s before), plus closing the browsers
    # (1001, "going away") and the process exit.
    drain_s = float(env["DRAIN_TIMEOUT_S"])
    for life in lives:
        if life.phase.end != "kill":
            assert life.stop_s < drain_s + 2, summary
    expected_closes = [1006 if life.phase.end == "kill" else 1001 for life in lives]
    assert browser.closes == expected_closes

    # Outcomes, through the same restarts: each complete one stored equals the backtest's over
    # the same candles (the analysed trader's levels may be the analysis': its returns and
    # excursions agree) — those followed again after a SIGTERM or a kill -9 included; and a
    # signal whose 24 bars closed while one daemon ran has its complete outcome. (One open
    # across a restart completes once the next daemon has read the store back, which a
    # database outage may hold up for longer than this compressed market's rings last.)
    truth = dict(zip(fires, fire_outcomes(list_fires, data), strict=True))
    outcome_rows = {row["signal_id"]: row for row in fake.rows("signal_outcomes")}
    complete = {sid: row for sid, row in outcome_rows.items() if row["complete"]}
    for sid, row in complete.items():
        if sid in ties:
            continue
        got, want = outcome_from_row(row), truth[sid]
        assert (got.returns, got.mfe, got.mae, got.bars) == (want.returns, want.mfe, want.mae, 24)
        if row["trader_id"] not in AUTO_ANALYZED:
            assert got == want, sid
    restored = {
        sid for sid in complete if not any(life.ready_ms <= bar_of[sid][2] for life in lives[-1:])
    }
    due = set()
    for life in lives:
        margin = 5 * BAR_MS if life.phase.end == "kill" else 0
        upto = screened_to if life is lives[-1] else life.end_ms - margin
        due |= {
            sid
            for sid in stored
            if life.ready_ms <= bar_of[sid][2] and bar_of[sid][2] + 27 * BAR_MS <= upto
        }
    due -= ties
    missing_outcomes = sorted(due - set(complete))
    assert not missing_outcomes, (
        f"outcomes missing: {[(bar_of[sid], outcome_rows.get(sid)) for sid in missing_outcomes]}"
    )
    print(
        f"outcomes: {len(complete)} complete ({len(restored)} of signals before the last "
        f"life), {len(due)} due within one life"
    )

    # The faults took effect and were survived.
    xs = exchange.faults.statistics()
    assert xs.malformed_sent >= 1, xs
    assert xs.dropped + xs.shutdowns_sent >= 1, xs
    assert xs.rest_failed >= 1, xs
    assert final.market.reconnects + final.market.rotations >= 1, final.market
    statuses = [r.status for r in fake.requests]
    assert 503 in statuses, "the database outage took effect"
    assert 500 in statuses, "the database errors took effect"
    assert gemini.served.get("429", 0) >= 1, gemini.served
    assert gemini.served.get("hang", 0) >= 1, gemini.served
    analyses = fake.rows("signal_analyses")
    assert analyses, "analyses are stored despite Gemini's faults"
    for a in analyses:
        assert a["signal_id"] in stored
        assert a["trader_id"] in AUTO_ANALYZED
    first_fault = min(gemini.log.index(b) for b in ("429", "hang"))
    assert "ok" in gemini.log[first_fault:], f"Gemini answered after its faults: {gemini.log}"


def describe(ids: list[str], by_id: dict[str, Any]) -> list[Any]:
    out = []
    for sid in ids[:20]:
        v = by_id.get(sid)
        if isinstance(v, Fire):
            out.append((v.trader_id[-1], v.symbol, v.open_time))
        elif isinstance(v, dict):
            out.append((v.get("trader_id", "?")[-1:], v.get("symbol"), sid))
        else:
            out.append(sid)
    return out
