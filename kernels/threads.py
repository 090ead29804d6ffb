"""Splitting work over threads: the calling thread takes a share, helpers the rest.

A split screen (:meth:`kernels.step_job.StepJob.run_split`) goes to the process's
:class:`Crew`: helper threads asleep on a lock, woken to make the same interpreter call as the
calling thread, each call taking pieces of the symbols in turn until none is left
(:func:`kernels.interp.shared_claims`). Backtests' symbol groups go through :func:`share`
(a pool of threads taking ranges from a shared list in Python). Either way the calling
thread works too (one wake-up, not two), takes whatever a late helper does not, and waits
only for pieces a helper took; a job too small to pay for a wake-up runs on the caller alone
(:data:`MIN_SPLIT_STEPS`).

Where the time went, measured on the shared 2-vCPU development machine (a Firecracker VM,
docs/kernels-performance.md): a sleeping thread starts ~20 µs after it is woken, and the
waker pays ~5 µs for the wake (a lock; an Event costs twice that). A helper that returns to
Python between pieces needs the GIL back each time (another wake-up when the other thread
holds it), so a helper's pieces all run in one call. On a busy machine a woken helper took
the caller's own CPU (the scheduler placed it there and let it preempt the caller), which
then waited milliseconds for its CPU back: helpers run at Linux's idle priority
(``SCHED_IDLE``), on a CPU nothing else wants, so a split never takes a CPU from the caller
or anyone else and a busy machine steps the job about as fast as one thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

#: Node steps (bars stepped times plan nodes) from which a screen is split over threads:
#: on the 2-vCPU development machine waking a helper costs about as much as 25,000 node
#: steps (~8 ns each), so a split pays from about twice that (``just bench`` measures the
#: reference workload, ~8,000 node steps, and 1,000 symbols, ~91,000).
MIN_SPLIT_STEPS = 50_000
#: Node steps of a piece of a split screen (:meth:`kernels.step_job.StepJob.run_split`):
#: ~20 µs (a piece costs two atomic adds; the smaller the pieces, the closer together the
#: threads finish).
PIECE_STEPS = 3_000
#: Spins (x86 ``pause``, ~10 ns each here) the thread that waits for a split job spins for
#: the pieces helpers are still stepping before it sleeps until they are done: ~0.2 ms, a
#: piece or two (a thread that sleeps wakes ~20-200 µs later).
WAIT_SPINS = 20_000

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


def _idle_priority() -> None:
    """Run this thread only on a CPU nothing else wants (Linux's ``SCHED_IDLE``; elsewhere
    it keeps its priority)."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, os.sched_param(0))


class _Helper:
    """One helper thread: asleep on ``wake`` (held) until handed a ``job``."""

    def __init__(self, crew: Crew, name: str) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.job: Callable[[], object] | None = None
        threading.Thread(target=self._serve, args=(crew,), name=name, daemon=True).start()

    def hand(self, job: Callable[[], object]) -> None:
        """Wake the thread to run ``job()`` (a thread already awake runs it next)."""
        self.job = job
        # Already woken and not asleep again yet (RuntimeError): it will find the job.
        with contextlib.suppress(RuntimeError):
            self.wake.release()

    def _serve(self, crew: Crew) -> None:
        _idle_priority()
        while True:
            self.wake.acquire()
            job, self.job = self.job, None
            try:
                if job is not None:
                    job()
            except BaseException as error:  # handed to the thread waiting for the job
                crew.error = error
            finally:
                crew.done.set()


class Crew:
    """Helper threads that sleep until handed a share of a job (:meth:`run`).

    A job is one call that takes pieces of the work until none is left (the interpreter's
    shared ``claims``, :func:`kernels.interp.shared_claims`): the calling thread makes it and
    hands the same call, with arguments of their own, to helpers, each taking what is left.
    Nothing waits for a helper that has not started: the calling thread takes every piece it
    does not, and waits only for the pieces helpers took. A helper needs the GIL once per job
    (to start its call); its pieces run in that one call without it. Waking a sleeping thread
    costs the waker ~5 µs and the thread ~20 µs to start (measured on the 2-vCPU development
    machine); a lock is its cheapest wake-up in Python (an Event costs twice as much).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = threading.Lock()
        self._helpers: list[_Helper] = []
        #: Set by a helper after each call it made (or its failure, in :attr:`error`).
        self.done = threading.Event()
        self.error: BaseException | None = None

    def _grow(self, n: int) -> list[_Helper]:
        if len(self._helpers) >= n:
            return self._helpers[:n]
        with self._lock:
            while len(self._helpers) < n:
                self._helpers.append(_Helper(self, f"vyx-crew-{len(self._helpers)}"))
            return self._helpers[:n]

    def run(
        self,
        mine: Callable[[], object],
        theirs: Sequence[Callable[[], object]],
        left: Callable[[], int],
    ) -> None:
        """``mine()`` here and each of ``theirs`` on a helper (none while another job holds
        the helpers); returns once ``left()`` (the pieces not yet done) is 0. ``mine()`` must
        take every piece no helper took; re-raises a helper's failure.

        Helpers are woken first, so their wake-up overlaps the Python each thread runs before
        its call (a helper sets up its own call, while this thread is in its own without the
        GIL)."""
        if not theirs or not self._busy.acquire(blocking=False):
            mine()
            return
        helpers = self._grow(len(theirs))
        try:
            self.done.clear()
            self.error = None
            for helper, job in zip(helpers, theirs, strict=True):
                helper.hand(job)
            mine()
            while left() > 0 and self.error is None:
                self.done.wait()
                self.done.clear()
            if self.error is not None:
                raise self.error
        finally:
            for helper in helpers:
                helper.job = None  # one not started yet finds nothing to do
            self._busy.release()


_crew = Crew()


def crew() -> Crew:
    """The process's :class:`Crew` (a forked child starts with a new one: threads do not
    survive a fork)."""
    return _crew


def _new_crew() -> None:
    global _crew
    _crew = Crew()


os.register_at_fork(after_in_child=_new_crew)
