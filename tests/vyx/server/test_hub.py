"""The hub's drop rule: a browser that keeps reading survives a burst bigger than its queue; one
that stopped reading is dropped once it has sent nothing for ``stall_s``; any backlog is bounded."""

from __future__ import annotations

import trio

from vyx.server.hub import BURST_FACTOR, CLOSE_TRY_AGAIN, Client, Hub
from vyx.telemetry.metrics import Metrics


async def _drain(client: Client, n: int) -> None:
    for _ in range(n):
        await client.outbox.receive()
        client.sent()


async def test_a_reading_client_survives_a_burst_bigger_than_its_queue(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = Client("reader", queue_size=8, stall_s=5.0)
    # One close fires 40 signals at once: five queues' worth.
    assert all(client.offer(f"m{i}") for i in range(40))
    assert client.close_code is None
    # The browser reads steadily (a message a second) while more arrive.
    for i in range(40, 60):
        await trio.sleep(1.0)
        await _drain(client, 1)
        assert client.offer(f"m{i}")
    assert client.close_code is None
    got = [client.outbox.receive_nowait() for _ in range(40)]
    assert got == [f"m{i}" for i in range(20, 60)]


async def test_a_client_that_stopped_reading_is_dropped_after_the_stall(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = Client("stalled", queue_size=8, stall_s=5.0)
    assert all(client.offer(f"m{i}") for i in range(8))
    await trio.sleep(4.9)
    assert client.offer("still within the stall")
    await trio.sleep(0.2)
    assert not client.offer("too late")
    assert (client.close_code, client.close_reason) == (CLOSE_TRY_AGAIN, "client too slow")
    assert not client.offer("after the drop")


async def test_a_short_backlog_never_counts_as_slow(autojump_clock: trio.abc.Clock) -> None:
    """Under ``queue_size`` waiting, a quiet writer is just a quiet browser."""
    client = Client("idle", queue_size=8, stall_s=5.0)
    for i in range(7):
        assert client.offer(f"m{i}")
        await trio.sleep(60.0)
    assert client.close_code is None


async def test_an_empty_queue_restarts_the_stall_clock(autojump_clock: trio.abc.Clock) -> None:
    """A browser idle for an hour then hit by a burst is not judged by the hour."""
    client = Client("idle", queue_size=8, stall_s=5.0)
    await trio.sleep(3600.0)
    assert all(client.offer(f"m{i}") for i in range(30))
    assert client.close_code is None


async def test_the_backlog_is_bounded_even_for_a_reading_client(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = Client("lagging", queue_size=8, stall_s=5.0)
    cap = 8 * BURST_FACTOR
    assert all(client.offer(f"m{i}") for i in range(cap))
    client.sent()
    assert not client.offer("one too many")
    assert client.close_reason == "client too slow"


async def test_sent_waits_for_the_writers_and_no_longer_than_its_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    """What the delivery waits for before its slower work: every writer sent what was queued
    before the call; a browser that does not read holds it up ``timeout_s`` at most."""
    hub = Hub(Metrics())
    reader, stalled = Client("reader", queue_size=8), Client("stalled", queue_size=8)
    for client in (reader, stalled):
        hub.add(client)
        hub.authenticated(client)
    assert hub.broadcast({"type": "t", "data": {}}) == 2
    done = trio.Event()

    async def wait() -> None:
        await hub.sent(timeout_s=1.0)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.sleep(0.5)
        await _drain(reader, 1)
        await trio.sleep(0.1)
        assert not done.is_set()  # the stalled one has not sent it yet
        await _drain(stalled, 1)
        await done.wait()
        assert trio.current_time() < 1.0
        hub.broadcast({"type": "t", "data": {}})
        start = trio.current_time()
        await hub.sent(timeout_s=1.0)  # nobody reads now
        assert trio.current_time() - start == 1.0
        stalled.drop(CLOSE_TRY_AGAIN, "client too slow")
        await _drain(reader, 1)
        start = trio.current_time()
        await hub.sent(timeout_s=1.0)  # a dropped client is waited for no more
        assert trio.current_time() == start
