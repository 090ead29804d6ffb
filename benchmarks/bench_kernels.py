"""Kernel benchmarks (DESIGN §6): screen at close, backtest throughput, threads, the large
workload, cold compile time, the memory of a process that loads the kernels from cache, and the
install of the worst filter the budget accepts.

Every Vyx number is measured next to its baseline in the same run: the same 20 filters as a
Python loop over symbols calling TA-Lib, checked for identical results before timing.
Run with ``just bench`` (prints a table, writes ``bench-results/kernels.json``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.workload import TALIB, arrays, klines, traders
from kernels.backtest import run_backtest
from kernels.executor import Executor
from kernels.lang import CompileError
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms

RESULTS = Path(__file__).resolve().parent.parent / "bench-results"
TIMED_BARS = 40


def _fill(ring: RingBuffer, data, end: int) -> None:
    for symbol, k in data.items():
        slot = ring.add_symbol(symbol)
        for t in range(end):
            ring.append(slot, int(k.open_time[t]), k.bars[t, :8])


def _append(ring: RingBuffer, data, t: int) -> None:
    for symbol, k in data.items():
        ring.append(ring.slot(symbol), int(k.open_time[t]), k.bars[t, :8])


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def screen_at_close(
    n_sym: int,
    n_bars: int,
    tfs: list[str],
    n_traders: int,
    threads: int = 1,
    talib_baseline: bool = True,
) -> dict[str, float]:
    """Step the last TIMED_BARS bars of the base timeframe one close at a time."""
    base = tfs[0]
    data = {tf: klines(n_sym, n_bars, tf, seed=i + 1) for i, tf in enumerate(tfs)}
    rings = {tf: RingBuffer(timeframe_ms(tf), n_bars) for tf in tfs}
    for tf in tfs:
        _fill(rings[tf], data[tf], n_bars - TIMED_BARS if tf == base else n_bars)
    executor = Executor(rings)
    defs = traders(n_traders)
    if tfs != ["5m", "1h"]:
        # Spread the traders over the timeframes (the large workload).
        defs = [
            d.__class__(
                d.id, d.filter, tfs[i % len(tfs)] if "on(" not in d.filter else base, d.name
            )
            for i, d in enumerate(defs)
        ]
    t0 = time.perf_counter()
    errors = executor.set_traders(defs)
    warm_s = time.perf_counter() - t0
    assert not errors, errors
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    step_s: list[float] = []
    screen_s: list[float] = []
    fired: list[int] = []
    for t in range(n_bars - TIMED_BARS, n_bars):
        _append(rings[base], data[base], t)
        a = time.perf_counter()
        job = executor.prepare(base)
        b = time.perf_counter()
        if pool is None:
            job.run()
        else:
            list(pool.map(job.run, *zip(*job.chunks(threads), strict=True)))
        c = time.perf_counter()
        result = executor.finish(job)
        d = time.perf_counter()
        fired.append(len(result.matches))
        step_s.append(c - b)
        screen_s.append(d - a)
    out = {
        "kernel_step_us": _median_us(step_s),
        "screen_us": _median_us(screen_s),
        "warm_s": warm_s,
        "signals_per_screen": float(statistics.mean(fired)),
        "nodes": float(sum(lay.n_nodes for lay in executor.layouts.values())),
    }
    if pool is not None:
        pool.shutdown()
    if talib_baseline:
        arr = {s: arrays(k, data["1h"][s]) for s, k in data[base].items()}
        harr = {s: arrays(k) for s, k in data["1h"].items()}
        plans = list(executor.traders.values())
        mismatches = 0
        for i, plan in enumerate(plans):
            ours = executor.states[base].value(plan.root)
            for s in data[base]:
                ref = bool(TALIB[i](arr[s], harr[s])[-1])
                mine = bool(ours[rings[base].slot(s)] == 1.0)
                mismatches += ref != mine
        assert mismatches == 0, f"Vyx and TA-Lib disagree on {mismatches} screens"
        loop_s = []
        for _ in range(5):
            a = time.perf_counter()
            for s in data[base]:
                for fn in TALIB[:n_traders]:
                    fn(arr[s], harr[s])[-1]
            loop_s.append(time.perf_counter() - a)
        out["talib_loop_us"] = _median_us(loop_s)
    return out


def backtest_throughput(n_sym: int, n_bars: int) -> dict[str, float]:
    """bars × symbols × traders per second over the whole history, Vyx and the TA-Lib loop."""
    five, hour = klines(n_sym, n_bars, "5m", 1), klines(n_sym, n_bars, "1h", 2)
    defs = traders(20)
    program = Program(defs)
    run_backtest(program, {"5m": five, "1h": hour})  # warm caches
    a = time.perf_counter()
    fires = run_backtest(program, {"5m": five, "1h": hour})
    vyx_s = time.perf_counter() - a
    arr = {s: arrays(k, hour[s]) for s, k in five.items()}
    harr = {s: arrays(k) for s, k in hour.items()}
    a = time.perf_counter()
    ref_fires = 0
    for s in five:
        for fn in TALIB:
            m = fn(arr[s], harr[s])
            ref_fires += int(np.sum(m[1:] & ~m[:-1]))
    talib_s = time.perf_counter() - a
    work = n_bars * n_sym * len(defs)
    return {
        "vyx_per_s": work / vyx_s,
        "talib_per_s": work / talib_s,
        "vyx_fires": float(len(fires)),
        "talib_edges": float(ref_fires),
    }


def _clauses(template: str) -> Callable[[int], str]:
    return lambda n: " and ".join(template.format(k=k) for k in range(n))


#: Families of filters, each pushing one limit of the budget with its parameter ``n``.
EDGE_FILTERS: dict[str, Callable[[int], str]] = {
    "many clauses": _clauses("close > {k}"),
    "many on() clauses": _clauses('on("1h", close > {k})'),
    "deep lookbacks": _clauses("(close + {k})[1000] > 0"),
    "window scan (willr)": lambda n: f"willr(high + 1, low, close, {n}) > -50",
    "window scan (stoch)": lambda n: f"stoch(high + 1, low, close, {n}, 1, 1).slowk > 50",
    "window scan (cci)": lambda n: f"cci(high + 1, low, close, {n}) > 0",
    "window scan (highest)": lambda n: f"close > highest(high + 1, {n})",
    "window scan (rising)": lambda n: f"rising(close + 1, {n})",
    "nested zscore": lambda n: "zscore(" * n + "close" + ")" * n + " > 0",
    "long warm-up (ema of ema)": lambda n: f"ema(ema(ema(close, {n}), {n}), {n}) > close",
}


def _accepted(source: str) -> bool:
    try:
        Program().add(TraderDef("edge", source, "5m"))
    except CompileError:
        return False
    return True


def edge_filter(family: Callable[[int], str], high: int = 1000) -> str:
    """The filter of ``family`` with the largest ``n`` the default budget accepts."""
    lo = 2
    assert _accepted(family(lo))
    while lo < high:
        mid = (lo + high + 1) // 2
        lo, high = (mid, high) if _accepted(family(mid)) else (lo, mid - 1)
    return family(lo)


def worst_install(n_sym: int, n_bars: int) -> dict[str, object]:
    """Install each edge filter next to the 20 reference traders (5m and 1h rings of
    ``n_bars`` bars): the worst wall and CPU times (each the best of 5: compile, layout, migrate
    and warm its new nodes) and the worst peak of memory allocated during the install
    (tracemalloc, in a run of its own: tracing slows Python down)."""
    tfs = ["5m", "1h"]
    data = {tf: klines(n_sym, n_bars, tf, seed=i + 1) for i, tf in enumerate(tfs)}
    rings = {tf: RingBuffer(timeframe_ms(tf), n_bars) for tf in tfs}
    for tf in tfs:
        _fill(rings[tf], data[tf], n_bars)
    executor = Executor(rings)
    base = traders(20)
    assert not executor.set_traders(base)
    for tf in tfs:
        executor.advance(tf)
    rows = {}
    for name, family in EDGE_FILTERS.items():
        trader = TraderDef("edge", edge_filter(family), "5m")
        samples = []
        cpu = []
        for _ in range(5):
            executor.set_traders(base)
            a, c = time.perf_counter(), time.process_time()
            assert not executor.set_traders([*base, trader])
            samples.append(time.perf_counter() - a)
            cpu.append(time.process_time() - c)
        executor.set_traders(base)
        tracemalloc.start()
        executor.set_traders([*base, trader])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows[name] = (min(samples) * 1000, peak / 2**20, trader.filter, min(cpu) * 1000)
    slowest = max(rows, key=lambda k: rows[k][0])
    busiest = max(rows, key=lambda k: rows[k][3])
    widest = max(rows, key=lambda k: rows[k][1])
    return {
        "ms": rows[slowest][0],
        "slowest": slowest,
        "cpu_ms": rows[busiest][3],
        "busiest": busiest,
        "mib": rows[widest][1],
        "widest": widest,
        "filters": {
            k: {"ms": v[0], "cpu_ms": v[3], "mib": v[1], "filter": v[2]} for k, v in rows.items()
        },
    }


_CHILD = """
import time
t = time.perf_counter()
import numpy as np
from kernels.graph import Graph
from kernels import ops
from kernels.executor import Executor
from kernels.series import make_bars, run_graph
g = Graph(); x = g.src(ops.CLOSE); n = g.add(ops.RSI, [x], [14])
run_graph(g, [n], make_bars(close=np.arange(100.0)))
# VmHWM: this process's peak resident set (ru_maxrss survives exec on Linux).
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(time.perf_counter() - t, int(hwm) / 1024)
"""


def _child(cache: str) -> tuple[float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def compile_and_memory() -> dict[str, float]:
    """Cold compile into an empty cache, then a fresh process loading from it."""
    with tempfile.TemporaryDirectory() as cache:
        cold_s, cold_rss = _child(cache)
        warm_s, warm_rss = _child(cache)
    return {
        "cold_compile_s": cold_s,
        "cold_rss_mib": cold_rss,
        "cached_load_s": warm_s,
        "cached_rss_mib": warm_rss,
    }


def main() -> None:
    """Run every kernel benchmark, print the table and write the JSON results."""
    print("kernel benchmarks (this takes a minute or two)...", file=sys.stderr)
    ref = screen_at_close(100, 1000, ["5m", "1h"], 20)
    two = screen_at_close(100, 1000, ["5m", "1h"], 20, threads=2, talib_baseline=False)
    big1 = screen_at_close(1000, 1000, ["5m", "15m", "1h"], 50, talib_baseline=False)
    big2 = screen_at_close(1000, 1000, ["5m", "15m", "1h"], 50, threads=2, talib_baseline=False)
    bt = backtest_throughput(100, 1000)
    mem = compile_and_memory()
    edge = worst_install(100, 1000)
    rows = [
        (
            "screen at close, 100 sym × 20 traders: kernel step",
            ref["kernel_step_us"],
            "µs",
            f"{ref['talib_loop_us'] / ref['kernel_step_us']:.0f}× faster than the TA-Lib loop "
            f"({ref['talib_loop_us'] / 1000:.1f} ms; target ≥ 50×)",
        ),
        (
            "screen at close, 100 sym × 20 traders: whole screen",
            ref["screen_us"],
            "µs",
            f"{ref['talib_loop_us'] / ref['screen_us']:.0f}× faster (copy bars, step, firing "
            f"rules, {ref['signals_per_screen']:.0f} signals explained per screen)",
        ),
        (
            "  same, 2 threads: kernel step",
            two["kernel_step_us"],
            "µs",
            f"{ref['kernel_step_us'] / two['kernel_step_us']:.2f}× vs 1 thread",
        ),
        (
            "1000 sym × 50 traders × 3 TF: kernel step, 1 thread",
            big1["kernel_step_us"],
            "µs",
            f"whole screen {big1['screen_us'] / 1000:.2f} ms",
        ),
        (
            "1000 sym × 50 traders × 3 TF: kernel step, 2 threads",
            big2["kernel_step_us"],
            "µs",
            f"{big1['kernel_step_us'] / big2['kernel_step_us']:.2f}× vs 1 thread; whole screen "
            f"{big2['screen_us'] / 1000:.2f} ms",
        ),
        (
            "backtest, bars×symbols×traders per second",
            bt["vyx_per_s"],
            "/s",
            f"{bt['vyx_per_s'] / bt['talib_per_s']:.2f}× the TA-Lib loop "
            f"({bt['talib_per_s']:.3g}/s; target ≥ 1×)",
        ),
        ("kernels cold compile (empty cache)", mem["cold_compile_s"], "s", ""),
        ("process loading kernels from cache: start", mem["cached_load_s"], "s", ""),
        (
            "process loading kernels from cache: peak RSS",
            mem["cached_rss_mib"],
            "MiB",
            "target ≤ 160 MiB",
        ),
        (
            "worst accepted filter install, 100 sym × 1000 bars",
            edge["ms"],
            "ms",
            f"{edge['slowest']}; next to the 20 reference traders; target ≤ ~100 ms",
        ),
        (
            "  same: CPU time",
            edge["cpu_ms"],
            "ms",
            f"{edge['busiest']}",
        ),
        (
            "  same: peak memory allocated",
            edge["mib"],
            "MiB",
            f"{edge['widest']}; target ≤ ~10 MiB",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'value':>12}  unit  vs baseline")
    for name, value, unit, note in rows:
        print(f"{name:<{width}}  {value:>12.4g}  {unit:<4}  {note}")
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "reference": ref,
        "reference_2_threads": two,
        "large_1_thread": big1,
        "large_2_threads": big2,
        "backtest": bt,
        "compile_memory": mem,
        "worst_install": edge,
    }
    (RESULTS / "kernels.json").write_text(json.dumps(payload, indent=2))
    print(f"\nwritten {RESULTS / 'kernels.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
