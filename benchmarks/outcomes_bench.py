"""Outcomes: what following signals costs the daemon, and scoring them a backtest.

- follow: one confirmed signal followed (ATR levels from the ring, its row opened), per signal;
- follow a close: a close's 100 signals followed at once as the daemon does
  (``LiveOutcomes.follow_all``: their ATRs in one kernel call) and their rows built, per signal;
- step at close: every open signal of a timeframe stepped by its new bar, per close, at 1,000
  and 8,192 (the tracker's bound) open signals over 100 symbols;
- a close's outcomes work in the daemon at steady state (``Outcomes.catch_up``: the step, the
  traders' records of the signals that completed, rows and messages; the records' ``/metrics``
  gauges are set at a scrape, not here), 21 traders with 70 signals a close over 100 symbols
  (the reference workload's size), each trader's record full
  (:data:`~vyx.outcomes.records.RECORD_SIZE` complete signals, as in a daemon that ran for
  days), the store a no-op;
- backtest: ``fire_outcomes`` over a backtest's fires vs the backtest itself (same process,
  same candles: 100 symbols x 2,000 bars of 5m, 4 traders), as a ratio.

CPU time of this process (time.process_time: on a shared machine, wall time mostly measures
the neighbours); best of several runs each.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import trio

from kernels.backtest import run_backtest
from kernels.fire_outcomes import fire_outcomes
from kernels.klines_csv import Klines
from kernels.outcomes import HORIZON, HORIZONS, Outcome
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import random_klines
from vyx.outcomes.live import MAX_OPEN, LiveOutcomes
from vyx.outcomes.records import RECORD_SIZE, Records
from vyx.outcomes.service import Outcomes
from vyx.signal import Signal, signal_id
from vyx.telemetry.metrics import Metrics

TF = "5m"
STEP = timeframe_ms(TF)
SYMBOLS = 100
BARS = 2_000


def _best(fn: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def _ring(market: Mapping[str, Klines], upto: int) -> RingBuffer:
    ring = RingBuffer(STEP, 300, market)
    for s, k in market.items():
        for t in range(upto - 300, upto):
            ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
    return ring


def live_rows() -> None:
    """Signals arrive at each close (as many each close as keeps ``n_open`` open over the
    24-bar horizon); then five closes are timed: the step at close and the new signals."""
    market = {f"S{i:03d}USDT": random_klines(i, 400, STEP) for i in range(SYMBOLS)}
    symbols = list(market)
    for n_open in (1_000, MAX_OPEN - 2 * SYMBOLS):
        ring = _ring(market, 300)
        live = LiveOutcomes({TF: ring})
        per_close = n_open // 24
        steps, follows = [], []
        for t in range(300, 330):
            for s, k in market.items():
                ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
            t1 = time.process_time()
            live.advance(TF)
            t2 = time.process_time()
            for j in range(per_close):
                s = symbols[j % SYMBOLS]
                k = market[s]
                opened = int(k.open_time[t])
                sig = Signal(
                    signal_id(f"t{j}", s, TF, opened),
                    f"t{j}",
                    "u",
                    s,
                    TF,
                    float(k.bars[t, 3]),
                    opened,
                    (),
                    {},
                    0,
                )
                live.follow(sig, "long")
            t3 = time.process_time()
            if t >= 325:
                steps.append(t2 - t1)
                follows.append((t3 - t2) / per_close)
        print(
            f"  {len(live):>5} open signals over {SYMBOLS} symbols: step at close "
            f"{np.median(steps) * 1e3:.2f} ms, follow {np.median(follows) * 1e6:.1f} us per new "
            f"signal ({per_close} per close; medians of 5 closes)"
        )


def _close_signals(market: Mapping[str, Klines], t: int, n: int) -> list[tuple[Signal, str]]:
    """``n`` signals at bar ``t`` of 4 traders (long and short) over the symbols."""
    symbols = list(market)
    found = []
    for j in range(n):
        s = symbols[(j * 7) % len(symbols)]
        opened = int(market[s].open_time[t])
        trader = f"t{j % 4}"
        price = float(market[s].bars[t, 3])
        sig = Signal(signal_id(trader, s, TF, opened), trader, "u", s, TF, price, opened, (), {}, 0)
        found.append((sig, "long" if j % 2 else "short"))
    return found


def close_row(per_close: int = 100) -> None:
    """A close's signals followed at once (the delivery's ``Outcomes.follow``: ``follow_all``
    and their ``signal_outcomes`` rows), after the step of that close, over 100 closes."""
    market = {f"S{i:03d}USDT": random_klines(i, 420, STEP) for i in range(SYMBOLS)}
    ring = _ring(market, 300)
    live = LiveOutcomes({TF: ring})
    per: list[float] = []
    for t in range(300, 420):
        for s, k in market.items():
            ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
        live.advance(TF)
        signals = _close_signals(market, t, per_close)
        t0 = time.process_time()
        rows = live.follow_all(signals).rows(0)
        per.append((time.process_time() - t0) / len(rows))
    print(
        f"  follow a close's {per_close} signals ({len(live)} open): "
        f"{np.median(per[20:]) * 1e6:.1f} us per signal (median of {len(per) - 20} closes)"
    )


class _NoStore:
    async def save_outcomes(self, rows: Any, *, progressed: bool = False) -> None:
        pass


async def _catch_ups(market: Mapping[str, Klines], traders: int, per_close: int) -> list[float]:
    """CPU time of ``Outcomes.catch_up`` at each close after the first 40 (signals complete
    from the 25th on)."""
    ring = _ring(market, 300)
    symbols = list(market)
    now = int(market[symbols[0]].open_time[300])
    records = Records(lambda: now)
    gen = np.random.default_rng(7)
    for j in range(RECORD_SIZE * traders):
        returns = tuple(gen.standard_normal(len(HORIZONS)) * 0.01)
        touch = ("none", "target", "stop")[j % 3]
        held = Outcome("long", 100.0, 99.0, 101.0, "atr", HORIZON, returns, 0.02, -0.01, touch, 3)
        records.add(f"t{j % traders}", now - RECORD_SIZE * STEP + j // traders * STEP, held)
    service = Outcomes(
        LiveOutcomes({TF: ring}),
        records,
        _NoStore(),  # type: ignore[arg-type]
        lambda message: None,
        user_id="u",
        direction_of=lambda trader: "short" if int(trader[1:]) % 3 == 0 else "long",
        now_ms=lambda: now,
        metrics=Metrics(),
    )
    times = []
    for t in range(300, 380):
        for s, k in market.items():
            ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
        found = []
        for j in range(per_close):
            s = symbols[(j * 7 + t) % len(symbols)]
            opened = int(market[s].open_time[t])
            trader = f"t{j % traders}"
            price = float(market[s].bars[t, 3])
            sid = signal_id(trader, s, TF, opened)
            found.append(Signal(sid, trader, "u", s, TF, price, opened, (), {}, 0))
        await service.follow(found)
        service.screened(SimpleNamespace(timeframe=TF))  # type: ignore[arg-type]
        t0 = time.process_time()
        await service.catch_up()
        if t >= 340:
            times.append(time.process_time() - t0)
    return times


def catch_up_row(traders: int = 21, per_close: int = 70) -> None:
    market = {f"S{i:03d}USDT": random_klines(i, 400, STEP) for i in range(SYMBOLS)}
    times = trio.run(_catch_ups, market, traders, per_close)
    print(
        f"  a close's outcomes work at steady state ({traders} traders, {per_close} signals a "
        f"close, records of {RECORD_SIZE}): {statistics.median(times) * 1e3:.2f} ms (median of "
        f"{len(times)} closes; the step, the records of the signals that completed, rows and "
        f"messages)"
    )


def backtest_row() -> None:
    market = {f"S{i:03d}USDT": random_klines(100 + i, BARS, STEP) for i in range(SYMBOLS)}
    data = {TF: market}
    traders = [
        TraderDef("a", "crosses_above(close, sma(close, 20))", TF),
        TraderDef("b", "rsi(14) < 30", TF),
        TraderDef("c", "close > bbands(20, 2).upper", TF, direction="short"),
        TraderDef("d", "crosses_below(ema(close, 9), ema(close, 21))", TF, direction="short"),
    ]
    program = Program(traders)
    directions = {t.id: t.direction for t in traders}
    fires = run_backtest(program, data)
    fire_outcomes(fires, data, directions)  # compiled and warm
    backtest_s = _best(lambda: run_backtest(program, data), 3)
    outcomes_s = _best(lambda: fire_outcomes(fires, data, directions), 3)
    print(
        f"  backtest {SYMBOLS} symbols x {BARS} bars x {len(traders)} traders: {len(fires)} "
        f"fires; backtest {backtest_s * 1e3:.0f} ms, their outcomes {outcomes_s * 1e3:.0f} ms "
        f"({outcomes_s / backtest_s:.2f}x the backtest; {outcomes_s / len(fires) * 1e6:.1f} us "
        f"per fire)"
    )


def main() -> None:
    """Print the rows."""
    print("outcomes (CPU time of this process, best of runs):")
    live_rows()
    close_row()
    catch_up_row()
    backtest_row()


if __name__ == "__main__":
    main()
