"""CPU per signal from a close's matches to the store and the browsers, in the daemon's code.

A close's matches (``CLOSES`` closes of ``PER_CLOSE`` signals, each with three clauses and their
operand values) go through what the daemon does with them: ``to_signals`` (explain),
``Delivery`` (its channel and task: queue for the store, encode and broadcast to one
authenticated browser whose queue is drained, log), and the SQLite store writing them (its
writer and its worker thread; a commit per close). The figure is the whole process's CPU time
(every thread) per signal, the store's final flush included, also split: the event loop's
thread, and the rest (the store's thread). The run is made ``ROUNDS`` times, each with a fresh
store, and the median round is the figure (the range is printed too): one round's store thread
moves by a few µs a signal with the disk's flushes. Once everything is started the start-up's
heap is frozen, as ``vyx run`` does once ready (:func:`vyx.daemon.heap.freeze_startup_heap`).

Run with ``uv run python -m benchmarks.signals_bench`` (``just bench``); writes
``bench-results/signals.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import trio
from loguru import logger

from kernels.executor import Match
from vyx.daemon.control import RunningTraders
from vyx.daemon.delivery import Delivery
from vyx.daemon.heap import freeze_startup_heap
from vyx.screener.signals import to_signals
from vyx.server.hub import Client, Hub
from vyx.settings import StoreConfig
from vyx.store.service import run_store
from vyx.telemetry.metrics import Metrics

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
CLOSES = 40
ROUNDS = 5
PER_CLOSE = 100


def _matches(close: int) -> list[Match]:
    open_time = 1_700_000_000_000 + close * 300_000
    clauses = {
        "rsi(14) < 30": {"held": True, "values": {"rsi(14)": 25.5 + close, "30": 30.0}},
        "close > ema(close, 50)": {"held": True, "values": {"close": 101.25, "ema": 99.5}},
        "volume > 2 * sma(volume, 20)": {"held": False, "values": {"volume": 10.0, "x": 8.0}},
    }
    return [
        Match(
            f"t{i % 20:02d}",
            f"S{i:03d}USDT",
            "5m",
            open_time,
            101.25,
            ("rsi(14) < 30", "close > ema(close, 50)"),
            clauses,
        )
        for i in range(PER_CLOSE)
    ]


async def _run(data_dir: Path) -> dict[str, float]:
    metrics = Metrics()
    hub = Hub(metrics)
    browser = Client("bench", queue_size=256)
    browser.protocol = 2  # as the dashboard: a close's signals in one message
    hub.add(browser)
    hub.authenticated(browser)
    async with trio.open_nursery() as nursery:
        # One close a batch, one commit a close: in the daemon closes are minutes apart (back
        # to back here, a bigger batch would merge several closes into one commit).
        store = await nursery.start(run_store, StoreConfig(data_dir, batch_rows=PER_CLOSE))

        async def read() -> None:
            async for _ in browser.outbox:
                browser.sent()

        nursery.start_soon(read)
        delivery = Delivery(
            store=store,
            broadcast=hub.broadcast,
            metrics=metrics,
            analyzer=None,
            rings={},
            running=RunningTraders(),
        )
        await nursery.start(delivery.run)
        freeze_startup_heap()  # as the daemon once ready
        # The matches (the screener's part) are made after: young objects, as in the daemon.
        closes = [_matches(c) for c in range(CLOSES)]
        cpu0, loop0 = time.process_time(), time.thread_time()
        for matches in closes:
            signals = to_signals(matches, user_id="u", machine_id=None, now_ms=1)
            await delivery.deliver(signals, ())  # as the screener hands them on
        await delivery.flush()
        await store.flush()
        cpu, loop = time.process_time() - cpu0, time.thread_time() - loop0
        nursery.cancel_scope.cancel()
    n = CLOSES * PER_CLOSE
    return {
        "signals": n,
        "cpu_us_per_signal": cpu / n * 1e6,
        # The event loop's thread alone; the rest is SQLite's worker thread (and trio's).
        "loop_us_per_signal": loop / n * 1e6,
    }


def _round() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vyx-signals-") as d:
        return trio.run(_run, Path(d))


def main() -> None:
    """Run ``ROUNDS`` times, print the median round and the range; write
    ``bench-results/signals.json``."""
    logger.remove()
    # The daemon logs at INFO (the signals' lines included): the same cost, to nowhere.
    with open(os.devnull, "w") as sink:
        logger.add(sink, level="INFO")
        rounds = sorted((_round() for _ in range(ROUNDS)), key=lambda r: r["cpu_us_per_signal"])
    median = rounds[len(rounds) // 2]
    cpu, loop = median["cpu_us_per_signal"], median["loop_us_per_signal"]
    r = {**median, "rounds_cpu_us_per_signal": [x["cpu_us_per_signal"] for x in rounds]}
    low, high = rounds[0]["cpu_us_per_signal"], rounds[-1]["cpu_us_per_signal"]
    print(
        f"explain + store + push: {cpu:.1f} µs CPU per signal, median of {ROUNDS} rounds "
        f"({low:.1f}-{high:.1f}; each {CLOSES} closes of {PER_CLOSE}, SQLite, one browser; "
        f"target <= 20 µs): event loop {loop:.1f}, store's thread {cpu - loop:.1f}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "signals.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
