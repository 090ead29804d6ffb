"""HTTP 451 (Binance refuses the location) stops the market for good, with one line, at start-up
and mid-run, on REST and at a stream handshake (in-memory fake exchange, autojump clock)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import trio
import trio.testing
from loguru import logger

from tests.vyx.market.fake_exchange import FakeExchange
from tests.vyx.market.test_service import TFS, _config, _rings
from vyx.exchange.rest import RESTRICTED_BODY
from vyx.market.rest import RestClient, RestConfig, RestRestricted
from vyx.market.restriction import is_restricted, refusal_reason
from vyx.market.service import MarketConfig, MarketHandle, run_market

SYMBOLS = ("BTCUSDT", "ETHUSDT")
DETAIL = "restricted location (HTTP 451) from region iad"


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """The lines the daemon logs during the test."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    yield lines
    logger.remove(sink)


def _regional(cfg: MarketConfig) -> MarketConfig:
    return MarketConfig(
        rest=cfg.rest,
        stream=cfg.stream,
        universe=cfg.universe,
        warmup=cfg.warmup,
        close_grace_s=cfg.close_grace_s,
        region="iad",
    )


async def _start(
    nursery: trio.Nursery, exchange: FakeExchange, phases: list[tuple[str, str]]
) -> MarketHandle:
    """The exchange and a market (region iad) telling ``phases``; the market's handle."""
    await nursery.start(exchange.run)
    handle: MarketHandle = await nursery.start(
        lambda task_status: run_market(
            _regional(_config()),
            _rings(),
            None,
            transport=exchange.transport(),
            connect=exchange.connect,
            on_phase=lambda name, detail: phases.append((name, detail)),
            task_status=task_status,
        )
    )
    return handle


def test_what_counts_as_a_restricted_location() -> None:
    body = httpx.Response(451, json=RESTRICTED_BODY).content
    assert is_restricted(451, b"")
    assert is_restricted(403, body)  # the CDN's variant: Binance's words with another 4xx
    assert not is_restricted(403, b'{"code":-2015,"msg":"Invalid API-key"}')
    assert not is_restricted(503, body)  # a 5xx is transient whatever it says
    assert refusal_reason(body).startswith("Service unavailable from a restricted location")
    assert refusal_reason(b"<html>" * 100) == ("<html>" * 100)[:200]
    assert refusal_reason(b"") == "no reason given"


async def test_rest_451_is_final_and_sends_nothing_after(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(451, json=RESTRICTED_BODY)

    async with RestClient(
        RestConfig(base_url="http://x"), transport=httpx.MockTransport(handler)
    ) as rest:
        with pytest.raises(RestRestricted, match="HTTP 451 on /api/v3/exchangeInfo") as info:
            await rest.exchange_info()
        assert "restricted location" in info.value.reason
        with pytest.raises(RestRestricted):
            await rest.klines("BTCUSDT", "1m")
        assert sent == ["/api/v3/exchangeInfo"]  # no retry, and nothing after it
        stats = rest.statistics()
        assert stats.state == "restricted"
        assert stats.retries == 0


async def test_restricted_at_start_up_stops_the_market_with_one_line(
    autojump_clock: trio.testing.MockClock, logged: list[str]
) -> None:
    exchange = FakeExchange(SYMBOLS, TFS, restricted=True)
    phases: list[tuple[str, str]] = []
    with trio.move_on_after(3600) as waited:
        async with trio.open_nursery() as nursery:
            await _start(nursery, exchange, phases)
    assert waited.cancelled_caught  # never started: an hour later it still waits, quietly
    assert phases[-1] == ("restricted", DETAIL)
    assert exchange.refused == 1  # one request in an hour: it does not hammer
    lines = [line for line in logged if "HTTP 451" in line]
    assert len(lines) == 1
    assert "region iad" in lines[0]
    assert "--region nrt" in lines[0]


async def test_restricted_mid_run_stops_streams_and_rest(
    autojump_clock: trio.testing.MockClock, logged: list[str]
) -> None:
    """Streaming, then every connection drops and Binance refuses the location from then on: the
    shard stops reconnecting, the statistics and the phase say so, and nothing is retried."""
    exchange = FakeExchange(SYMBOLS, TFS)
    phases: list[tuple[str, str]] = []
    async with trio.open_nursery() as nursery:
        handle = await _start(nursery, exchange, phases)
        assert phases[-1][0] == "streaming"
        assert handle.statistics().restricted is None
        await trio.sleep(30)
        exchange.restricted = True
        await exchange.drop_all()
        await trio.sleep(3600)
        stats = handle.statistics()
        nursery.cancel_scope.cancel()
    assert phases[-1] == ("restricted", DETAIL)
    assert stats.restricted == DETAIL
    assert any("refuses the location" in p for p in stats.problems)
    # The one reconnect, refused; then nothing for an hour, neither streams nor REST.
    assert exchange.refused == 1
    assert stats.reconnects == 1
    assert stats.rest.state == "restricted"
    assert len([line for line in logged if "HTTP 451" in line]) == 1
