"""Supabase store throughput against the PostgREST fake, and the spool's size on disk.

    uv run python -m benchmarks.supabase_bench [--signals 10000]

Prints rows/s of the whole write path (``save_signals`` → batch writer → spool (SQLite,
synchronous=FULL) → drain → PostgREST upserts of up to 500 rows) until ``sync()`` says Supabase
holds every row, with the fake in-process (ASGI) and over TCP (hypercorn on loopback), against
the baseline of one upsert request per row measured in the same run; then the spool's bytes on
disk holding 10k signals (Supabase down) and after they drained. The fake validates and stores
every row in Python, so these numbers bound the client side, not a real Supabase's latency.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.vyx.store.supabase.fake_postgrest import SERVICE_KEY, FakePostgrest, serve_tcp
from vyx.settings import StoreConfig, SupabaseConfig
from vyx.signal import Signal, signal_id
from vyx.store.supabase import Rest, SupabaseStore, run_supabase_store
from vyx.store.supabase.wire import to_wire

USER = "2b7c1f9e-6d1a-4c55-9c3e-7a1b2c3d4e5f"
SYMBOLS = [f"SYM{i}USDT" for i in range(100)]
TRADERS = [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"trader-{i}")) for i in range(20)]


def make_signal(n: int) -> Signal:
    """A realistic signal: three clauses with their operand values."""
    symbol = SYMBOLS[n % len(SYMBOLS)]
    open_time = 1_700_000_000_000 + (n // len(SYMBOLS)) * 300_000
    trader = TRADERS[n % len(TRADERS)]
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


def store_cfg(root: Path) -> StoreConfig:
    return StoreConfig(
        data_dir=root, batch_rows=100, flush_interval_ms=250, buffer_rows=10_000, final_flush_s=30
    )


async def through_store(n: int, url: str, transport: Any) -> float:
    """Seconds from the first save to Supabase holding all ``n`` signals."""
    with tempfile.TemporaryDirectory() as root:
        sb = SupabaseConfig(url=url, service_key=SERVICE_KEY)
        async with trio.open_nursery() as nursery:
            store: SupabaseStore = await nursery.start(
                functools.partial(
                    run_supabase_store, store_cfg(Path(root)), sb, transport=transport
                )
            )
            signals = [make_signal(i) for i in range(n)]
            start = time.perf_counter()
            for i in range(0, n, 50):  # the screener saves a close's signals together
                await store.save_signals(signals[i : i + 50])
            assert await store.sync(600)
            elapsed = time.perf_counter() - start
            nursery.cancel_scope.cancel()
        return elapsed


async def per_row_baseline(n: int, url: str, transport: Any) -> float:
    """One upsert request per row, no spool (the naive writer)."""
    rest = Rest.open(SupabaseConfig(url=url, service_key=SERVICE_KEY), transport=transport)
    rows = [to_wire("signals", make_signal(i).to_row()) for i in range(n)]
    start = time.perf_counter()
    for row in rows:
        await rest.upsert("signals", [row], on_conflict="id")
    elapsed = time.perf_counter() - start
    await rest.aclose()
    return elapsed


async def spool_size(n: int) -> tuple[int, int]:
    """Spool bytes holding ``n`` signals (Supabase down), and after they drained."""
    fake = FakePostgrest()
    fake.down = True
    with tempfile.TemporaryDirectory() as root:
        sb = SupabaseConfig(url="http://supabase.bench", service_key=SERVICE_KEY)
        async with trio.open_nursery() as nursery:
            store: SupabaseStore = await nursery.start(
                functools.partial(
                    run_supabase_store,
                    store_cfg(Path(root)),
                    sb,
                    transport=httpx.ASGITransport(app=fake),
                )
            )
            await store.save_signals([make_signal(i) for i in range(n)])
            await store.flush()
            full = store.io.spool.size_bytes()
            fake.down = False
            assert await store.sync(600)
            drained = store.io.spool.size_bytes()
            nursery.cancel_scope.cancel()
    return full, drained


def start_tcp_fake(fake: FakePostgrest) -> tuple[int, Any]:
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            box["port"] = await nursery.start(functools.partial(serve_tcp, fake))
            token = trio.lowlevel.current_trio_token()
            cancel = nursery.cancel_scope.cancel
            token = trio.lowlevel.current_trio_token()
            cancel = nursery.cancel_scope.cancel
            box["stop"] = functools.partial(trio.from_thread.run_sync, cancel, trio_token=token)

    threading.Thread(target=trio.run, args=(main,), daemon=True).start()
    ready.wait(10)
    return box["port"], box["stop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=10_000)
    n = parser.parse_args().signals
    baseline_n = min(n, 2000)

    def line(label: str, rows: int, seconds: float) -> None:
        print(f"{label:<52}: {rows / seconds:>9,.0f} rows/s")

    asgi = "http://supabase.bench"
    line(
        "store → spool → PostgREST fake (in-process ASGI)",
        n,
        trio.run(through_store, n, asgi, httpx.ASGITransport(app=FakePostgrest())),
    )
    line(
        "baseline: one upsert per row (in-process ASGI)",
        baseline_n,
        trio.run(per_row_baseline, baseline_n, asgi, httpx.ASGITransport(app=FakePostgrest())),
    )
    port, stop = start_tcp_fake(FakePostgrest())
    tcp = f"http://127.0.0.1:{port}"
    line("store → spool → PostgREST fake (TCP loopback)", n, trio.run(through_store, n, tcp, None))
    port2, stop2 = start_tcp_fake(FakePostgrest())
    line(
        "baseline: one upsert per row (TCP loopback)",
        baseline_n,
        trio.run(per_row_baseline, baseline_n, f"http://127.0.0.1:{port2}", None),
    )
    stop()
    stop2()
    full, drained = trio.run(spool_size, n)
    print(
        f"spool holding {n:,} signals (Supabase down)      : {full / 1024:>9,.0f} KiB "
        f"({full / n * 10_000 / 2**20:.1f} MiB per 10k signals)"
    )
    print(f"spool after draining them                        : {drained / 1024:>9,.0f} KiB")


if __name__ == "__main__":
    main()
