"""Splitting work over threads: the calling thread takes a share, helpers the rest.

Handing all of a job to pool threads while the caller waits costs two wake-ups and, on a
2-vCPU machine, often ran both halves on one thread; the caller working too costs one, and a
job too small to pay for even that runs on the caller alone (:data:`MIN_SPLIT_STEPS`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

#: Node steps (bars stepped times plan nodes) from which a screen is split over threads:
#: on the 2-vCPU development machine waking a helper costs about as much as 25,000 node
#: steps (~8 ns each), so a split pays from about twice that (``just bench`` measures the
#: reference workload, ~8,000 node steps, and 1,000 symbols, ~91,000).
MIN_SPLIT_STEPS = 50_000

_lock = threading.Lock()
_pool: tuple[ThreadPoolExecutor, int] | None = None


def _helpers(n: int) -> ThreadPoolExecutor:
    """The process's pool of helper threads, grown to at least ``n`` threads."""
    global _pool
    with _lock:
        if _pool is None or _pool[1] < n:
            if _pool is not None:
                _pool[0].shutdown(wait=False)
            _pool = (ThreadPoolExecutor(n, thread_name_prefix="vyx-kernels"), n)
        return _pool[0]


def run_split(run: Callable[[int, int], object], ranges: Sequence[tuple[int, int]]) -> None:
    """``run(lo, hi)`` for every range, concurrently: the first in this thread, the others
    on helper threads; returns when all are done (re-raising the first failure)."""
    if not ranges:
        return
    futures = [_helpers(len(ranges) - 1).submit(run, lo, hi) for lo, hi in ranges[1:]]
    try:
        run(*ranges[0])
    finally:
        for future in futures:
            future.result()
