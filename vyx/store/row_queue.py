"""The batch writer's queue: FIFO items, bounded by the rows they carry (not by their count).

A close's signals travel as one item (:class:`~vyx.store.api.PendingSignals`) worth as many
rows as it has signals, so the queue's bound (``buffer_rows``) means what it says whatever the
items' sizes, and a close costs one queue operation, not one per row (a ``trio`` memory
channel bounds items, and one item a row cost ~1 µs a signal).

Producers (:meth:`RowQueue.put`) wait, in the order they came, while the rows would not fit;
an item bigger than the whole bound is let in alone into an empty queue (it can never fit
otherwise). One consumer (the writer) takes items with :meth:`RowQueue.get_nowait` or waits
in :meth:`RowQueue.get`. :meth:`RowQueue.close` refuses further items and wakes waiting
producers with :class:`trio.ClosedResourceError`.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class RowQueue(Generic[T]):
    """FIFO of items, each worth ``rows`` (>= 0) rows, holding ``capacity`` rows at most."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a queue holds at least one row")
        self._capacity = capacity
        self._items: deque[tuple[T, int]] = deque()
        self._rows = 0
        self._closed = False
        # Producers waiting for room, in arrival order (each its own ticket).
        self._waiting: deque[object] = deque()
        self._producers = trio.lowlevel.ParkingLot()
        self._consumer = trio.lowlevel.ParkingLot()

    @property
    def rows(self) -> int:
        """Rows in the queue (items taken by the consumer no longer count)."""
        return self._rows

    def _fits(self, rows: int) -> bool:
        return self._rows == 0 or self._rows + rows <= self._capacity

    async def put(self, item: T, rows: int) -> None:
        """Append ``item``; while its rows do not fit, wait (behind producers waiting before).
        Does not yield when it fits at once (and nobody waits before it). Raises
        :class:`trio.ClosedResourceError` once closed. Cancellation: nothing appended."""
        if self._closed:
            raise trio.ClosedResourceError("the queue is closed")
        if self._waiting or not self._fits(rows):
            ticket = object()
            self._waiting.append(ticket)
            try:
                while not self._closed and not (self._waiting[0] is ticket and self._fits(rows)):
                    await self._producers.park()
            finally:
                self._waiting.remove(ticket)
                # The next producer in line checks for room in its turn.
                self._producers.unpark_all()
            if self._closed:
                raise trio.ClosedResourceError("the queue is closed")
        self._items.append((item, rows))
        self._rows += rows
        self._consumer.unpark_all()

    def get_nowait(self) -> tuple[T, int]:
        """The oldest item and its rows. Raises :class:`trio.WouldBlock` when empty."""
        if not self._items:
            raise trio.WouldBlock
        item, rows = self._items.popleft()
        self._rows -= rows
        if self._waiting:
            self._producers.unpark_all()
        return item, rows

    async def get(self) -> tuple[T, int]:
        """The oldest item and its rows, waiting for one. Cancellation: nothing taken."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            await self._consumer.park()
        return self.get_nowait()

    def close(self) -> None:
        """Refuse further items; producers waiting get :class:`trio.ClosedResourceError`
        (what is queued stays for :meth:`get_nowait`)."""
        self._closed = True
        self._producers.unpark_all()
