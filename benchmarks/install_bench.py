"""The install of the worst filter the budget accepts, next to the reference traders: each
family of edge filters pushed to its largest accepted parameter, installed into a running
executor (compile, layout, migrate, warm its new nodes); and installs staged in a worker
thread, as the daemon stages them, while the calling thread is quiet or busy in Python (an
event loop with work to do), with the daemon's GIL switch interval (``vyx run`` sets 1 ms:
the busy thread then gives the GIL back to the worker within 1 ms of each hand-off, not
Python's default 5 ms).

``python -m benchmarks.install_bench`` prints the rows of both."""

from __future__ import annotations

import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence

from benchmarks.workload import klines, traders
from kernels.executor import Executor
from kernels.lang import CompileError
from kernels.program import CompiledTrader, Program, TraderDef, compile_trader
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


def _running(n_sym: int, n_bars: int) -> tuple[Executor, list[TraderDef]]:
    """An executor of the 20 reference traders that has screened 5m and 1h rings of
    ``n_bars`` bars of ``n_sym`` symbols."""
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
    return executor, base


#: The filters staged beside a busy thread (those whose warm-up hands the GIL over most).
BUSY_FILTERS = ("many clauses", "many on() clauses", "window scan (willr)")


def _staged_ms(
    executor: Executor, traders: Sequence[TraderDef | CompiledTrader], *, busy: bool
) -> float:
    """Wall time of staging ``traders`` in a worker thread while this thread waits for it
    (quiet) or runs Python until it is done (busy)."""
    took: list[float] = []
    done = threading.Event()

    def work() -> None:
        started = time.perf_counter()
        executor.stage(traders)
        took.append(time.perf_counter() - started)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    spun = 0
    while busy and not done.is_set():
        for i in range(1000):
            spun += i
    worker.join()
    return took[0] * 1000


def busy_install(n_sym: int, n_bars: int, runs: int = 5) -> dict[str, dict[str, float]]:
    """Stage each of :data:`BUSY_FILTERS` (compiled, as the daemon installs traders) next to
    the 20 reference traders (compiled) in a worker thread, with this thread quiet and busy
    in Python: the best of ``runs`` of each, in ms, alternating (the machine's load changes
    both alike), with the daemon's switch interval (:data:`vyx.cli.run.SWITCH_INTERVAL_S`)."""
    from vyx.cli.run import SWITCH_INTERVAL_S

    default = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        return _busy_install(n_sym, n_bars, runs)
    finally:
        sys.setswitchinterval(default)


def _busy_install(n_sym: int, n_bars: int, runs: int) -> dict[str, dict[str, float]]:
    executor, base = _running(n_sym, n_bars)
    running = [compile_trader(t) for t in base]
    rows = {}
    for name in BUSY_FILTERS:
        trader = compile_trader(TraderDef("edge", edge_filter(EDGE_FILTERS[name]), "5m"))
        quiet, busy = [], []
        for _ in range(runs):
            quiet.append(_staged_ms(executor, [*running, trader], busy=False))
            busy.append(_staged_ms(executor, [*running, trader], busy=True))
        rows[name] = {"quiet_ms": min(quiet), "busy_ms": min(busy)}
    return rows


def worst_install(n_sym: int, n_bars: int) -> dict[str, object]:
    """Install each edge filter next to the 20 reference traders (5m and 1h rings of
    ``n_bars`` bars): the worst wall and CPU times (each the best of 5: compile, layout, migrate
    and warm its new nodes) and the worst peak of memory allocated during the install
    (tracemalloc, in a run of its own: tracing slows Python down)."""
    executor, base = _running(n_sym, n_bars)
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


def main() -> None:
    """Print the install rows: the worst install, then installs beside a busy thread."""
    edge = worst_install(100, 1000)
    print(f"worst install {edge['ms']:.1f} ms ({edge['slowest']}), CPU {edge['cpu_ms']:.1f} ms")
    print(f"  peak memory {edge['mib']:.2f} MiB ({edge['widest']})")
    for name, row in busy_install(100, 1000).items():
        print(f"staged {name}: quiet {row['quiet_ms']:.1f} ms, busy {row['busy_ms']:.1f} ms")


if __name__ == "__main__":
    main()
