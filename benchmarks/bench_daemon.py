"""End-to-end benchmark of the real daemon: exchange, ``vyx run`` and a browser, three processes.

- The simulated exchange runs in its own process and notes (``ExchangeConfig.on_sent``) when
  each closed-candle frame was written to its socket, on ``time.perf_counter`` — on Linux the
  monotonic clock, comparable across processes.
- The daemon is the real ``vyx run --traders FILE`` in its own process, configured from the
  environment like a user's (SQLite in a temporary directory, default log level): its peak RSS
  is that process's ``VmHWM``.
- The browser is a WebSocket client in this process, on the daemon's ``/ws``.

Phases (about two and a half minutes):

1. first start: the reference daemon starts once on an empty kernel cache of its own
   (:mod:`benchmarks.kernel_cache`: every kernel compiled, with progress, as a user's first
   run does) and stops at ready; later daemons load the kernels from what it compiled;
2. reference workload (DESIGN §6): 100 symbols x 1000 bars on 5m and 1h, the 20 reference
   traders plus ``flip`` (``close > open``), exchange at 60x. Start to ready (warm), RSS at
   ready (before the first close), then ``CLOSES`` closes: closed-candle frame ->
   ``signal_created`` latency, and the peak RSS — of a first run after a cold compile (the
   cache holds only what the first start compiled: a kernel compiled at a close would show in
   the peak, and is named);
3. idle: the daemon with no traders (100 symbols streaming, nothing screened), RSS after ready;
4. throughput: traders of which half hold on every symbol at every close (a signal fires when
   a filter turns true), and a faster exchange: signals stored and pushed per second, and the
   daemon's CPU per signal over the ``FAST_SECONDS`` after the first ``FAST_WARM_S`` (by then
   signals' outcomes complete every close, as in a daemon running for a while).

Run with ``just bench`` or ``uv run python -m benchmarks.bench_daemon``; writes
``bench-results/daemon.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from benchmarks.daemon_report import print_reference, print_throughput
from benchmarks.kernel_cache import snapshot, use_empty_cache, written_after
from benchmarks.latency_stats import bucket_spans, histogram_quantile, quantiles
from benchmarks.workload import FILTERS

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
SYMBOLS = 100
#: Closes measured at the reference workload.
CLOSES = 8
#: Exchange speed of the reference phase: 60x plays a 5m bar in 5 s, and then sends about as
#: many frames per real second as Binance does (a forming update per kline stream every ~1.7 s,
#: a ticker per symbol every second); only closes come 60x more often.
SPEED = 60.0
#: The throughput phase: a 5m close every half second, tickers still 100/s. Five traders of ten
#: hold on each symbol at each close, and a signal fires when a filter turns true: about 250
#: signals per close, queued to the browser at once (the hub lets a reading browser fall up to
#: 8 x 256 messages behind).
FAST_SPEED = 600.0
FAST_TRADERS = 10
FAST_SECONDS = 12.0
#: Seconds of the throughput phase before its CPU is measured: a signal's outcome completes 24
#: bars after it (12 s at 600x), so the measured window has signals opening, stepping and
#: completing, as a daemon running for a while has (its traders' records updated every close).
FAST_WARM_S = 12.0
_DASHBOARD = re.compile(r"Dashboard: (http://\S+)/\?token=(\S+)")


# -- the exchange process ------------------------------------------------------------------------


def exchange_main(symbols: int, speed: float, ticker_ms: int, forming: int, out: str) -> None:
    """The exchange subprocess: serve until SIGTERM, then write the closed frames' send times."""
    from vyx.exchange.service import ExchangeConfig, run_exchange

    sent: list[tuple[float, str]] = []

    def on_sent(text: str) -> None:
        if '"x":true' in text:
            sent.append((time.perf_counter(), text))

    async def serve() -> None:
        cfg = ExchangeConfig(
            symbols=symbols,
            seed=5,
            speed=speed,
            decoys=False,
            ticker_interval_ms=ticker_ms,
            forming_updates=forming,
            on_sent=on_sent,
        )
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                handle = await nursery.start(run_exchange, cfg)
                # Its market clock now, and when (perf_counter, comparable across processes).
                now = (handle.clock.now_ms(), time.perf_counter())
                print(handle.rest_url, handle.ws_url, *now, flush=True)
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    trio.run(serve)
    with open(out, "w") as f:
        for at, text in sent:
            k = json.loads(text)["data"]["k"]
            f.write(json.dumps([k["s"], k["i"], k["t"], at]) + "\n")


@attrs.define
class Exchange:
    proc: subprocess.Popen[str]
    rest_url: str
    ws_url: str
    sent_path: Path
    #: The exchange's market time (epoch ms) at ``perf_counter`` ``at``, and its speed.
    market_ms0: int = 0
    at: float = 0.0
    speed: float = SPEED

    def market_ms(self, at: float) -> int:
        """The exchange's market time at ``perf_counter`` ``at``."""
        return self.market_ms0 + int((at - self.at) * self.speed * 1000)

    def stop(self) -> dict[tuple[str, str, int], float]:
        """Stop it; (symbol, interval, open time) -> when its closed frame was written."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        out: dict[tuple[str, str, int], float] = {}
        for line in self.sent_path.read_text().splitlines():
            s, i, t, at = json.loads(line)
            out.setdefault((s, i, t), at)
        return out


def start_exchange(tmp: Path, name: str, speed: float, forming: int = 3) -> Exchange:
    # Tickers every market minute at 60x: 100 frames/s, Binance's rate; kept there when faster.
    ticker_ms = max(60_000, int(speed / 60) * 60_000)
    path = tmp / f"{name}-sent.jsonl"
    args = [str(SYMBOLS), str(speed), str(ticker_ms), str(forming), str(path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_daemon", "exchange", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    rest_url, ws_url, market_ms, at = proc.stdout.readline().split()
    return Exchange(proc, rest_url, ws_url, path, int(market_ms), float(at), speed)


# -- the daemon process --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string here (ASCII)


def traders_toml(entries: list[tuple[str, str, str]]) -> str:
    """A traders file: (id, filter, timeframe) per trader."""
    return "".join(
        f"[[traders]]\nid = {_toml_str(i)}\nname = {_toml_str(i)}\n"
        f"timeframe = {_toml_str(tf)}\nfilter = {_toml_str(src)}\n\n"
        for i, src, tf in entries
    )


REFERENCE = [(f"t{i:02d}", src, tf) for i, (src, tf) in enumerate(FILTERS)] + [
    ("flip", "close > open", "5m")
]


def _fast_traders() -> list[tuple[str, str, str]]:
    # Half say close > open, half close <= open (each its own filter: identical filters share
    # one rule): every symbol fires FAST_TRADERS / 2 signals at every close.
    return [
        (f"f{i:02d}", f"{'close > open' if i % 2 else 'close <= open'} and volume >= -{i}", "5m")
        for i in range(FAST_TRADERS)
    ]


@attrs.define
class Daemon:
    proc: subprocess.Popen[bytes]
    started: float
    port: int
    data_dir: Path
    log_path: Path
    ready_s: float = float("nan")
    healthy_s: float = float("nan")
    token: str = ""

    @property
    def ws_url(self) -> str:
        # Protocol 3, as the dashboard: a screen's signals in one signals_created message, a
        # close's outcomes in one signal_outcomes message.
        return f"ws://127.0.0.1:{self.port}/ws?access_token={self.token}&protocol=3"

    def status(self, key: str) -> float:
        """A ``/proc/PID/status`` value in MiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self, children: bool = False) -> float:
        """User + system CPU seconds of the daemon (every thread; with ``children``, its
        processes that ended too: the kernels' compiling processes)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11 : 15 if children else 13])
        return ticks / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        """``/metrics`` samples without labels, plus labelled ones as ``name{labels}``."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stored_signals(self) -> int:
        with contextlib.closing(sqlite3.connect(self.data_dir / "vyx.sqlite3")) as db:
            return int(db.execute("SELECT count(*) FROM signals").fetchone()[0])


def start_daemon(
    tmp: Path,
    name: str,
    exchange: Exchange,
    traders: list[tuple[str, str, str]],
    python: tuple[str, ...] = (sys.executable,),
) -> Daemon:
    """Start ``vyx run`` and wait until it is ready (dashboard printed) and /health healthy."""
    data_dir = tmp / name
    data_dir.mkdir()
    traders_path = tmp / f"{name}.toml"
    traders_path.write_text(traders_toml(traders))
    port = _free_port()
    env = {
        # Only what a user's shell would pass, and the daemon's own variables.
        **{k: v for k in ("PATH", "HOME", "LANG", "NUMBA_CACHE_DIR") if (v := os.environ.get(k))},
        "BINANCE_REST_URL": exchange.rest_url,
        "BINANCE_WS_URL": exchange.ws_url,
        "SYMBOL_COUNT": str(SYMBOLS),
        "VYX_DATA_DIR": str(data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    log_path = tmp / f"{name}.log"
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*python, "-m", "vyx", "run", "--traders", str(traders_path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    daemon = Daemon(proc, started, port, data_dir, log_path)
    try:
        _wait_ready(daemon)
    except BaseException:
        daemon.stop()
        raise
    return daemon


def _wait_ready(daemon: Daemon) -> None:
    proc, started, log_path, port = daemon.proc, daemon.started, daemon.log_path, daemon.port
    deadline = started + 120
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vyx run exited: {log_path.read_text()[-2000:]}")
        if not daemon.token:
            m = _DASHBOARD.search(log_path.read_text(errors="replace"))
            if m:
                daemon.ready_s = time.perf_counter() - started
                daemon.token = m.group(2)
        with contextlib.suppress(httpx.HTTPError):
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
            if health.get("status") == "healthy" and daemon.token:
                daemon.healthy_s = time.perf_counter() - started
                return
        time.sleep(0.01)
    raise RuntimeError(f"vyx run not ready in time: {log_path.read_text()[-2000:]}")


# -- the browser ---------------------------------------------------------------------------------


@attrs.frozen
class Received:
    at: float
    symbol: str
    interval: str
    open_time: int
    trader: str


async def browse(url: str, seconds: float, until_bars: int | None = None) -> list[Received]:
    """Every confirmed signal received (``signals_created``, or ``signal_created`` from a daemon
    of protocol 1) for ``seconds`` (or ``until_bars`` bars)."""
    out: list[Received] = []
    bars: set[int] = set()
    async with open_websocket_url(url, message_queue_size=0) as ws:
        with trio.move_on_after(seconds):
            while until_bars is None or len(bars) < until_bars:
                try:
                    raw = await ws.get_message()
                except ConnectionClosed as exc:
                    print(f"  !! the daemon closed the browser: {exc.reason}", file=sys.stderr)
                    break
                at = time.perf_counter()
                if '"signal_created"' in raw:
                    signals = [json.loads(raw)["data"]]
                elif '"signals_created"' in raw:
                    signals = json.loads(raw)["data"]["signals"]
                else:
                    continue
                for d in signals:
                    if d["provisional"]:
                        continue
                    out.append(
                        Received(at, d["symbol"], d["interval"], d["barOpenTime"], d["traderId"])
                    )
                    bars.add(d["barOpenTime"])
    return out


# -- phases --------------------------------------------------------------------------------------


def reference(tmp: Path, cache: Path) -> dict[str, Any]:
    exchange = start_exchange(tmp, "reference", SPEED)
    try:
        # 1. first start: the empty kernel cache compiled (files in the page cache too)
        warm = start_daemon(tmp, "warmup", exchange, REFERENCE)
        cold = {
            "cold_ready_s": warm.ready_s,
            "cold_cpu_s": warm.cpu_s(children=True),
            "cold_peak_rss_mib": warm.status("VmHWM"),
        }
        warm.stop()
        compiled = snapshot(cache)
        # 2. the reference workload
        daemon = start_daemon(tmp, "reference", exchange, REFERENCE)
        started = _hours_closed(exchange, daemon)
        try:
            rss_ready = daemon.status("VmRSS")
            cpu0, t0 = daemon.cpu_s(), time.perf_counter()
            got = trio.run(browse, daemon.ws_url, CLOSES * 300 / SPEED + 15, CLOSES + 1)
            cpu = (daemon.cpu_s() - cpu0) / (time.perf_counter() - t0)
            peak, rss_end = daemon.status("VmHWM"), daemon.status("VmRSS")
            metrics = daemon.metrics()
        finally:
            daemon.stop()
        late = written_after(cache, compiled)
        # 3. idle: no traders
        idle = start_daemon(tmp, "idle", exchange, [])
        try:
            time.sleep(3)
            idle_rss, idle_hwm = idle.status("VmRSS"), idle.status("VmHWM")
            idle_ready = idle.ready_s
        finally:
            idle.stop()
    finally:
        sent = exchange.stop()
    # Bars of the first close may have been half-received when the browser connected.
    first_bar = min(r.open_time for r in got)
    got = [r for r in got if r.open_time != first_bar]
    # A bar that reached the daemon by REST (a gap repaired) has no closed frame to time it by.
    by_rest = sum(1 for r in got if (r.symbol, r.interval, r.open_time) not in sent)
    got = [r for r in got if (r.symbol, r.interval, r.open_time) in sent]
    buckets = bucket_spans(sent)
    own = [r.at - sent[(r.symbol, r.interval, r.open_time)] for r in got]
    after = [r.at - buckets[(r.interval, r.open_time)][1] for r in got]
    spreads = [hi - lo for (i, t), (lo, hi) in buckets.items() if i == "5m"]
    bars = sorted({r.open_time for r in got})
    per_close = [sum(1 for r in got if r.open_time == b) for b in bars]
    q_own, q_after = quantiles(own), quantiles(after)
    # The close whose signal came latest after its bucket: named, so that a slow one can be
    # told apart (e.g. a 5m close held for the 1h bar closing at the same instant).
    slowest = max(got, key=lambda r: r.at - buckets[(r.interval, r.open_time)][1], default=None)
    q_spread = quantiles(spreads)
    return {
        "symbols": SYMBOLS,
        "speed": SPEED,
        "signals": len(got),
        "signals_by_rest": by_rest,
        "closes": len(bars),
        "signals_per_close": statistics.mean(per_close) if per_close else 0,
        "latency_p50_ms": q_own[0],
        "latency_p99_ms": q_own[1],
        "latency_max_ms": q_own[2],
        "after_bucket_p50_ms": q_after[0],
        "after_bucket_p99_ms": q_after[1],
        "slowest_close": None
        if slowest is None
        else f"{slowest.interval} bar opening {slowest.open_time} (closing "
        f"{'on' if (slowest.open_time + 300_000) % 3_600_000 == 0 else 'off'} an hour, at "
        f":{(slowest.open_time + 300_000) % 3_600_000 // 60_000:02d})",
        # A bar closing between the daemon's backfill and its streams' subscription reaches it
        # by REST (a longer one was held back by its next frame before: a 5 s align wait).
        "hours_closed_while_starting": started,
        "gaps_repaired": metrics.get("vyx_market_gaps_repaired_total", float("nan")),
        "bars_repaired": metrics.get("vyx_market_bars_repaired_total", float("nan")),
        "bucket_spread_p50_ms": q_spread[0],
        "bucket_spread_max_ms": q_spread[2],
        "daemon_cpu_fraction": cpu,
        "screen_p50_ms": histogram_quantile(metrics, "vyx_screen_duration_seconds", "5m", 0.5),
        "close_to_signals_p50_ms": histogram_quantile(
            metrics, "vyx_close_to_signals_seconds", None, 0.5
        ),
        "close_to_signals_p99_ms": histogram_quantile(
            metrics, "vyx_close_to_signals_seconds", None, 0.99
        ),
        **cold,
        "compiled_after_first_start": late,
        "ready_s": daemon.ready_s,
        "healthy_s": daemon.healthy_s,
        "idle_ready_s": idle_ready,
        "rss_at_ready_mib": rss_ready,
        "rss_end_mib": rss_end,
        "peak_rss_mib": peak,
        "idle_rss_mib": idle_rss,
        "idle_peak_rss_mib": idle_hwm,
    }


def _hours_closed(exchange: Exchange, daemon: Daemon) -> int:
    """Hours of market time that closed from the daemon's process start to /health healthy."""
    first = exchange.market_ms(daemon.started)
    last = exchange.market_ms(daemon.started + daemon.healthy_s)
    return last // 3_600_000 - first // 3_600_000


async def _browse_measured(daemon: Daemon) -> tuple[list[Received], float, float]:
    """Browse for ``FAST_WARM_S + FAST_SECONDS``; what was received, and when the measured
    window began (``perf_counter``) with the daemon's CPU seconds then."""
    received: list[Received] = []
    start: list[float] = []

    async def read() -> None:
        received.extend(await browse(daemon.ws_url, FAST_WARM_S + FAST_SECONDS))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.sleep(FAST_WARM_S)
        start += [time.perf_counter(), daemon.cpu_s()]
    return received, start[0], start[1]


def throughput(tmp: Path) -> dict[str, Any]:
    exchange = start_exchange(tmp, "fast", FAST_SPEED, forming=1)
    try:
        daemon = start_daemon(tmp, "fast", exchange, _fast_traders())
        try:
            got, t0, cpu0 = trio.run(_browse_measured, daemon)
            wall = time.perf_counter() - t0
            cpu = (daemon.cpu_s() - cpu0) / wall
            created = daemon.metrics().get("vyx_signals_total", float("nan"))
        finally:
            daemon.stop()
        stored = daemon.stored_signals()
    finally:
        sent = exchange.stop()
    buckets = bucket_spans(sent)
    # Whole closes only, streamed live (a bar that closed during start-up reached the daemon
    # by REST backfill: its signals come from catch-up, with no closed frame to time them by).
    bars = [b for b in sorted({r.open_time for r in got})[1:-1] if ("5m", b) in buckets]
    whole = [r for r in got if r.open_time in bars]
    span = max(r.at for r in whole) - min(r.at for r in whole) if whole else float("nan")
    lags = []
    for b in bars:
        last = max(r.at for r in whole if r.open_time == b)
        lags.append(last - buckets[("5m", b)][1])
    in_window = sum(r.at >= t0 for r in got)
    return {
        "traders": FAST_TRADERS,
        "speed": FAST_SPEED,
        "warm_s": FAST_WARM_S,
        "signals_received": len(got),
        "window_s": wall,
        "window_signals_per_s": in_window / wall,
        "closes": len(bars),
        "signals_per_close": len(whole) / len(bars) if bars else 0,
        "signals_per_s": len(whole) / span if span else float("nan"),
        "offered_per_s": len(whole) / len(bars) * FAST_SPEED / 300 if bars else 0,
        "last_signal_lag_first_ms": lags[0] * 1e3 if lags else float("nan"),
        "last_signal_lag_last_ms": lags[-1] * 1e3 if lags else float("nan"),
        "last_signal_lag_max_ms": max(lags) * 1e3 if lags else float("nan"),
        "daemon_cpu_fraction": cpu,
        "created_total": created,
        "stored_total": stored,
    }


@contextlib.contextmanager
def _tmpdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vyx-bench-") as d:
        yield Path(d)


def main() -> None:
    """Run and print the daemon benchmark; write bench-results/daemon.json."""
    if len(sys.argv) > 1 and sys.argv[1] == "exchange":
        a = sys.argv[2:]
        exchange_main(int(a[0]), float(a[1]), int(a[2]), int(a[3]), a[4])
        return
    print("daemon benchmark (about two and a half minutes)...", file=sys.stderr)
    with _tmpdir() as tmp:
        r = reference(tmp, use_empty_cache(tmp))
        print_reference(r)
        if "--reference-only" in sys.argv:
            return
        f = throughput(tmp)
        print_throughput(f)
    RESULTS.mkdir(exist_ok=True)
    out = {**r, **{f"throughput_{k}": v for k, v in f.items()}}
    (RESULTS / "daemon.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
