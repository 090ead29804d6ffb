"""Backtest benchmarks: throughput against the TA-Lib loop, and a whole ``vyx backtest`` process
against a TA-Lib loop script over the same CSV files.

Both baselines are the reference workload's 20 filters written with TA-Lib
(:mod:`benchmarks.workload`): over the whole history of each symbol, edges counted. Every
figure is the best of several runs, Vyx and the baseline interleaved, so a busy machine slows
both alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.talib_filters import TALIB
from benchmarks.workload import FILTERS, arrays, klines, traders
from kernels.backtest import run_backtest
from kernels.klines_csv import Klines
from kernels.program import Program

RUNS = 7


def _best(fns: dict[str, Callable[[], object]], runs: int = RUNS) -> dict[str, float]:
    """Best wall time of each function over ``runs`` interleaved rounds."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(runs):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def _talib_loop(five: dict[str, Klines], hour: dict[str, Klines]) -> Callable[[], int]:
    arr = {s: arrays(k, hour[s]) for s, k in five.items()}
    harr = {s: arrays(k) for s, k in hour.items()}

    def loop() -> int:
        edges = 0
        for s in five:
            for fn in TALIB:
                m = fn(arr[s], harr[s])
                edges += int(np.sum(m[1:] & ~m[:-1]))
        return edges

    return loop


def throughput(n_sym: int, n_bars: int) -> dict[str, float]:
    """bars × symbols × traders per second over the whole history: Vyx on one thread and on
    two, and the TA-Lib loop."""
    five, hour = klines(n_sym, n_bars, "5m", 1), klines(n_sym, n_bars, "1h", 2)
    program = Program(traders(20))
    data = {"5m": five, "1h": hour}
    fires = run_backtest(program, data)  # loads the kernels
    best = _best(
        {
            "vyx_1": lambda: run_backtest(program, data, threads=1),
            "vyx_2": lambda: run_backtest(program, data, threads=2),
            "talib": _talib_loop(five, hour),
        }
    )
    work = n_bars * n_sym * len(TALIB)
    return {
        "vyx_per_s": work / best["vyx_2"],
        "vyx_1_thread_per_s": work / best["vyx_1"],
        "talib_per_s": work / best["talib"],
        "vyx_fires": float(len(fires)),
    }


def _write_csv(path: Path, k: Klines, step_ms: int) -> None:
    """A Binance kline CSV (12 columns, no header) of ``k``."""
    lines = [
        f"{int(b[8])},{b[0]!r},{b[1]!r},{b[2]!r},{b[3]!r},{b[4]!r},{int(b[8]) + step_ms - 1},"
        f"{b[5]!r},{int(b[6])},{b[7]!r},0,0\n"
        for b in k.bars.tolist()
    ]
    path.write_text("".join(lines))


def _traders_toml() -> str:
    """The reference traders as a traders file."""
    return "".join(
        f'[[traders]]\nid = "t{i:02d}"\nname = "trader {i}"\ntimeframe = "{tf}"\n'
        f'filter = """{src}"""\n\n'
        for i, (src, tf) in enumerate(FILTERS)
    )


_TALIB_SCRIPT = """
import sys
import numpy as np
from benchmarks.talib_filters import TALIB
files = sys.argv[1:]
def load(path):
    a = np.loadtxt(path, delimiter=",")
    return {"open": a[:, 1].copy(), "high": a[:, 2].copy(), "low": a[:, 3].copy(),
            "close": a[:, 4].copy(), "volume": a[:, 5].copy(), "t": a[:, 0]}
five = {f: load(f) for f in files if "-5m" in f}
hour = {f.replace("-5m", "-1h"): load(f.replace("-5m", "-1h")) for f in five}
edges = 0
for f, m in five.items():
    h = hour[f.replace("-5m", "-1h")]
    m["hidx"] = np.searchsorted(h["t"] + 3_600_000, m["t"] + 300_000, side="right") - 1
    for fn in TALIB:
        x = fn(m, h)
        edges += int(np.sum(x[1:] & ~x[:-1]))
print(edges)
"""


def process(n_sym: int, n_bars: int, runs: int = 3) -> dict[str, float]:
    """``vyx backtest`` (a fresh process: imports, kernels from the cache, CSV files read,
    backtest, table printed) against a Python + TA-Lib script over the same CSV files, each
    after a warm-up run (the kernels' cache and both programs' bytecode written)."""
    five, hour = klines(n_sym, n_bars, "5m", 1), klines(n_sym, n_bars, "1h", 2)
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for tf, data, step in (("5m", five, 300_000), ("1h", hour, 3_600_000)):
            for symbol, k in data.items():
                path = Path(tmp) / f"{symbol}-{tf}.csv"
                _write_csv(path, k, step)
                files.append(str(path))
        toml = Path(tmp) / "traders.toml"
        toml.write_text(_traders_toml())
        vyx = [sys.executable, "-m", "vyx", "backtest", "--traders", str(toml)]
        vyx += [arg for f in files for arg in ("--klines", f)]
        script = [sys.executable, "-c", _TALIB_SCRIPT, *files]

        # As installed programs run: modules from their cached bytecode (the warm-up runs
        # write it where the environment asks Python not to, as development shells do).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

        def run(cmd: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(cmd, cwd=root, check=True, capture_output=True, env=env)

        run(vyx)()  # the kernels' cache is warm from here on
        run(script)()
        best = _best({"vyx": run(vyx), "talib": run(script)}, runs)
    return {"vyx_process_s": best["vyx"], "talib_script_s": best["talib"]}
