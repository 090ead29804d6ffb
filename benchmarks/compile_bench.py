"""Kernel compile benchmarks: the first run on a machine (empty cache: every kernel compiled,
in parallel processes, with progress) and a process loading them from the cache, with its
peak memory. Each in a fresh process with its own ``NUMBA_CACHE_DIR``.

The processes run as installed programs do: Python modules from their cached bytecode. A
development shell that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise have every process
compile numba's own modules to bytecode again (~1 s of CPU in each compiling process,
as much as a family): a warm-up process writes the bytecode first, as
:func:`benchmarks.backtest_bench.process` does for the whole ``vyx backtest``."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile

_CHILD = """
import sys, time
t = time.perf_counter()
import numpy as np
from kernels import ops
from kernels.graph import Graph
from kernels.precompile import ensure_compiled
from kernels.series import make_bars, run_graph
steps = []
report = ensure_compiled(lambda done, total, what: steps.append(what))
g = Graph(); x = g.src(ops.CLOSE); n = g.add(ops.RSI, [x], [14])
run_graph(g, [n], make_bars(close=np.arange(100.0)))
# VmHWM: this process's peak resident set.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(time.perf_counter() - t, int(hwm) / 1024, len(steps), report.processes)
"""


#: What the timed processes import, and numba's compiler set up (it imports every
#: implementation it has): the warm-up writes their bytecode.
_WARM_UP = """
import numba, numpy
import kernels.graph, kernels.precompile, kernels.series
numba.njit(lambda x: x + 1)(1)
"""


def _env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return dict(env, NUMBA_CACHE_DIR=cache)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child(cache: str) -> tuple[float, float, int, int, float]:
    """Wall seconds, peak RSS (MiB), progress steps, processes, CPU seconds (the compiling
    processes' included)."""
    cpu = _children_cpu()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=_env(cache), check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3]), _children_cpu() - cpu


def compile_and_memory() -> dict[str, float]:
    """Cold compile into an empty cache, then a fresh process loading from it."""
    with tempfile.TemporaryDirectory() as cache:
        subprocess.run([sys.executable, "-c", _WARM_UP], env=_env(cache), check=True)
    with tempfile.TemporaryDirectory() as cache:
        cold_s, cold_rss, steps, processes, cold_cpu = _child(cache)
        warm_s, warm_rss, _, _, _ = _child(cache)
    return {
        "cold_compile_s": cold_s,
        "cold_compile_cpu_s": cold_cpu,
        "cold_progress_steps": float(steps),
        "cold_processes": float(processes),
        "cold_rss_mib": cold_rss,
        "cached_load_s": warm_s,
        "cached_rss_mib": warm_rss,
        # The machine's load when the compile ran (other work competes for the 2 CPUs).
        "load": os.getloadavg()[0],
    }
