"""Splitting work over threads: the calling thread takes a share, helpers the rest.

A split screen (:meth:`kernels.step_job.StepJob.run_split`) goes to the process's
:class:`Crew`: helper threads that make the same interpreter call as the calling thread, each
call taking pieces of the symbols in turn until none is left
(:func:`kernels.interp.shared_claims`). Backtests' symbol groups go through :func:`share`
(a pool of threads taking ranges from a shared list in Python). Either way the calling
thread works too (one wake-up, not two), takes whatever a late helper does not, and waits
only for pieces a helper took; a job too small to pay for a wake-up runs on the caller alone
(:data:`MIN_SPLIT_STEPS`).

Where the time went, measured on the shared 2-vCPU development machine (a Firecracker VM,
docs/kernels-performance.md): a sleeping thread starts ~20 µs after it is woken, and the
waker pays ~5 µs for the wake (a lock; an Event costs twice that). A helper that returns to
Python between pieces needs the GIL back each time (another wake-up when the other thread
holds it), so a helper's pieces all run in one call. A helper woken while the caller holds
the GIL waits for it, asleep again: so on Linux helpers sleep inside the kernel (a futex,
:func:`kernels.atomics.sleep_nb`, no GIL), are woken while the screen's bars are copied
(:meth:`Crew.expect`) and spin until the caller's own call posts the job from inside the
kernel, when the GIL is free. On a busy machine a woken helper took the caller's own CPU (the
scheduler placed it there and let it preempt the caller), which then waited milliseconds for
its CPU back: helpers run at Linux's idle priority (``SCHED_IDLE``), on a CPU nothing else
wants, so a split never takes a CPU from the caller or anyone else (nor does a helper's spin)
and a busy machine steps the job about as fast as one thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kernels import atomics
from kernels.atomics import POST, SEQ, post_nb, sleep_nb

#: Node steps (bars stepped times plan nodes) from which a screen is split over threads:
#: on the 2-vCPU development machine waking a helper costs about as much as 25,000 node
#: steps (~8 ns each), so a split pays from about twice that (``just bench`` measures the
#: reference workload, ~8,000 node steps, and 1,000 symbols, ~91,000).
MIN_SPLIT_STEPS = 50_000
#: Node steps of a piece of a split screen (:meth:`kernels.step_job.StepJob.run_split`):
#: ~20 µs (a piece costs two atomic adds; the smaller the pieces, the closer together the
#: threads finish).
PIECE_STEPS = 3_000
#: Spins (x86 ``pause``, ~12 ns each here) the thread that waits for a split job spins for
#: the pieces helpers are still stepping before it sleeps until they are done: ~60 µs, about
#: three pieces. A helper still stepping after that was preempted (at idle priority, by any
#: other work on its CPU); spinning on would keep this thread's CPU from it, sleeping lets it
#: finish there.
WAIT_SPINS = 5_000
#: Spins a helper woken ahead of a job (:meth:`Crew.expect`) waits for it before it sleeps
#: again: ~2 ms, longer than the preparation of a large screen (~0.5 ms for 1,000 symbols).
EXPECT_SPINS = 200_000

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


#: What a job's calling thread posts when helpers are not woken from its kernel call.
_NO_POST = (0, 0, 0)

#: A job handed to helpers: its number, and the call a helper makes.
Job = tuple[int, Callable[[], object]]


class _Helper:
    """One helper thread. With :data:`~kernels.atomics.FUTEX` it sleeps in
    :func:`sleep_nb` (no GIL) until a job is posted; else on ``wake`` (a lock, held)."""

    def __init__(self, crew: Crew, name: str, futex: bool) -> None:
        self.crew = crew
        self.wake = threading.Lock()
        self.wake.acquire()
        self.job: Job | None = None
        serve = self._serve_posts if futex else self._serve_wakes
        threading.Thread(target=serve, name=name, daemon=True).start()

    def hand(self, job: Job) -> None:
        """Wake the thread (lock mode) to run ``job`` (a thread already awake runs it next)."""
        self.job = job
        # Already woken and not asleep again yet (RuntimeError): it will find the job.
        with contextlib.suppress(RuntimeError):
            self.wake.release()

    def _serve_wakes(self) -> None:
        _idle_priority()
        while True:
            self.wake.acquire()
            job, self.job = self.job, None
            self._run(job, None)

    def _serve_posts(self) -> None:
        _idle_priority()
        seen = int(self.crew.ctl[POST])
        while True:
            seen = sleep_nb(self.crew.ctl, seen, EXPECT_SPINS)
            self._run(self.job, seen)

    def _run(self, job: Job | None, posted: int | None) -> None:
        if job is None or (posted is not None and job[0] != posted):
            return  # a job done (or posted again) before this thread got to it
        try:
            job[1]()
        except BaseException as error:  # handed to the thread waiting for the job
            self.crew.error = error
            self.crew.done.set()
            return
        # Only a caller that found pieces still running waits on ``done`` (it says so
        # before it looks again): otherwise no Event to set, less Python while the caller
        # wants the GIL back after its kernel.
        if self.crew.waiting:
            self.crew.done.set()


class Crew:
    """Helper threads that sleep until handed a share of a job (:meth:`run`).

    A job is one call that takes pieces of the work until none is left (the interpreter's
    shared ``claims``, :func:`kernels.interp.shared_claims`): the calling thread makes it and
    helpers the same call with arguments of their own, each taking what is left. Nothing
    waits for a helper that has not started: the calling thread takes every piece it does
    not, and waits only for the pieces helpers took.

    On Linux helpers sleep without the GIL (:func:`sleep_nb`) and go once the calling thread's
    call has posted the job from inside the kernel: they find the GIL free. :meth:`expect`
    wakes them ahead of a job (while its bars are copied), so they are already spinning
    when it is posted. Elsewhere each helper sleeps on a lock, woken as the job starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = threading.Lock()
        self._helpers: list[_Helper] = []
        self._jobs = 0
        self.futex = atomics.FUTEX
        #: Words helpers sleep on (:data:`POST`, :data:`SEQ`).
        self.ctl = np.zeros(16, dtype=np.int64)
        self._post_at = self.ctl.ctypes.data + POST * self.ctl.itemsize
        self._seq_at = self.ctl.ctypes.data + SEQ * self.ctl.itemsize
        #: Set by a helper after a job it ran while :attr:`waiting` (or its failure, in
        #: :attr:`error`); may be left set from an earlier job (the waiter looks again).
        self.done = threading.Event()
        #: The calling thread is waiting on :attr:`done` for pieces helpers still step.
        self.waiting = False
        self.error: BaseException | None = None

    def _grow(self, n: int) -> list[_Helper]:
        if len(self._helpers) >= n:
            return self._helpers[:n]
        with self._lock:
            while len(self._helpers) < n:
                name = f"vyx-crew-{len(self._helpers)}"
                self._helpers.append(_Helper(self, name, self.futex))
            return self._helpers[:n]

    def expect(self, helpers: int) -> None:
        """A job for ``helpers`` helpers is coming: wake them now (Linux), so they are
        spinning, not asleep, when it is posted (they sleep again ~2 ms later without one)."""
        if self.futex and helpers > 0 and not self._busy.locked():
            self._grow(helpers)
            post_nb(self.ctl, -1)

    def run(
        self,
        mine: Callable[[tuple[int, int, int]], object],
        theirs: Sequence[Callable[[], object]],
        left: Callable[[], int],
        *,
        posts: bool = False,
    ) -> None:
        """``mine(post)`` here and each of ``theirs`` on a helper (none while another job
        holds the helpers); returns once ``left()`` (the pieces not yet done) is 0.
        ``mine`` must take every piece no helper took; re-raises a helper's failure.

        With ``posts`` ``mine`` posts the job itself, once in the kernel, passing ``post``
        (:func:`kernels.interp.shared_claims`; zeros: nothing to post); else it is posted
        here, just before ``mine`` runs."""
        if not theirs or not self._busy.acquire(blocking=False):
            mine(_NO_POST)
            return
        helpers = self._grow(len(theirs))
        try:
            self.error = None
            self._jobs = job = self._jobs + 1
            if self.futex:
                for helper, call in zip(helpers, theirs, strict=True):
                    helper.job = (job, call)
                if not posts:
                    post_nb(self.ctl, job)
                mine((self._post_at, job, self._seq_at) if posts else _NO_POST)
            else:
                for helper, call in zip(helpers, theirs, strict=True):
                    helper.hand((job, call))
                mine(_NO_POST)
            if self.error is None and left() > 0:
                self._wait(left)
            if self.error is not None:
                raise self.error
        finally:
            for helper in helpers:
                helper.job = None  # one not started yet finds nothing to do
            self._busy.release()

    def _wait(self, left: Callable[[], int]) -> None:
        """Sleep until ``left()`` is 0 or a helper failed (helpers set :attr:`done` after a
        job only while :attr:`waiting`, so it is set before ``left()`` is looked at again)."""
        self.waiting = True
        try:
            while left() > 0 and self.error is None:
                self.done.wait()
                self.done.clear()
        finally:
            self.waiting = False


_crew = Crew()


def crew() -> Crew:
    """The process's :class:`Crew` (a forked child starts with a new one: threads do not
    survive a fork)."""
    return _crew


def _new_crew() -> None:
    global _crew
    _crew = Crew()


os.register_at_fork(after_in_child=_new_crew)
