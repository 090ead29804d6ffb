"""End-to-end benchmark: closed-candle frame -> ``signal_created`` on a browser socket.

The simulated exchange, the daemon and two WebSocket clients run on loopback: one client listens
to the exchange's kline stream (when each closed frame went out), the other is a browser on the
daemon's ``/ws``. A signal's latency is its arrival minus the arrival of the closed frame of its
bar (the screen waits for every symbol of the bucket, so this includes that wait). Also reports
the process's peak RSS (exchange included) and the daemon's start-to-ready time.
Run with ``just bench`` or ``uv run python -m benchmarks.bench_daemon``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

from benchmarks.workload import traders
from vyx.app import DaemonOptions, run_daemon
from vyx.config import Config
from vyx.traders import TraderInfo, TraderRejected

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
_EXCHANGE = """
import sys, trio
from vyx.market.exchange.service import ExchangeConfig, run_exchange
async def main():
    async with trio.open_nursery() as nursery:
        h = await nursery.start(run_exchange, ExchangeConfig(
            symbols=int(sys.argv[1]), seed=5, speed=60.0, decoys=False))
        print(h.rest_url, h.ws_url, flush=True)
trio.run(main)
"""
SYMBOLS = 100
CLOSES = 8


def _hwm_mib() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


async def _run() -> dict[str, float]:
    defs = [*traders(20), traders(1)[0].__class__("flip", "close > open", "5m", "flip")]

    async def load() -> tuple[list[TraderInfo], list[TraderRejected]]:
        return [TraderInfo(d) for d in defs], []

    closed_at: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    arrivals: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        async with trio.open_nursery() as nursery:
            # The exchange runs in its own process, as Binance does: its frame production must
            # not share this process's CPU with the daemon being measured.
            exchange_proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
                [sys.executable, "-c", _EXCHANGE, str(SYMBOLS)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert exchange_proc.stdout is not None
            rest_url, ws_url = exchange_proc.stdout.readline().split()
            cfg = Config.from_env(
                {
                    "BINANCE_REST_URL": rest_url,
                    "BINANCE_WS_URL": ws_url,
                    "SYMBOL_COUNT": str(SYMBOLS),
                    "VYX_DATA_DIR": data_dir,
                    "PORT": "0",
                    "LOG_LEVEL": "WARNING",
                }
            )
            started = time.perf_counter()
            opts = DaemonOptions(traders=load, persist_browser_edits=False, handle_signals=False)
            daemon = await nursery.start(run_daemon, cfg, opts)
            ready_s = time.perf_counter() - started
            streams = "/".join(f"{s.lower()}@kline_5m" for s in daemon.market.symbols)

            async def watch_exchange() -> None:
                async with open_websocket_url(f"{ws_url}/stream?streams={streams}") as ws:
                    while True:
                        msg = json.loads(await ws.get_message())
                        k = msg.get("data", {}).get("k")
                        if k and k["x"]:
                            closed_at.setdefault((k["s"], int(k["t"])), time.perf_counter())

            nursery.start_soon(watch_exchange)
            url = daemon.server.url.replace("http://", "ws://")
            seen_bars: set[int] = set()
            async with open_websocket_url(
                f"{url}/ws?access_token={daemon.server.local_token}"
            ) as ws:
                with trio.move_on_after(CLOSES * 5 + 15):
                    while len(seen_bars) < CLOSES:
                        msg = json.loads(await ws.get_message())
                        if msg["type"] != "signal_created":
                            continue
                        d = msg["data"]
                        at = closed_at.get((d["symbol"], d["barOpenTime"]))
                        if at is not None:
                            now = time.perf_counter()
                            latencies.append(now - at)
                            arrivals.append((d["barOpenTime"], now))
                            seen_bars.add(d["barOpenTime"])
            screens = daemon.screener.statistics()
            daemon.stop()
            nursery.cancel_scope.cancel()
            exchange_proc.terminate()
            exchange_proc.wait()
    # From the bucket's last closed frame (every symbol has closed): the daemon's own share.
    last: dict[int, float] = {}
    for (_, t), at in closed_at.items():
        last[t] = max(last.get(t, 0.0), at)
    own = sorted(now - last[t] for t, now in arrivals)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    qo = statistics.quantiles(own, n=100) if len(own) > 1 else own * 99
    inner = sorted(screens.close_to_signals_s)
    qi = statistics.quantiles(inner, n=100) if len(inner) > 1 else inner * 99
    return {
        "signals": float(len(latencies)),
        "closes": float(len(seen_bars)),
        "latency_p50_ms": q[49] * 1000,
        "latency_p99_ms": q[98] * 1000,
        "daemon_close_to_signals_p50_ms": qi[49] * 1000 if qi else float("nan"),
        "daemon_close_to_signals_p99_ms": qi[98] * 1000 if qi else float("nan"),
        "after_bucket_p50_ms": qo[49] * 1000,
        "after_bucket_p99_ms": qo[98] * 1000,
        "bucket_spread_ms": max(
            last[t] - min(a for (_, t2), a in closed_at.items() if t2 == t) for t in last
        )
        * 1000,
        "screen_last_ms": screens.last_screen_ms,
        "screen_max_ms": screens.max_screen_ms,
        "ready_s": ready_s,
        "peak_rss_mib": _hwm_mib(),
    }


def main() -> None:
    """Run and print the daemon benchmark; write bench-results/daemon.json."""
    print("daemon benchmark (about a minute)...", file=sys.stderr)
    r = trio.run(_run)
    print(f"closed-candle frame -> signal_created, {SYMBOLS} symbols x 21 traders, loopback:")
    print(
        f"  p50 {r['latency_p50_ms']:.2f} ms   p99 {r['latency_p99_ms']:.2f} ms   "
        f"({r['signals']:.0f} signals over {r['closes']:.0f} closes; target p99 <= 10 ms)"
    )
    print(
        f"  from the bucket's last closed frame: p50 {r['after_bucket_p50_ms']:.2f} ms   "
        f"p99 {r['after_bucket_p99_ms']:.2f} ms (the exchange spread a bucket's closed frames "
        f"over up to {r['bucket_spread_ms']:.0f} ms)"
    )
    print(
        f"  inside the daemon, close announced (every symbol's bar in) -> signals stored and "
        f"pushed: p50 {r['daemon_close_to_signals_p50_ms']:.2f} ms   "
        f"p99 {r['daemon_close_to_signals_p99_ms']:.2f} ms"
    )
    print(f"  screen at close: last {r['screen_last_ms']:.2f} ms, max {r['screen_max_ms']:.2f} ms")
    print(
        f"  start to ready (backfill of {SYMBOLS} symbols x 2 timeframes included): "
        f"{r['ready_s']:.1f} s"
    )
    print(
        f"  peak RSS of the daemon's process (with the two measuring clients): "
        f"{r['peak_rss_mib']:.0f} MiB (target <= 220 MiB)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "daemon.json").write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
