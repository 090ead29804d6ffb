"""Kernel compile benchmarks: the first run on a machine (empty cache: every kernel compiled,
in parallel processes, with progress) and a process loading them from the cache, with its
peak memory. Each in a fresh process with its own ``NUMBA_CACHE_DIR``."""

from __future__ import annotations

import os
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


def _child(cache: str) -> tuple[float, float, int, int]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3])


def compile_and_memory() -> dict[str, float]:
    """Cold compile into an empty cache, then a fresh process loading from it."""
    with tempfile.TemporaryDirectory() as cache:
        cold_s, cold_rss, steps, processes = _child(cache)
        warm_s, warm_rss, _, _ = _child(cache)
    return {
        "cold_compile_s": cold_s,
        "cold_progress_steps": float(steps),
        "cold_processes": float(processes),
        "cold_rss_mib": cold_rss,
        "cached_load_s": warm_s,
        "cached_rss_mib": warm_rss,
    }
