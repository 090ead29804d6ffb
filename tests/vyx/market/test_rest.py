"""REST client: weight budget, 429 Retry-After, 418 stop, retries (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
import trio

from vyx.market.rest import RestBanned, RestClient, RestConfig, RestUnavailable
from vyx.market.weight import WeightBudget
from vyx.retry import Backoff

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kw: object) -> RestClient:
    cfg = RestConfig(base_url="http://binance.test", **kw)  # type: ignore[arg-type]
    return RestClient(cfg, transport=httpx.MockTransport(handler))


def test_budget_allows_until_headroom_then_waits_for_the_window() -> None:
    budget = WeightBudget(limit=100, headroom=0.8)
    wait, budget = budget.reserve(50, now=0.0)
    assert wait == 0
    budget = budget.observe(70, now=1.0)
    wait, budget = budget.reserve(5, now=2.0)
    assert wait == 0
    assert budget.used == 75
    wait, budget = budget.reserve(10, now=3.0)
    assert wait == pytest.approx(58.0)
    assert budget.current(61.0) == 10
    assert budget.current(121.0) == 0


def test_backoff_is_capped_jittered_and_resets() -> None:
    policy = Backoff(initial=1, maximum=10)
    delays = []
    for _ in range(2000):
        delays.append(policy.delay())
        policy = policy.failed()
    assert all(0.5 <= d <= 10 for d in delays)
    assert min(delays[10:]) >= 5
    assert policy.succeeded().attempt == 0


async def test_server_time_and_a_malformed_answer() -> None:
    answers = [{"serverTime": 1_700_000_000_123}, {"serverTime": "soon"}, ["x"]]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v3/time"
        return httpx.Response(200, json=answers.pop(0))

    async with _client(handler) as client:
        assert await client.server_time() == 1_700_000_000_123
        for _ in range(2):
            with pytest.raises(RestUnavailable, match="serverTime"):
                await client.server_time()


async def test_klines_params_and_weight_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[[0] * 12], headers={"X-MBX-USED-WEIGHT-1M": "42"})

    async with _client(handler) as client:
        rows = await client.klines("BTCUSDT", "5m", start_time=10, end_time=20, limit=5000)
        assert rows == [[0] * 12]
        stats = client.statistics()
    params = dict(seen[0].url.params)
    assert params == {
        "symbol": "BTCUSDT",
        "interval": "5m",
        "limit": "1000",
        "startTime": "10",
        "endTime": "20",
    }
    assert stats.weight_used == 42
    assert stats.requests == 1
    assert stats.state == "ok"


async def test_slows_down_before_the_limit(autojump_clock: trio.testing.MockClock) -> None:
    used = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal used
        used += 100
        return httpx.Response(200, json=[], headers={"x-mbx-used-weight-1m": str(used)})

    async with _client(handler, weight_limit=1000, weight_headroom=0.5) as client:
        start = trio.current_time()
        for _ in range(4):
            await client.klines("BTCUSDT", "1m")
        assert trio.current_time() == start
        await client.klines("BTCUSDT", "1m")  # 400 used + 2 still fits under 500
        await client.klines("BTCUSDT", "1m")  # 500 + 2 > 500: wait for the window
        assert trio.current_time() - start >= 59
        assert client.statistics().weight_wait_s >= 59


async def test_429_honours_retry_after(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(trio.current_time())
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "17"})
        return httpx.Response(200, json={"symbols": []})

    async with _client(handler) as client:
        assert await client.exchange_info() == {"symbols": []}
        assert client.statistics().rate_limited == 1
    assert calls[1] - calls[0] == pytest.approx(17)


async def test_418_stops_rest_and_reports(autojump_clock: trio.testing.MockClock) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(418, headers={"Retry-After": "120"})
        return httpx.Response(200, json=[])

    async with _client(handler) as client:
        with pytest.raises(RestBanned) as info:
            await client.tickers_24hr()
        stats = client.statistics()
        assert stats.state == "banned"
        assert stats.bans == 1
        assert stats.banned_until == pytest.approx(trio.current_time() + 120)
        assert info.value.banned_until == stats.banned_until
        with pytest.raises(RestBanned):
            await client.klines("BTCUSDT", "1m")
        assert calls == 1  # nothing was sent while banned
        await trio.sleep(121)
        assert await client.tickers_24hr() == []
        assert client.statistics().state == "ok"


async def test_5xx_and_transport_errors_retry_then_give_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls == 2:
            return httpx.Response(503)
        return httpx.Response(200, content=json.dumps([]).encode())

    async with _client(flaky) as client:
        assert await client.klines("BTCUSDT", "1m") == []
        assert client.statistics().retries == 2

    async with _client(lambda r: httpx.Response(502), max_attempts=3) as client:
        with pytest.raises(RestUnavailable, match="after 3 attempts"):
            await client.klines("BTCUSDT", "1m")


async def test_client_errors_are_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"code": -1121, "msg": "Invalid symbol."})

    async with _client(handler) as client:
        with pytest.raises(RestUnavailable, match="Invalid symbol"):
            await client.klines("NOPE", "1m")
    assert calls == 1


async def test_timeouts_are_applied_at_the_call_site(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Hang(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            await trio.sleep_forever()
            raise AssertionError

    client = RestClient(
        RestConfig(base_url="http://x", timeout_s=2, max_attempts=2), transport=Hang()
    )
    async with client:
        start = trio.current_time()
        with pytest.raises(RestUnavailable, match="TooSlowError"):
            await client.exchange_info()
        assert trio.current_time() - start < 10


async def test_429_holds_back_concurrent_requests(autojump_clock: trio.testing.MockClock) -> None:
    sent: list[float] = []

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(trio.current_time())
            if len(sent) == 1:
                return httpx.Response(429, headers={"Retry-After": "10"})
            return httpx.Response(200, json=[])

    client = RestClient(RestConfig(base_url="http://x"), transport=Transport())
    async with client, trio.open_nursery() as nursery:
        start = trio.current_time()
        nursery.start_soon(client.klines, "A", "1m")
        await trio.sleep(0.5)  # B starts after A's 429 arrived
        nursery.start_soon(client.klines, "B", "1m")
    assert len(sent) == 3
    assert all(t - start >= 10 for t in sent[1:])
