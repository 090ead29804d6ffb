"""The writer's queue: bounded by rows, FIFO for producers, closed wakes the waiting ones."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from vyx.store.row_queue import RowQueue


def drained(queue: RowQueue[str]) -> list[tuple[str, int]]:
    out = []
    while True:
        try:
            out.append(queue.get_nowait())
        except trio.WouldBlock:
            return out


async def test_the_bound_counts_rows_not_items(autojump_clock: trio.testing.MockClock) -> None:
    queue = RowQueue[str](10)
    await queue.put("a", 6)
    await queue.put("b", 4)
    assert queue.rows == 10
    with trio.move_on_after(1) as scope:
        await queue.put("c", 1)  # full: waits
    assert scope.cancelled_caught
    assert drained(queue) == [("a", 6), ("b", 4)]  # the cancelled put appended nothing
    assert queue.rows == 0


async def test_an_item_bigger_than_the_bound_enters_an_empty_queue_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    queue = RowQueue[str](10)
    await queue.put("big", 25)
    assert queue.rows == 25
    with trio.move_on_after(1) as scope:
        await queue.put("next", 1)
    assert scope.cancelled_caught
    assert queue.get_nowait() == ("big", 25)
    await queue.put("next", 1)
    assert queue.get_nowait() == ("next", 1)


async def test_waiting_producers_go_in_the_order_they_came() -> None:
    queue = RowQueue[str](10)
    await queue.put("full", 10)
    order: list[str] = []

    async def producer(name: str, rows: int) -> None:
        await queue.put(name, rows)
        order.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer, "big", 8)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(producer, "small", 1)
        await trio.testing.wait_all_tasks_blocked()
        assert order == []
        assert queue.get_nowait() == ("full", 10)  # room for both: the first goes first
        await trio.testing.wait_all_tasks_blocked()
    assert order == ["big", "small"]
    assert drained(queue) == [("big", 8), ("small", 1)]


async def test_a_small_item_waits_behind_a_big_one_waiting_for_room() -> None:
    queue = RowQueue[str](10)
    await queue.put("a", 5)
    await queue.put("b", 5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(queue.put, "big", 9)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(queue.put, "small", 1)
        queue.get_nowait()  # room for "small" (5 rows), not for "big"
        await trio.testing.wait_all_tasks_blocked()
        assert queue.rows == 5  # "small" did not overtake
        queue.get_nowait()
    assert drained(queue) == [("big", 9), ("small", 1)]


async def test_a_cancelled_waiter_lets_the_next_one_in() -> None:
    queue = RowQueue[str](4)
    await queue.put("full", 4)
    async with trio.open_nursery() as nursery:
        first = trio.CancelScope()

        async def cancelled() -> None:
            with first:
                await queue.put("never", 1)

        nursery.start_soon(cancelled)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(queue.put, "then", 1)
        await trio.testing.wait_all_tasks_blocked()
        first.cancel()
        queue.get_nowait()
    assert drained(queue) == [("then", 1)]


async def test_close_wakes_waiting_producers_and_keeps_what_is_queued() -> None:
    queue = RowQueue[str](2)
    await queue.put("kept", 2)
    refused: list[str] = []

    async def producer() -> None:
        with pytest.raises(trio.ClosedResourceError):
            await queue.put("late", 1)
        refused.append("late")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        queue.close()
    assert refused == ["late"]
    assert drained(queue) == [("kept", 2)]
    with pytest.raises(trio.ClosedResourceError):
        await queue.put("after", 1)


async def test_get_waits_for_an_item() -> None:
    queue = RowQueue[str](3)
    got: list[tuple[str, int]] = []

    async def consumer() -> None:
        got.append(await queue.get())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        await queue.put("x", 0)  # a zero-row item (a flush request) never waits for room
    assert got == [("x", 0)]
