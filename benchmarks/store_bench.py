"""Store write throughput and size on disk.

    uv run python benchmarks/store_bench.py [--signals 10000]

Prints one line per case: rows/s of the SQLite writer (synchronous=FULL, the default, and
NORMAL), through the whole Trio service (``run_store``: queue, batches of 100, worker thread) and
directly (``write_batch``), against the baseline of one transaction per row, measured in the same
run; then the database's size on disk per 10k signals. Realistic rows: a signal with three
matched conditions and their operand values.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio

from vyx.settings import StoreConfig
from vyx.signal import Signal, signal_id
from vyx.store import PendingRow, SqliteStore, run_store
from vyx.store.sqlite import SqliteDatabase, Synchronous

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
SYMBOLS = [f"SYM{i}USDT" for i in range(100)]


def make_signal(n: int) -> Signal:
    symbol = SYMBOLS[n % len(SYMBOLS)]
    open_time = 1_700_000_000_000 + (n // len(SYMBOLS)) * 300_000
    trader = f"trader-{n % 20}"
    return Signal(
        id=signal_id(trader, symbol, "5m", open_time),
        trader_id=trader,
        user_id=USER,
        symbol=symbol,
        interval="5m",
        price=123.456 + n,
        bar_open_time=open_time,
        matched_conditions=(
            "rsi(14) < 30",
            "crosses_above(close, ema(close, 50))",
            "volume > 2 * sma(volume, 20)",
        ),
        indicator_data={
            "rsi(14) < 30": {"held": True, "values": [27.81234, 30]},
            "crosses_above(close, ema(close, 50))": {"held": True, "values": [124.1, 123.9]},
            "volume > 2 * sma(volume, 20)": {"held": True, "values": [91234.5, 2 * 40321.7]},
        },
        created_at=open_time + 300_000,
    )


Timing = tuple[float, float]  # (wall s, CPU s of this process, all threads)


def timed(fn: Callable[[], object]) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def line(label: str, n: int, timing: Timing) -> None:
    wall, cpu = timing
    print(f"{label:<44}: {n / wall:>9,.0f} rows/s  ({cpu / n * 1e6:6.1f} µs CPU/row)")


def direct(path: Path, rows: list[PendingRow], batch: int, sync: Synchronous) -> Timing:
    db = SqliteDatabase.open(path, synchronous=sync)
    try:
        return timed(
            lambda: [db.write_batch(rows[i : i + batch]) for i in range(0, len(rows), batch)]
        )
    finally:
        db.close()


def service(data_dir: Path, signals: list[Signal], sync: Synchronous) -> Timing:
    cfg = StoreConfig(data_dir=data_dir, batch_rows=100, flush_interval_ms=250, buffer_rows=10_000)

    async def main() -> Timing:
        async with trio.open_nursery() as nursery:
            store: SqliteStore = await nursery.start(
                lambda task_status: run_store(cfg, synchronous=sync, task_status=task_status)
            )
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(signals), 10):  # the screener saves a screen's signals at once
                await store.save_signals(signals[i : i + 10])
            await store.flush()
            elapsed = time.perf_counter() - start, time.process_time() - cpu
            nursery.cancel_scope.cancel()
        return elapsed

    return trio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=10_000)
    n = parser.parse_args().signals
    signals = [make_signal(i) for i in range(n)]
    rows = [PendingRow.of("signals", s.to_row()) for s in signals]
    baseline_n = min(n, 1000)
    from loguru import logger

    logger.remove()  # the service logs its start; keep the output to the result lines
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = direct(root / "base.sqlite3", rows[:baseline_n], 1, "FULL")
        line("baseline: one transaction per row, FULL", baseline_n, base)
        for sync in ("FULL", "NORMAL"):
            line(
                f"direct: write_batch(100 rows), {sync}",
                n,
                direct(root / f"direct-{sync}.sqlite3", rows, 100, sync),
            )
        for sync in ("FULL", "NORMAL"):
            line(
                f"service: run_store, batches of 100, {sync}",
                n,
                service(root / f"svc-{sync}", signals, sync),
            )
        size = (root / "svc-FULL" / "vyx.sqlite3").stat().st_size
        print(
            f"size      {size / n * 10_000 / 1e6:.2f} MB on disk per 10k signals "
            f"({size / n:.0f} bytes/signal, indexes included)"
        )


if __name__ == "__main__":
    main()
