"""Universe refresh, subscription pacing and REST trouble at the service level."""

from __future__ import annotations

import itertools

import attrs
import httpx
import trio
import trio.testing

from tests.vyx.market.fake_exchange import FakeExchange
from tests.vyx.market.test_service import (
    SYMBOLS,
    TFS,
    WARMUP,
    _assert_exact,
    _config,
    _rings,
    _scenario,
)
from vyx.market.closes import HistoryLoaded, MarketEvent, SymbolsRemoved
from vyx.market.service import MarketHandle, run_market
from vyx.retry import Backoff


async def test_refresh_backfills_joining_and_drops_leaving(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    cfg = attrs.evolve(_config(), universe_refresh_s=100.0)

    async def relist(handle: MarketHandle) -> None:
        await trio.sleep(150)
        exchange.symbols = ("BTCUSDT", "ETHUSDT", "XRPUSDT")

    exchange_symbols_at_end = ("BTCUSDT", "ETHUSDT", "XRPUSDT")
    rings, handle, events = await _scenario(exchange, cfg, relist, run_s=300)
    assert handle.symbols == exchange_symbols_at_end
    for tf, ring in rings.items():
        assert "SOLUSDT" not in ring
        times, _ = ring.window(ring.slot("XRPUSDT"))
        truth = exchange.truth("XRPUSDT", tf)
        assert times.tolist() == truth[-len(times) :]
        assert len(times) >= WARMUP[tf]
    assert SymbolsRemoved(("SOLUSDT",)) in events
    loaded = [e for e in events if isinstance(e, HistoryLoaded) and "XRPUSDT" in e.symbols]
    assert {e.timeframe for e in loaded} == set(TFS)
    assert handle.tickers.get("SOLUSDT") is None
    assert handle.tickers.get("XRPUSDT") is not None
    # XRP's streams were added to the live connection, not a new one.
    assert exchange.connections == 1


async def test_subscriptions_are_paced(autojump_clock: trio.testing.MockClock) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    cfg = _config(url_streams=2, streams_per_message=2)
    await _scenario(exchange, cfg, run_s=30)
    (peer,) = exchange.all_peers
    assert len(peer.control_times) == 4  # 9 streams: 2 in the URL, 7 in 4 SUBSCRIBEs
    gaps = [b - a for a, b in itertools.pairwise(peer.control_times)]
    assert min(gaps) >= 0.2  # at most 5 per second
    assert len(peer.streams) == 9


async def test_startup_waits_out_rest_trouble(autojump_clock: trio.testing.MockClock) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    inner = exchange.transport()
    calls = itertools.count()

    def flaky(request: httpx.Request) -> httpx.Response:
        n = next(calls)
        if n == 0:
            return httpx.Response(418, headers={"Retry-After": "90"})
        if n in (1, 2):
            return httpx.Response(429, headers={"Retry-After": "5"})
        return inner.handle_request(request)

    rings = _rings()
    send, _recv = trio.open_memory_channel[MarketEvent](1000)
    async with trio.open_nursery() as nursery:
        await nursery.start(exchange.run)
        start = trio.current_time()
        handle: MarketHandle = await nursery.start(
            lambda task_status: run_market(
                _config(),
                rings,
                send,
                transport=httpx.MockTransport(flaky),
                connect=exchange.connect,
                task_status=task_status,
            )
        )
        assert trio.current_time() - start >= 95
        stats = handle.statistics()
        assert stats.rest.bans == 1
        assert stats.rest.rate_limited == 2
        assert stats.rest.state == "ok"
        assert stats.problems == ()
        nursery.cancel_scope.cancel()


def test_config_from_the_daemon_settings() -> None:
    from vyx.market.service import MarketConfig
    from vyx.settings import MarketSettings as Settings

    settings = Settings(symbol_count=7, symbols=("BTCUSDT",), rest_url="http://r", ws_url="ws://w")
    cfg = MarketConfig.from_settings(settings, close_grace_s=1.0)
    assert cfg.rest.base_url == "http://r"
    assert cfg.stream.ws_url == "ws://w"
    assert cfg.universe.count == 7
    assert cfg.universe.symbols == ("BTCUSDT",)
    assert cfg.close_grace_s == 1.0


async def test_a_ban_during_repair_is_reported_then_repaired(
    autojump_clock: trio.testing.MockClock,
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS)
    cfg = _config(backoff=Backoff(initial=5.0, maximum=10.0))
    seen: list[tuple[str, ...]] = []

    async def ban(handle: MarketHandle) -> None:
        await trio.sleep(20)
        exchange.rest_failures.append((418, 120))
        await exchange.drop_all()
        for _ in range(60):
            await trio.sleep(2)
            seen.append(handle.statistics().problems)

    rings, handle, _ = await _scenario(exchange, cfg, ban, run_s=300)
    _assert_exact(exchange, rings)
    assert any(any("418" in p for p in problems) for problems in seen)
    stats = handle.statistics()
    assert stats.rest.bans == 1
    assert stats.problems == ()
    assert stats.gaps_repaired >= 1
