"""Splitting work over threads: the calling thread takes a share, helpers the rest.

Handing all of a job to pool threads while the caller waits costs two wake-ups and, on a
2-vCPU machine, often ran both halves on one thread; the caller working too costs one, and a
job too small to pay for even that runs on the caller alone (:data:`MIN_SPLIT_STEPS`).

A helper starts late when its CPU is busy with other work (measured on the shared 2-vCPU
development machine: 0.1-8 ms after it was handed its half of a 0.8 ms screen, while the
kernels themselves split evenly, each thread's CPU time half of one thread's). Fixed halves
then wait for the late one, slower than one thread; so :func:`run_shared` cuts a job in
several pieces that the threads take in turn from a shared list: a late helper takes fewer
and the caller the rest, never much slower than one thread, twice as fast when both start
together.
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
#: Node steps of a piece of a split screen (:func:`run_shared`): ~0.1 ms, several times a
#: piece's own cost in Python (a call of the interpreter).
PIECE_STEPS = 12_000

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


#: ``take()``: the next range of a shared job not taken yet (None: none left).
TakeFn = Callable[[], tuple[int, int] | None]


def share(
    worker: Callable[[TakeFn], object], ranges: Sequence[tuple[int, int]], threads: int
) -> None:
    """``worker(take)`` on ``threads`` threads (this one and helpers, no more than there are
    ranges), each taking ranges with ``take()`` until none is left: a thread sets itself up
    once and steps the ranges it takes. Returns when all are done (re-raising the first
    failure)."""
    lock = threading.Lock()
    left = iter(ranges)

    def take() -> tuple[int, int] | None:
        with lock:
            return next(left, None)

    helpers = max(0, min(threads, len(ranges)) - 1)
    futures = [_helpers(helpers).submit(worker, take) for _ in range(helpers)]
    try:
        worker(take)
    finally:
        for future in futures:
            # A helper that has not started yet would find nothing left: not waited for.
            if not future.cancel():
                future.result()


def run_shared(
    run: Callable[[int, int], object], ranges: Sequence[tuple[int, int]], threads: int
) -> None:
    """``run(lo, hi)`` for every range, on ``threads`` threads taking them in turn
    (:func:`share`)."""

    def worker(take: TakeFn) -> None:
        for lo, hi in iter(take, None):
            run(lo, hi)

    share(worker, ranges, threads)


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
