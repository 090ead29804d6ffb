"""The install of the worst filter the budget accepts, next to the reference traders: each
family of edge filters pushed to its largest accepted parameter, installed into a running
executor (compile, layout, migrate, warm its new nodes)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from benchmarks.workload import klines, traders
from kernels.executor import Executor
from kernels.lang import CompileError
from kernels.program import Program, TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import timeframe_ms


def _fill(ring: RingBuffer, data, end: int) -> None:
    for symbol, k in data.items():
        slot = ring.add_symbol(symbol)
        for t in range(end):
            ring.append(slot, int(k.open_time[t]), k.bars[t, :8])


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
