"""A split screen: threads taking pieces of one interpreter call's range (shared claims), and
the crew of helper threads that run a job's share (kernels/threads.py)."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from kernels import atomics
from kernels import step_job as step_job_module
from kernels import threads as threads_module
from kernels.executor import Executor
from kernels.group import GroupState
from kernels.interp import helped, helper_claims, pieces_left, run_nb, shared_claims
from kernels.program import TraderDef
from kernels.ring import RingBuffer
from kernels.threads import Crew
from kernels.timeframes import timeframe_ms
from tests.kernels.synthetic import random_klines


def _job(n_symbols: int) -> step_job_module.StepJob:
    """A close of ``n_symbols`` symbols with history, prepared (not stepped)."""
    symbols = [f"S{i}USDT" for i in range(n_symbols)]
    ring = RingBuffer(timeframe_ms("5m"), 200, symbols)
    for i, s in enumerate(symbols):
        k = random_klines(i, 201, timeframe_ms("5m"))
        for t in range(200):
            ring.append(ring.slot(s), int(k.open_time[t]), k.bars[t, :8])
    executor = Executor({"5m": ring})
    executor.set_traders(
        [TraderDef("x", "rsi(14) < 45 and close > ema(close, 20) or cci(20) > 50", "5m")]
    )
    for i, s in enumerate(symbols):
        k = random_klines(i, 201, timeframe_ms("5m"))
        ring.append(ring.slot(s), int(k.open_time[200]), k.bars[200, :8])
    return executor.prepare("5m")


def _expected(job: step_job_module.StepJob) -> tuple[np.ndarray, np.ndarray]:
    """The job's outputs and memory stepped on one thread (a twin of its state)."""
    twin = GroupState(job.state.layout, job.state.n_slots, job.state.n_ext)
    twin.mem[:], twin.count[:] = job.state.mem, job.state.count
    out = twin.run(job.bars, ext=job.ext, out_nodes=job.out_nodes)
    return out, twin.mem


def test_threads_taking_pieces_of_one_call_step_every_slot_once_bit_for_bit() -> None:
    job = _job(37)
    want_out, want_mem = _expected(job)
    shared = shared_claims(piece=3, wait=1_000)  # 13 pieces, the last one short
    go = threading.Barrier(3)

    def helper() -> None:
        go.wait()
        run_nb(*job.arguments(0, job.state.n_slots, helper_claims(shared)))

    helpers = [threading.Thread(target=helper) for _ in range(2)]
    for thread in helpers:
        thread.start()
    go.wait()
    run_nb(*job.arguments(0, job.state.n_slots, shared))
    for thread in helpers:
        thread.join()
    assert pieces_left(shared, 0, 37) == 0
    taken = int(shared[0]) & 0xFFFFFFFF, int(shared[0]) >> 32  # from the front, the back
    assert sum(taken) == 13 + 3  # every piece, and each thread's last try that found none
    assert helped(shared, 0, 37) == (taken[1] - 2) / 13  # the two helpers' pieces
    assert np.array_equal(job.out, want_out, equal_nan=True)
    assert np.array_equal(job.state.mem, want_mem, equal_nan=True)


def test_a_split_screen_equals_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job(70)
    want_out, want_mem = _expected(job)
    monkeypatch.setattr(step_job_module, "PIECE_STEPS", 1)  # a batch of 32 slots a piece
    assert job.piece_slots() == 32
    crew = threads_module.crew()
    posted = int(crew.ctl[threads_module.POST])
    job.run_split(2)
    assert np.array_equal(job.out, want_out, equal_nan=True)
    assert np.array_equal(job.state.mem, want_mem, equal_nan=True)
    if crew.futex:  # the job was posted to the helpers from inside the kernel
        assert crew.ctl[threads_module.POST] > posted


@pytest.fixture(params=[True, False], ids=["futex", "locks"])
def crew(request: pytest.FixtureRequest) -> Crew:
    """A crew whose helpers sleep in the kernel (Linux) or on locks (elsewhere)."""
    if request.param and not atomics.FUTEX:
        pytest.skip("helpers sleep on locks here")
    made = Crew()
    made.futex = request.param
    return made


class _Pieces:
    """A job of ``n`` pieces that threads take in turn (the interpreter's claims, in
    Python): ``take()`` runs the next piece, recording who ran it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.lock = threading.Lock()
        self.next = 0
        self.done = 0
        self.by: dict[int, int] = {}

    def take(self, before: threading.Event | None = None) -> bool:
        with self.lock:
            i, self.next = self.next, self.next + 1
        if i >= self.n:
            return False
        if before is not None:
            before.wait(timeout=30)
        with self.lock:
            self.by[i] = threading.get_ident()
            self.done += 1
        return True

    def left(self) -> int:
        return self.n - self.done


def test_the_crew_shares_a_job_and_returns_once_every_piece_is_done(crew: Crew) -> None:
    job = _Pieces(40)
    helper_took, caller_took = threading.Event(), threading.Event()
    caller = threading.get_ident()

    def mine(_: object) -> None:
        helper_took.wait(timeout=30)  # the helper takes the first piece, then this thread
        job.take()
        caller_took.set()
        while job.take():
            pass

    def theirs() -> None:
        job.take()
        helper_took.set()
        caller_took.wait(timeout=30)
        while job.take():
            pass

    crew.run(mine, [theirs], job.left)
    assert job.left() == 0
    assert sorted(job.by) == list(range(40))
    assert job.by[1] == caller
    assert job.by[0] != caller  # both threads stepped


def test_the_caller_waits_only_for_pieces_a_helper_took(crew: Crew) -> None:
    job = _Pieces(10)
    release = threading.Event()
    helper_has_one = threading.Event()

    def theirs() -> None:
        with job.lock:
            i, job.next = job.next, job.next + 1
        helper_has_one.set()
        release.wait(timeout=30)  # a helper held up while it steps its piece
        with job.lock:
            job.by[i] = threading.get_ident()
            job.done += 1

    def mine(_: object) -> None:
        helper_has_one.wait(timeout=30)
        while job.take():
            pass
        assert job.left() == 1  # the helper's piece is still running
        release.set()

    crew.run(mine, [theirs], job.left)
    assert job.left() == 0
    assert len(job.by) == 10


def test_a_late_helper_is_not_waited_for_and_finds_nothing_left(crew: Crew) -> None:
    first = _Pieces(6)
    caller = threading.get_ident()
    in_helper = threading.Event()
    let_go = threading.Event()

    def slow_theirs() -> None:  # the helper's CPU busy elsewhere: it starts after the job
        in_helper.set()
        let_go.wait(timeout=30)
        while first.take():
            pass

    def mine(_: object) -> None:
        in_helper.wait(timeout=30)
        while first.take():
            pass

    crew.run(mine, [slow_theirs], first.left)
    assert set(first.by.values()) == {caller}  # returned without the helper
    let_go.set()
    # The crew serves the next job (the late helper found nothing left of the first).
    second = _Pieces(30)

    def take_all() -> None:
        while second.take():
            pass

    crew.run(lambda _: take_all(), [take_all], second.left)
    assert second.left() == 0
    assert sorted(second.by) == list(range(30))
    assert len(first.by) == 6


def test_a_helper_failure_is_raised_in_the_caller(crew: Crew) -> None:
    job = _Pieces(3)

    def theirs() -> None:
        raise RuntimeError("helper broke")

    def mine(_: object) -> None:
        while job.take():
            pass

    with pytest.raises(RuntimeError, match="helper broke"):
        crew.run(mine, [theirs], lambda: 1)  # a piece never done: not waited for
    after = _Pieces(5)

    def take_all() -> None:
        while after.take():
            pass

    crew.run(lambda _: take_all(), [take_all], after.left)  # the crew still serves
    assert after.left() == 0


def test_a_busy_crew_leaves_a_second_job_to_its_caller(crew: Crew) -> None:
    outer = _Pieces(2)
    inner_by: list[int] = []

    def mine(_: object) -> None:
        # While this job holds the crew, another job (here from the same thread) runs alone.
        crew.run(lambda _: inner_by.append(threading.get_ident()), [_fail], lambda: 0)
        while outer.take():
            pass

    crew.run(mine, [_nothing], outer.left)
    assert inner_by == [threading.get_ident()]
    assert outer.left() == 0


def _nothing() -> None:
    pass


def _fail() -> None:
    raise AssertionError("a busy crew's helpers run only its own job")


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policy")
def test_helpers_run_only_on_a_cpu_nothing_else_wants(crew: Crew) -> None:
    policies: list[int] = []
    job = _Pieces(1)

    took = threading.Event()

    def theirs() -> None:
        policies.append(os.sched_getscheduler(0))
        job.take()
        took.set()

    def mine(_: object) -> None:  # leaves the piece to the helper
        assert took.wait(timeout=30)

    crew.run(mine, [theirs], job.left)
    assert policies == [os.SCHED_IDLE]
    assert job.left() == 0


def test_helpers_woken_ahead_of_a_job_serve_it_and_the_next(crew: Crew) -> None:
    for _ in range(2):
        crew.expect(1)  # as a large screen is prepared
        job = _Pieces(20)
        took = threading.Event()

        def theirs(job: _Pieces = job, took: threading.Event = took) -> None:
            job.take()
            took.set()
            while job.take():
                pass

        def mine(_: object, job: _Pieces = job, took: threading.Event = took) -> None:
            assert took.wait(timeout=30)
            while job.take():
                pass

        crew.run(mine, [theirs], job.left)
        assert job.left() == 0
