"""An hour that closes while a stream is not subscribed — the daemon starting (after its
backfill was fetched, before its streams are subscribed) or reconnecting — is fetched once they
are (the exchange's clock says it closed): the 5m closes that read the 1h bar through ``on()``
see it, and are not held for the screener's alignment timeout (5 s).

Before, nothing told the market that the 1h bar had closed until that stream's next frame,
which for a 1h kline can be long: the simulated exchange sends a 1h bar's forming updates 15
market minutes apart (15 s at ``bench_daemon``'s 60x), so every 5m close of those 15 s waited
the full alignment timeout (one quiet ``bench_daemon`` run read a p99 of 5,006.7 ms).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import httpx
import pytest
import trio
import trio.testing

from kernels.executor import ScreenResult
from kernels.program import TraderDef
from kernels.ring import RingBuffer
from kernels.timeframes import MINUTE_MS, timeframe_ms
from tests.vyx.market.fake_exchange import T0, FakeExchange
from vyx.market.closes import MarketEvent
from vyx.market.connection import StreamConfig
from vyx.market.rest import RestConfig
from vyx.market.service import MarketConfig, MarketHandle, run_market
from vyx.market.universe import UniverseConfig
from vyx.retry import Backoff
from vyx.screener.config import ScreenerConfig, ScreenerHooks
from vyx.screener.service import Screener, drive_screener
from vyx.signal import Signal

SYMBOLS = ("BTCUSDT", "ETHUSDT")
M5, H1 = timeframe_ms("5m"), timeframe_ms("1h")
#: Fires on every bar: what matters is when each 5m close is screened, and with which 1h bar.
MTF = TraderDef("mtf", 'on("1h", close > 0) and close > 0', "5m", "mtf")
#: The backfill's answers come this long (trio seconds; 3.5 market minutes at 60x) after the
#: exchange computed them: the hour closes in between.
SLOW_S = 3.5
#: Per 5m screen: trio time, the 5m bar's open time, and the newest 1h bar stepped per symbol.
Screens = list[tuple[float, int, list[int]]]


class _SlowBackfill(httpx.AsyncBaseTransport):
    """The exchange answers a backfill request (the newest klines) at once, and the answer
    arrives ``SLOW_S`` later (a daemon slow to start: at 60x a second is a market minute);
    the 1h requests of ``after_the_hour`` reach the exchange ``SLOW_S`` late instead (their
    answer has the bar closing at the hour)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, after_the_hour: tuple[str, ...]) -> None:
        self.inner = inner
        self.after_the_hour = after_the_hour

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if request.url.path != "/api/v3/klines" or "startTime" in params:
            return await self.inner.handle_async_request(request)
        if params["interval"] == "1h" and params["symbol"] in self.after_the_hour:
            await trio.sleep(SLOW_S)
            return await self.inner.handle_async_request(request)
        response = await self.inner.handle_async_request(request)
        await trio.sleep(SLOW_S)
        return response


async def _screens(
    exchange: FakeExchange,
    transport: httpx.AsyncBaseTransport,
    stream: StreamConfig,
    meanwhile: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Screens, float]:
    """The market over ``exchange`` and a screener running ``MTF``, until 10 s after the 5m
    bar opening at T0 closed: every 5m screen, and when that close's frame was sent."""
    rings = {tf: RingBuffer(timeframe_ms(tf), 200) for tf in ("5m", "1h")}
    screens: Screens = []

    def on_screen(result: ScreenResult) -> None:
        if result.timeframe == "5m":
            ring = rings["1h"]
            stepped = [screener.executor.last_stepped("1h", ring.slot(s)) for s in SYMBOLS]
            screens.append((trio.current_time(), result.open_time, stepped))

    async def sink(signals: Sequence[Signal], cancelled: Sequence[str]) -> None:
        pass

    hooks = ScreenerHooks(on_screen=(on_screen,))
    screener = Screener(ScreenerConfig(user_id="u"), rings, sink, hooks=hooks)
    await screener.set_traders([MTF])
    cfg = MarketConfig(
        rest=RestConfig(base_url="http://fake"),
        stream=stream,
        universe=UniverseConfig(count=10),
        warmup={"5m": 60, "1h": 60},
    )
    send, recv = trio.open_memory_channel[MarketEvent](64)
    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        await nursery.start(drive_screener, screener, recv)
        handle: MarketHandle = await nursery.start(
            lambda task_status: run_market(
                cfg,
                rings,
                send,
                transport=transport,
                connect=exchange.connect,
                task_status=task_status,
            )
        )
        if meanwhile is not None:
            await meanwhile()
        # The 5m bar opening at T0 closes (its closed frame is sent) 5 market minutes later.
        closes_at = exchange.t0 + (T0 + M5 - exchange.start_ms) / 60_000
        await trio.sleep_until(closes_at + 10)
        assert handle.statistics().gaps_repaired >= 1  # what the hour's close left missing
        nursery.cancel_scope.cancel()
    return screens, closes_at


def _assert_aligned_and_in_time(screens: Screens, closes_at: float) -> None:
    by_bar = {open_time: (at, stepped) for at, open_time, stepped in screens}
    assert set(by_bar) >= {T0 - M5, T0}
    # The live close at T0 + 5m was screened as it came, not after the alignment timeout.
    at, _ = by_bar[T0]
    assert at - closes_at < 0.5, f"the 5m close waited {at - closes_at:.1f} s for the 1h bar"
    # Both 5m closes after the hour were screened with the 1h bar closing with them or before
    # them (T0 - 1h, closing at T0): the alignment holds.
    for open_time in (T0 - M5, T0):
        assert by_bar[open_time][1] == [T0 - H1] * len(SYMBOLS)


def _quiet_1h(start_ms: int) -> FakeExchange:
    """An exchange whose 1h stream is quiet (closed frames only): only a 1h close (an hour
    later) would tell the market that T0's bar closed."""
    return FakeExchange(SYMBOLS, ("5m", "1h"), start_ms=start_ms, forming_timeframes=("5m",))


@pytest.mark.parametrize("after_the_hour", [(), ("ETHUSDT",)], ids=["every", "some"])
async def test_an_hour_closing_while_starting_does_not_hold_the_5m_closes(
    autojump_clock: trio.testing.MockClock, after_the_hour: tuple[str, ...]
) -> None:
    """The hour closes after the 1h backfill of every symbol, or of some (the others' backfill
    has the bar: the repaired ones are not held for them as stragglers, ``close_grace_s``)."""
    exchange = _quiet_1h(T0 - MINUTE_MS)
    transport = _SlowBackfill(exchange.transport(), after_the_hour)
    stream = StreamConfig(ws_url="ws://fake", stale_after_s=120)
    _assert_aligned_and_in_time(*await _screens(exchange, transport, stream))


async def test_an_hour_closing_while_reconnecting_does_not_hold_the_5m_closes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = _quiet_1h(T0 - 3 * MINUTE_MS)

    async def drop_before_the_hour() -> None:
        # 10 market seconds before the hour; back 30-60 market seconds later.
        await trio.sleep_until(exchange.t0 + (T0 - 10_000 - exchange.start_ms) / 60_000)
        await exchange.drop_all()

    stream = StreamConfig(
        ws_url="ws://fake", stale_after_s=120, backoff=Backoff(initial=1.0, maximum=1.0)
    )
    screens, closes_at = await _screens(
        exchange, exchange.transport(), stream, drop_before_the_hour
    )
    _assert_aligned_and_in_time(screens, closes_at)
    assert exchange.connections == 2
