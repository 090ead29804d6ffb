"""The market service end to end against the in-memory fake exchange (autojump clock)."""

from __future__ import annotations

from collections.abc import Callable

import trio
import trio.testing

from kernels.ring import RingBuffer
from kernels.timeframes import MINUTE_MS, bar_open
from tests.vyx.market.fake_exchange import T0, FakeExchange
from tests.vyx.market.fakes import bar_values
from vyx.market.closes import BarClosed, HistoryLoaded, MarketEvent
from vyx.market.connection import StreamConfig
from vyx.market.rest import RestConfig
from vyx.market.service import MarketConfig, MarketHandle, run_market
from vyx.market.universe import UniverseConfig

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
TFS = ("1m", "5m")
WARMUP = {"1m": 100, "5m": 50}


def _config(**stream: object) -> MarketConfig:
    return MarketConfig(
        rest=RestConfig(base_url="http://fake"),
        stream=StreamConfig(ws_url="ws://fake", stale_after_s=5, **stream),  # type: ignore[arg-type]
        universe=UniverseConfig(count=10),
        warmup=WARMUP,
        close_grace_s=0.5,
    )


def _rings() -> dict[str, RingBuffer]:
    return {"1m": RingBuffer(MINUTE_MS, 300), "5m": RingBuffer(5 * MINUTE_MS, 300)}


def _assert_exact(exchange: FakeExchange, rings: dict[str, RingBuffer]) -> None:
    """Every closed bar the exchange produced since the backfill start is held exactly once."""
    for tf, ring in rings.items():
        for symbol in exchange.symbols:
            times, values = ring.window(ring.slot(symbol))
            start = bar_open(tf, T0) - min(WARMUP[tf], ring.capacity) * ring.timeframe_ms
            truth = [t for t in exchange.truth(symbol, tf) if t >= start]
            assert times.tolist() == truth[-ring.capacity :], (symbol, tf)
            for i, t in enumerate(times.tolist()):
                assert tuple(values[:, i]) == bar_values(symbol, tf, t)


async def _caught_up(exchange: FakeExchange, rings: dict[str, RingBuffer]) -> None:
    for _ in range(3600):
        if all(
            ring.last_open_time(ring.slot(s)) == exchange.truth(s, tf)[-1]
            for tf, ring in rings.items()
            for s in exchange.symbols
        ):
            return
        await trio.sleep(1)
    raise AssertionError("the client never caught up with the exchange")


async def _scenario(
    exchange: FakeExchange,
    cfg: MarketConfig,
    faults: Callable[[MarketHandle], object] | None = None,
    run_s: float = 600,
    rings: dict[str, RingBuffer] | None = None,
) -> tuple[dict[str, RingBuffer], MarketHandle, list[MarketEvent]]:
    rings = rings or _rings()
    events: list[MarketEvent] = []
    send, recv = trio.open_memory_channel[MarketEvent](16)

    async def consume() -> None:
        async for event in recv:
            events.append(event)

    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        nursery.start_soon(consume)
        handle: MarketHandle = await nursery.start(
            lambda task_status: run_market(
                cfg,
                rings,
                send,
                transport=exchange.transport(),
                connect=exchange.connect,
                task_status=task_status,
            )
        )
        if faults is not None:
            nursery.start_soon(faults, handle)  # type: ignore[arg-type]
        await trio.sleep(run_s)
        exchange.end_ms = exchange.now_ms()
        await _caught_up(exchange, rings)
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    return rings, handle, events


async def test_backfills_streams_and_announces_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    rings, handle, events = await _scenario(exchange, _config(), run_s=300)
    _assert_exact(exchange, rings)
    stats = handle.statistics()
    assert stats.symbols == 3
    assert stats.bars_backfilled == 3 * (100 + 50)
    assert stats.backfill.keys_done == stats.backfill.keys_total == 6
    assert stats.reconnects == 0
    assert stats.malformed_frames == 0
    assert stats.problems == ()
    loaded = [e for e in events if isinstance(e, HistoryLoaded)]
    assert sorted((e.timeframe, sorted(e.symbols)) for e in loaded) == [
        ("1m", sorted(SYMBOLS)),
        ("5m", sorted(SYMBOLS)),
    ]
    assert events.index(loaded[-1]) < events.index(
        next(e for e in events if isinstance(e, BarClosed))
    )
    closes = [e for e in events if isinstance(e, BarClosed)]
    assert closes
    assert all(e.complete and set(e.symbols) == set(SYMBOLS) for e in closes)
    one_min = [e.open_time for e in closes if e.timeframe == "1m"]
    assert one_min == sorted(one_min)
    assert len(one_min) == len(set(one_min)) >= 9
    ticker = handle.tickers.get("BTCUSDT")
    assert ticker is not None
    assert ticker.change_pct == 2.5


async def test_malformed_frames_are_counted_and_skipped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)

    async def garbage(handle: MarketHandle) -> None:
        for raw in ("{", "[]", '{"stream":"btcusdt@kline_1m","data":{"e":"kline","k":{}}}'):
            await trio.sleep(30)
            await exchange.broadcast(raw)

    rings, handle, _ = await _scenario(exchange, _config(), garbage, run_s=150)
    _assert_exact(exchange, rings)
    stats = handle.statistics()
    assert stats.malformed_frames == 3
    assert stats.reconnects == 0


async def test_server_shutdown_rotates_without_gap_or_duplicate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)

    async def shutdown(handle: MarketHandle) -> None:
        await trio.sleep(120.5)
        await exchange.broadcast('{"e":"serverShutdown","E":1}')

    rings, handle, events = await _scenario(exchange, _config(), shutdown, run_s=200)
    _assert_exact(exchange, rings)
    stats = handle.statistics()
    assert stats.rotations == 1
    assert stats.reconnects == 0
    assert stats.gaps_detected == 0
    assert len(stats.connections) == 1
    closes = [
        (e.timeframe, e.open_time, s) for e in events if isinstance(e, BarClosed) for s in e.symbols
    ]
    assert len(closes) == len(set(closes))


async def test_rotates_before_the_24h_cut(autojump_clock: trio.testing.MockClock) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    rings, handle, _ = await _scenario(exchange, _config(rotate_after_s=60), run_s=240)
    _assert_exact(exchange, rings)
    stats = handle.statistics()
    assert stats.rotations >= 3
    assert stats.gaps_detected == 0
    assert exchange.connections == stats.rotations + 1


async def test_a_hole_larger_than_the_ring_reloads_history(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    rings = {"1m": RingBuffer(MINUTE_MS, 40), "5m": RingBuffer(5 * MINUTE_MS, 40)}

    async def stall(handle: MarketHandle) -> None:
        await trio.sleep(10.5)
        exchange.stall(60)  # 60 one-minute bars never reach the client

    rings, handle, events = await _scenario(exchange, _config(), stall, run_s=150, rings=rings)
    _assert_exact(exchange, rings)
    reloaded = [e for e in events if isinstance(e, HistoryLoaded) and e.timeframe == "1m"]
    # Start-up, then the reload of every symbol after the hole.
    assert sorted(reloaded[0].symbols) == sorted(SYMBOLS)
    assert sorted(s for e in reloaded[1:] for s in e.symbols) == sorted(SYMBOLS)
    closes = [
        (e.timeframe, s, e.open_time) for e in events if isinstance(e, BarClosed) for s in e.symbols
    ]
    assert len(closes) == len(set(closes))
    stats = handle.statistics()
    assert stats.bars_backfilled > 3 * (40 + 40)
    assert stats.reconnects >= 1  # the stale-stream watchdog replaced the silent connection
