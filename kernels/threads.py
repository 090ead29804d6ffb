"""Splitting work over threads: the calling thread takes a share, helpers the rest.

A split screen (:meth:`kernels.step_job.StepJob.run_split`) goes to the process's
:class:`Crew`: helper threads that each make one interpreter call when they start and stay in
it, asleep in the kernel between jobs; the calling thread's own interpreter call posts the job
to them from inside the kernel, and every thread takes pieces of the symbols in turn until
none is left (:mod:`kernels.handoff`). Backtests' symbol groups go through :func:`share` (a
pool of threads taking ranges from a shared list in Python). Either way the calling thread
works too (one wake-up, not two), takes whatever a late helper does not, and waits only for
pieces a helper took; a job too small to pay for a wake-up runs on the caller alone
(:data:`MIN_SPLIT_STEPS`).

Where the time went, measured on the shared 2-vCPU development machine (a Firecracker VM,
docs/kernels-performance.md): a sleeping thread starts ~20 µs after it is woken, and the
waker pays ~5 µs for the wake. A helper that goes back to Python needs the GIL back (another
wake-up when the other thread holds it) and ~20 µs of Python and dispatch, cold, before its
next call: so a helper never leaves the kernel between jobs, each job's arrays are handed to
it by address, and it is woken while the screen's bars are copied (:meth:`Crew.expect`) to
spin until the job is posted. On a busy machine a woken helper took the caller's own CPU (the
scheduler placed it there and let it preempt the caller), which then waited milliseconds for
its CPU back: helpers run at Linux's idle priority (``SCHED_IDLE``), on a CPU nothing else
wants, so a split never takes a CPU from the caller or anyone else (nor does a helper's spin)
and a busy machine steps the job about as fast as one thread. Helpers sleep on a futex: on
Linux only; elsewhere a screen runs on its caller alone.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from kernels import atomics, handoff
from kernels.atomics import ring_nb
from kernels.handoff import settle_nb
from kernels.interp import ALONE, NO_FIRES, run_nb, workspace

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


#: Arguments a helper's interpreter call is made with: arrays of the types of a job's, which
#: it only reads the types of (each job's arrays are handed by address, :mod:`kernels.handoff`).
_SERVE_ARGS: tuple[Any, ...] = (
    np.zeros(0, np.int64),
    np.zeros((0, 4), np.int64),
    np.zeros((0, 4)),
    np.zeros(0, np.int64),
    np.zeros(0, np.int64),
    np.zeros(0, np.int64),
    np.zeros((0, 0)),
    np.zeros(0, np.int64),
    np.zeros((0, 0, 0)),
    np.zeros((0, 0, 0)),
    0,
    0,
    False,
    np.zeros((2, 0), np.int64),
    np.zeros((0, 0, 0)),
    np.zeros((0, 0)),
    np.zeros((0, 0), np.int64),
    *NO_FIRES,
)


class _Helper:
    """One helper thread: a single interpreter call serving the crew's jobs until it stops
    (:func:`kernels.interp._serve`), in a workspace of its own (:meth:`fit`)."""

    def __init__(self, crew: Crew, index: int) -> None:
        self.crew = crew
        self.claims = np.zeros(handoff.HELPER_WORDS, dtype=np.int64)
        self.claims[handoff.H_CTL] = crew.ctl.ctypes.data
        self.claims[handoff.H_CTL + 1] = len(crew.ctl)
        self.claims[handoff.H_SPINS] = EXPECT_SPINS
        self.claims[handoff.H_INDEX] = index
        self.scratch = np.empty(0)
        self.work = np.empty(0, dtype=np.int64)
        self.thread = threading.Thread(target=self._serve, name=f"vyx-crew-{index}", daemon=True)
        self.thread.start()

    def fit(self, scratch: int, work: int) -> None:
        """A workspace of at least ``scratch`` floats and ``work`` integers (only while no
        job runs: a helper reads its workspace's address once it took a piece)."""
        if len(self.scratch) < scratch:
            self.scratch = np.empty(scratch)
            self.claims[handoff.H_SCRATCH] = self.scratch.ctypes.data
            self.claims[handoff.H_SCRATCH + 3] = scratch
        if len(self.work) < work:
            self.work = np.empty(work, dtype=np.int64)
            self.claims[handoff.H_WORK] = self.work.ctypes.data
            self.claims[handoff.H_WORK + 3] = work

    def _serve(self) -> None:
        try:
            _idle_priority()
            run_nb(*_SERVE_ARGS, self.claims)  # returns once the crew stops
        except BaseException as error:  # handed to a caller; the crew starts another helper
            self.crew.failed(error, self.claims)


class Crew:
    """Helper threads that each stay in one interpreter call, asleep in the kernel between
    jobs, and take a share of each job a caller posts from its own call (:meth:`run`;
    :mod:`kernels.handoff` says how). Nothing waits for a helper that has not started: the
    caller takes every piece it does not, and waits only for the pieces helpers took.

    Helpers sleep on a futex: only on Linux (:data:`~kernels.atomics.FUTEX`); elsewhere
    :attr:`serves` is False and every job runs on its caller alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = threading.Lock()
        self._helpers: list[_Helper] = []
        #: Helpers started and not known to have failed since.
        self._ready = 0
        #: What the last job was set up for (:meth:`_set_up`), and its caller's workspace.
        self._setup: tuple[int, int, int, bool, int] | None = None
        self._space: tuple[np.ndarray, np.ndarray] = (np.empty((0, 0)), np.empty((0, 0), np.int64))
        self.serves = atomics.FUTEX
        #: The crew's words (:mod:`kernels.handoff`).
        self.ctl = np.zeros(handoff.CTL_WORDS, dtype=np.int64)
        self.ctl[handoff.WAIT] = WAIT_SPINS
        #: A helper's failure in the job running, raised in its caller.
        self.error: BaseException | None = None

    def _grow(self, n: int) -> list[_Helper]:
        """The first ``n`` helpers, started (again, for one whose call failed)."""
        with self._lock:
            for i in range(n):
                if i == len(self._helpers):
                    self._helpers.append(_Helper(self, i))
                elif not self._helpers[i].thread.is_alive():
                    self._helpers[i] = _Helper(self, i)
            self._ready = len(self._helpers)
            return self._helpers[:n]

    def expect(self, helpers: int) -> None:
        """A job for ``helpers`` helpers is coming: wake them now, so they are spinning,
        not asleep, when it is posted (they sleep again ~2 ms later without one)."""
        if self.serves and helpers > 0 and not self._busy.locked():
            if self._ready < helpers:
                self._grow(helpers)
            ring_nb(self.ctl, handoff.SEQ)

    def run(
        self, leading: tuple[Any, ...], width: int, commit: bool, helpers: int, piece: int
    ) -> float:
        """Step a job, :func:`~kernels.interp.run_nb`'s ``leading`` arguments (up to
        ``out``) for a layout ``width`` wide, shared with up to ``helpers`` helpers in
        pieces of ``piece`` slots (none while another job holds the crew: then stepped
        here alone). Returns the share of its pieces helpers stepped; re-raises a helper's
        failure (during this job, or since the job before)."""
        n = leading[11] - leading[10]  # hi - lo
        if not self.serves or helpers < 1 or n < 2 or not self._busy.acquire(blocking=False):
            run_nb(*leading, *workspace(width, n, commit), *NO_FIRES, ALONE)
            return 0.0
        try:
            setup = (helpers, width, n, commit, piece)
            if setup != self._setup:
                self._set_up(setup)
            ctl = self.ctl
            try:
                run_nb(*leading, *self._space, *NO_FIRES, ctl)
            except BaseException:
                settle_nb(ctl)  # helpers' pieces done before the arrays may go
                raise
            if ctl[handoff.FAILED]:
                error, self.error = self.error, None
                ctl[handoff.FAILED] = 0
                raise error or RuntimeError("a kernel helper thread failed")
            return float(handoff.back_taken(int(ctl[handoff.WORD])) / -(-n // ctl[handoff.PIECE]))
        finally:
            self._busy.release()

    def _set_up(self, setup: tuple[int, int, int, bool, int]) -> None:
        """Helpers, their workspaces, the caller's and the crew's words for jobs of
        ``setup`` (helpers, width, slots, commit, piece): only when it changes."""
        helpers, width, n, commit, piece = setup
        self._space = workspace(width, n, commit)
        scratch, work = self._space
        for helper in self._grow(helpers):
            helper.fit(scratch.size, work.size)
        self.ctl[handoff.HELPERS] = helpers
        self.ctl[handoff.PIECE] = max(piece, -(-n // (handoff.MAX_PIECES - 1)))
        self._setup = setup

    def failed(self, error: BaseException, claims: np.ndarray) -> None:
        """A helper's call raised (its thread then ends): handed to the caller of the job
        running or next, which waits no more for the piece the helper held (it counts as
        done)."""
        self.error = error
        self._ready, self._setup = 0, None  # started again at the next job
        self.ctl[handoff.FAILED] = 1
        if claims[handoff.H_HOLDING]:
            claims[handoff.H_HOLDING] = 0
            ring_nb(self.ctl, handoff.DONE)
        ring_nb(self.ctl, handoff.BELL)

    def close(self) -> None:
        """Stop the helpers (each returns from its call; the crew serves no more jobs)."""
        with self._lock:
            self.serves = False
            self.ctl[handoff.STOPPED] = 1
            ring_nb(self.ctl, handoff.SEQ)
            for helper in self._helpers:
                helper.thread.join(timeout=10)
            self._helpers.clear()
            self._ready, self._setup = 0, None


_crew = Crew()


def crew() -> Crew:
    """The process's :class:`Crew` (a forked child starts with a new one: threads do not
    survive a fork)."""
    return _crew


def _new_crew() -> None:
    global _crew
    _crew = Crew()


os.register_at_fork(after_in_child=_new_crew)
