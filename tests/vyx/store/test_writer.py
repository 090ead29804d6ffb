"""BatchWriter against an in-memory sink (virtual time: autojump_clock)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import trio
import trio.testing

from vyx.store.api import Pending, PendingRow, QuarantinedRow, WriteOutcome, rows_of
from vyx.store.errors import StoreClosed, StoreUnavailable
from vyx.store.writer import BatchPolicy, BatchWriter


class FakeSink:
    """Keeps rows by key; can fail whole batches and reject rows whose key starts 'poison'."""

    def __init__(self) -> None:
        self.rows: dict[str, PendingRow] = {}
        self.batches: list[tuple[float, int]] = []  # (virtual time, size)
        self.fail_next = 0
        self.write_s = 0.0

    async def persist(self, items: Sequence[Pending]) -> WriteOutcome:
        rows = rows_of(items)
        await trio.sleep(self.write_s)
        if self.fail_next:
            self.fail_next -= 1
            raise StoreUnavailable("database is locked")
        bad = tuple(QuarantinedRow(r.table, r.key, "check") for r in rows if "poison" in r.key)
        for row in rows:
            if "poison" not in row.key:
                self.rows[row.key] = row
        self.batches.append((trio.current_time(), len(rows)))
        return WriteOutcome(written=len(rows) - len(bad), quarantined=bad)


def rows(n: int, prefix: str = "e") -> list[PendingRow]:
    return [PendingRow.of("cloud_events", {"id": f"{prefix}{i}"}) for i in range(n)]


async def _started(nursery: trio.Nursery, sink: FakeSink, **policy: float) -> BatchWriter:
    writer = BatchWriter(sink, BatchPolicy(**policy))  # type: ignore[arg-type]
    nursery.start_soon(writer.run)
    await trio.testing.wait_all_tasks_blocked()
    return writer


async def test_flushes_by_size_without_waiting_for_age(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = FakeSink()
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=10, max_age_s=60)
        t0 = trio.current_time()
        await writer.put(rows(25))
        await trio.testing.wait_all_tasks_blocked()
        assert [size for _, size in sink.batches] == [10, 10]
        assert all(t == t0 for t, _ in sink.batches)
        assert writer.statistics().pending_rows == 5
        await trio.sleep(61)
        assert [size for _, size in sink.batches] == [10, 10, 5]
        assert sink.batches[-1][0] == pytest.approx(t0 + 60)
        nursery.cancel_scope.cancel()


async def test_flushes_by_age(autojump_clock: trio.testing.MockClock) -> None:
    sink = FakeSink()
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=100, max_age_s=0.25)
        t0 = trio.current_time()
        await writer.put(rows(3))
        await trio.sleep(0.1)
        await writer.put(rows(2, "f"))
        await trio.sleep(0.1)
        assert sink.batches == []
        assert writer.statistics().oldest_pending_s == pytest.approx(0.2)
        await trio.sleep(0.1)
        assert sink.batches == [(pytest.approx(t0 + 0.25), 5)]
        stats = writer.statistics()
        assert (stats.pending_rows, stats.rows_written, stats.batches) == (0, 5, 1)
        nursery.cancel_scope.cancel()


async def test_flush_returns_when_everything_before_is_written(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = FakeSink()
    sink.write_s = 0.01
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=100, max_age_s=30)
        await writer.put(rows(7))
        t0 = trio.current_time()
        await writer.flush()
        assert len(sink.rows) == 7
        assert trio.current_time() - t0 == pytest.approx(0.01)
        await writer.flush()  # nothing pending: returns at once
        assert len(sink.batches) == 1
        nursery.cancel_scope.cancel()


async def test_failed_batches_are_retried_with_backoff_and_counted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = FakeSink()
    sink.fail_next = 3
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=5, max_age_s=1)
        await writer.put(rows(5))
        await writer.flush()
        stats = writer.statistics()
        assert (stats.failures, stats.rows_written, stats.batches) == (3, 5, 1)
        assert stats.last_error == "database is locked"
        assert len(sink.rows) == 5
        nursery.cancel_scope.cancel()


async def test_quarantined_rows_are_counted_and_do_not_block_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = FakeSink()
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=10, max_age_s=1)
        await writer.put([*rows(3), PendingRow.of("cloud_events", {"id": "poison"}), *rows(3, "g")])
        await writer.flush()
        await writer.put(rows(2, "h"))
        await writer.flush()
        stats = writer.statistics()
        assert (stats.rows_written, stats.quarantined) == (8, 1)
        assert "poison" not in sink.rows
        nursery.cancel_scope.cancel()


async def test_full_buffer_applies_backpressure(autojump_clock: trio.testing.MockClock) -> None:
    sink = FakeSink()
    sink.write_s = 1.0
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=5, max_age_s=0.1, buffer_rows=5)
        t0 = trio.current_time()
        await writer.put(rows(20))
        # 5 rows in flight + 5 queued at most: the producer had to wait for writes.
        assert trio.current_time() - t0 >= 2.0
        assert writer.statistics().pending_rows <= 10
        await writer.flush()
        assert len(sink.rows) == 20
        nursery.cancel_scope.cancel()


async def test_drain_writes_everything_then_refuses(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = FakeSink()
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=10, max_age_s=30)
        await writer.put(rows(25))
        nursery.cancel_scope.cancel()
    await writer.drain()
    assert len(sink.rows) == 25
    assert writer.statistics().pending_rows == 0
    with pytest.raises(StoreClosed):
        await writer.put(rows(1, "late"))
    with pytest.raises(StoreClosed):
        await writer.flush()


async def test_batch_cancelled_mid_write_is_written_by_drain(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sink = FakeSink()
    sink.write_s = 5.0  # a remote sink: cancellable mid-request
    async with trio.open_nursery() as nursery:
        writer = await _started(nursery, sink, batch_rows=4, max_age_s=30)
        await writer.put(rows(4))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert sink.rows == {}
    await writer.drain()
    assert len(sink.rows) == 4


def test_pending_row_needs_its_key() -> None:
    with pytest.raises(ValueError, match="signal_id"):
        PendingRow.of("signal_analyses", {"decision": "wait"})
