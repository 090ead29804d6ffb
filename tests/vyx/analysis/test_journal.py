"""The analysis queue on disk: jobs survive a stop or a kill and are resumed within their
deadline; a job leaves the journal only once its row is acknowledged by the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trio

from tests.vyx.analysis.conftest import Signals, config, trader
from tests.vyx.analysis.fake_gemini import FakeGemini
from tests.vyx.analysis.test_service import Rig
from vyx.analysis.journal import Journal, SavedJob


@pytest.fixture
def rig(fake: FakeGemini) -> Rig:
    return Rig(fake)


def saved(path: Path) -> list[SavedJob]:
    journal = Journal.open(path)
    try:
        return journal.load()
    finally:
        journal.close()


def test_a_job_reads_back_as_it_was_written(tmp_path: Path, signals: Signals) -> None:
    sig, ctx = signals.make(3, trader(aiAnalysisLimit=5), priority=2)
    journal = Journal.open(tmp_path / "q.sqlite3")
    journal.apply(
        [
            ("add", SavedJob(sig, ctx, 123)),
            ("add", SavedJob(*signals.make(4), 99)),
            ("remove", signals.make(4)[0].id),
        ]
    )
    journal.close()
    [job] = saved(tmp_path / "q.sqlite3")
    assert (job.signal, job.deadline_ms, job.context.priority) == (sig, 123, 2)
    assert job.context.trader == ctx.trader
    assert job.context.candles.symbol == ctx.candles.symbol
    assert np.array_equal(job.context.candles.open_time, ctx.candles.open_time)
    assert np.array_equal(job.context.candles.values, ctx.candles.values, equal_nan=True)


async def test_queued_analyses_survive_a_stop_and_resume(
    rig: Rig, signals: Signals, tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "analysis-queue.sqlite3"
    rig.fake.default = "hang"  # nothing finishes: 4 calls in flight, 2 queued
    made = [signals.make(i) for i in range(6)]
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, config(max_concurrency=4), journal=path)
        for sig, ctx in made:
            assert analyzer.submit(sig, ctx)
        await rig.until(lambda: len(rig.fake.requests) == 4)
        nursery.cancel_scope.cancel()
    assert rig.store.analyses == {}
    assert {j.signal.id for j in saved(path)} == {s.id for s, _ in made}
    rig.fake.default = "ok"
    rig.now_ms += 60_000
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, journal=path)
        await rig.until(lambda: len(rig.store.analyses) == 6)
        stats = analyzer.statistics()
        nursery.cancel_scope.cancel()
    assert (stats.resumed, stats.expired, stats.completed) == (6, 0, 6)
    assert saved(path) == []  # each left once its row was flushed to the store


async def test_jobs_past_their_deadline_are_dropped_and_counted(
    rig: Rig, signals: Signals, tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "analysis-queue.sqlite3"
    rig.fake.default = "hang"
    sig, ctx = signals.make(0)
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, journal=path, resume_within_s=600)
        assert analyzer.submit(sig, ctx)
        await rig.until(lambda: len(rig.fake.requests) == 1)
        nursery.cancel_scope.cancel()
    rig.fake.default = "ok"
    rig.now_ms = sig.created_at + 600_001
    async with trio.open_nursery() as nursery:
        analyzer = await rig.start(nursery, journal=path)
        await trio.sleep(60)
        stats = analyzer.statistics()
        nursery.cancel_scope.cancel()
    assert (stats.resumed, stats.expired, stats.requests) == (0, 1, 0)
    assert rig.store.analyses == {}
    assert saved(path) == []
