"""A split screen: the crew of helper threads (kernels/threads.py) each staying in one
interpreter call and taking pieces of the jobs callers post from theirs (kernels/handoff.py)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from kernels import atomics, handoff
from kernels import step_job as step_job_module
from kernels import threads as threads_module
from kernels.executor import Executor
from kernels.group import GroupState
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


@pytest.fixture
def crew(monkeypatch: pytest.MonkeyPatch) -> Iterator[Crew]:
    """A crew of its own as the process's, stopped after the test; pieces of one batch."""
    if not atomics.FUTEX:
        pytest.skip("helpers sleep on a futex: Linux only")
    made = Crew()
    monkeypatch.setattr(threads_module, "_crew", made)
    monkeypatch.setattr(step_job_module, "PIECE_STEPS", 1)  # a batch of 32 slots a piece
    yield made
    made.close()
    assert not any(h.thread.is_alive() for h in made._helpers)


def _split(job: step_job_module.StepJob, threads: int, crew: Crew) -> None:
    """``job`` split over ``threads`` threads, checked bit for bit against one thread, with
    every piece taken once (by the caller from the front, by helpers from the back)."""
    want_out, want_mem = _expected(job)
    stepped = sum(int(h.claims[handoff.H_STEPPED]) for h in crew._helpers)
    job.run_split(threads)
    assert np.array_equal(job.out, want_out, equal_nan=True)
    assert np.array_equal(job.state.mem, want_mem, equal_nan=True)
    word = int(crew.ctl[handoff.WORD])
    pieces = -(-job.state.n_slots // job.piece_slots())
    helpers_took = handoff.back_taken(word)
    # The caller's last try found none left: every piece once, plus that try.
    assert handoff.front_taken(word) - 1 + helpers_took == pieces
    assert job.helped == helpers_took / pieces
    assert sum(int(h.claims[handoff.H_STEPPED]) for h in crew._helpers) - stepped == helpers_took


@pytest.mark.parametrize("threads", [2, 3])
def test_a_split_screen_equals_one_thread_close_after_close(threads: int, crew: Crew) -> None:
    for n_symbols in (70, 150, 37, 150):
        job = _job(n_symbols)
        assert job.piece_slots() == 32
        crew.expect(threads - 1)  # as the executor does while it prepares a large screen
        _split(job, threads, crew)
    assert len(crew._helpers) == threads - 1
    assert crew.ctl[handoff.POST] == 4  # each close posted once


def test_helpers_run_only_on_a_cpu_nothing_else_wants(crew: Crew) -> None:
    if not hasattr(os, "SCHED_IDLE"):
        pytest.skip("Linux scheduling policy")
    _split(_job(70), 2, crew)
    (helper,) = crew._helpers
    assert helper.thread.native_id is not None
    assert os.sched_getscheduler(helper.thread.native_id) == os.SCHED_IDLE


def test_a_helper_not_in_its_call_yet_is_not_waited_for(
    crew: Crew, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, holding = threading.Event(), threading.Event()
    idle = threads_module._idle_priority

    def slow_start() -> None:  # the helper's CPU busy elsewhere: it starts after the job
        holding.set()
        held.wait(timeout=30)
        idle()

    monkeypatch.setattr(threads_module, "_idle_priority", slow_start)
    crew.expect(1)
    assert holding.wait(timeout=30)
    job = _job(150)
    _split(job, 2, crew)
    assert job.helped == 0  # the caller stepped every piece, and did not wait
    held.set()
    _split(_job(150), 2, crew)  # the crew serves the next job


def test_a_busy_crew_leaves_a_second_job_to_its_caller(crew: Crew) -> None:
    _split(_job(70), 2, crew)
    posted = int(crew.ctl[handoff.POST])
    job = _job(150)
    want_out, want_mem = _expected(job)
    with crew._busy:  # another job holds the helpers
        job.run_split(2)
    assert job.helped == 0
    assert crew.ctl[handoff.POST] == posted  # nothing posted
    assert np.array_equal(job.out, want_out, equal_nan=True)
    assert np.array_equal(job.state.mem, want_mem, equal_nan=True)


def test_a_helper_failure_is_raised_in_a_caller_and_the_crew_serves_on(
    crew: Crew, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_nb = threads_module.run_nb

    def broken(*arguments: object) -> object:
        claims = arguments[-1]
        assert isinstance(claims, np.ndarray)
        if len(claims) == handoff.HELPER_WORDS:
            raise RuntimeError("helper broke")
        return run_nb(*arguments)

    monkeypatch.setattr(threads_module, "run_nb", broken)
    crew.expect(1)
    (helper,) = crew._helpers
    helper.thread.join(timeout=30)
    monkeypatch.setattr(threads_module, "run_nb", run_nb)
    job = _job(70)
    want_out, _ = _expected(job)
    with pytest.raises(RuntimeError, match="helper broke"):
        job.run_split(2)
    assert np.array_equal(job.out, want_out, equal_nan=True)  # stepped, and told
    _split(_job(150), 2, crew)  # a new helper serves
    assert crew._helpers[0] is not helper


def test_a_stopped_crew_steps_jobs_on_their_caller(crew: Crew) -> None:
    _split(_job(70), 2, crew)
    crew.close()
    assert not crew._helpers
    job = _job(150)
    want_out, _ = _expected(job)
    job.run_split(2)
    assert job.helped == 0
    assert np.array_equal(job.out, want_out, equal_nan=True)
