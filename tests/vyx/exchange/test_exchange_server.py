"""The exchange over real sockets: REST with httpx, streams with trio-websocket, virtual time."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
import trio
from trio.testing import MockClock
from trio_websocket import ConnectionClosed, WebSocketConnection

from vyx.exchange import ExchangeConfig, ExchangeHandle, run_exchange
from vyx.market.connection import Shard, StreamConfig, run_shard
from vyx.market.frames import Kline, Ticker
from vyx.market.restriction import is_restricted

StartExchange = Callable[..., Awaitable[ExchangeHandle]]
Connect = Callable[[str], AbstractAsyncContextManager[WebSocketConnection]]
#: The conftest's start time: 2023-11-14 22:00 UTC.
START_MS = 1_699_999_200_000
#: A bare upgrade request, sent with httpx to see a refused handshake's status and body.
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def recv(ws: WebSocketConnection) -> dict[str, Any]:
    """Next message as JSON (a virtual-time limit: a stuck test fails, never hangs)."""
    with trio.fail_after(600):
        message = await ws.get_message()
    assert isinstance(message, str)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


async def drain(ws: WebSocketConnection) -> None:
    """Read until the connection closes (raises ConnectionClosed)."""
    while True:
        await recv(ws)


async def until_closed_kline(ws: WebSocketConnection, stream: str) -> dict[str, Any]:
    """Skip frames until the closed kline of ``stream``."""
    while True:
        frame = await recv(ws)
        if frame.get("stream") == stream and frame["data"]["k"]["x"]:
            return frame


def rest(handle: ExchangeHandle) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=handle.rest_url)


async def test_started_handle_tells_the_bound_port(
    start_exchange: StartExchange, clock: MockClock
) -> None:
    handle = await start_exchange()
    assert handle.port > 0
    assert handle.rest_url == f"http://127.0.0.1:{handle.port}"
    assert handle.ws_url == f"ws://127.0.0.1:{handle.port}"
    async with rest(handle) as client:
        response = await client.get("/api/v3/time")
    assert response.status_code == 200
    assert abs(response.json()["serverTime"] - START_MS) < 60_000


async def test_klines_over_http_with_weight_header(
    start_exchange: StartExchange, clock: MockClock
) -> None:
    handle = await start_exchange()
    async with rest(handle) as client:
        response = await client.get(
            "/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "5m", "limit": 3}
        )
        again = await client.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "5m"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-mbx-used-weight-1m"] == "2"
    assert again.headers["x-mbx-used-weight-1m"] == "4"
    rows = response.json()
    assert [len(r) for r in rows] == [12, 12, 12]
    assert rows[-1][0] == START_MS  # the forming bar comes last
    assert rows[0][0] == START_MS - 600_000
    assert len(again.json()) == 500


async def test_bad_parameters_get_binance_error_bodies(
    start_exchange: StartExchange, clock: MockClock
) -> None:
    handle = await start_exchange()
    cases = [
        ({"interval": "5m"}, -1102),
        ({"symbol": "NOPEUSDT", "interval": "5m"}, -1121),
        ({"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "5m", "limit": "1001"}, -1130),
        ({"symbol": "BTCUSDT", "interval": "5m", "limit": "ten"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "5m", "startTime": "9", "endTime": "1"}, -1023),
    ]
    async with rest(handle) as client:
        for params, code in cases:
            response = await client.get("/api/v3/klines", params=params)
            assert response.status_code == 400, params
            assert response.json()["code"] == code
            assert isinstance(response.json()["msg"], str)


async def test_429_then_418_when_the_client_does_not_back_off(
    start_exchange: StartExchange,
    clock: MockClock,
) -> None:
    handle = await start_exchange(weight_limit=5, speed=1)
    params = {"symbol": "BTCUSDT", "interval": "1m", "limit": 1}
    async with rest(handle) as client:
        statuses = [(await client.get("/api/v3/klines", params=params)) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert int(statuses[2].headers["retry-after"]) >= 1
        assert statuses[2].json()["code"] == -1003
        banned = await client.get("/api/v3/klines", params=params)
        assert banned.status_code == 418
        ban = int(banned.headers["retry-after"])
        assert ban == 120
        await trio.sleep(ban + 1)
        assert (await client.get("/api/v3/klines", params=params)).status_code == 200


async def test_429_honoured_then_served(start_exchange: StartExchange, clock: MockClock) -> None:
    handle = await start_exchange(weight_limit=2, speed=1)
    params = {"symbol": "BTCUSDT", "interval": "1m", "limit": 1}
    async with rest(handle) as client:
        assert (await client.get("/api/v3/klines", params=params)).status_code == 200
        refused = await client.get("/api/v3/klines", params=params)
        assert refused.status_code == 429
        await trio.sleep(int(refused.headers["retry-after"]))
        served = await client.get("/api/v3/klines", params=params)
    assert served.status_code == 200
    assert served.headers["x-mbx-used-weight-1m"] == "2"


async def test_exchange_info_and_tickers(start_exchange: StartExchange, clock: MockClock) -> None:
    handle = await start_exchange()
    async with rest(handle) as client:
        info = (await client.get("/api/v3/exchangeInfo")).json()
        tickers = await client.get("/api/v3/ticker/24hr")
        one = (await client.get("/api/v3/ticker/24hr", params={"symbol": "ETHUSDT"})).json()
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert by_symbol["BTCUSDT"]["status"] == "TRADING"
    assert by_symbol["LUNAUSDT"]["status"] == "BREAK"
    assert by_symbol["BTCUPUSDT"]["baseAsset"] == "BTCUP"
    assert by_symbol["ETHBTC"]["quoteAsset"] == "BTC"
    assert tickers.headers["x-mbx-used-weight-1m"] == "100"  # 20 + 80
    assert {t["symbol"] for t in tickers.json()} == set(by_symbol)
    assert one["symbol"] == "ETHUSDT"
    assert float(one["quoteVolume"]) > 0
    assert one["closeTime"] == START_MS - 1


async def test_combined_stream_forming_then_closed_equal_to_truth(
    start_exchange: StartExchange,
    clock: MockClock,
    connect: Connect,
) -> None:
    handle = await start_exchange()
    url = f"{handle.ws_url}/stream?streams=btcusdt@kline_1m/ethusdt@kline_5m"
    async with connect(url) as ws:
        frames = [await recv(ws) for _ in range(4)]
        assert [f["data"]["k"]["x"] for f in frames] == [False, False, False, True]
        assert {f["stream"] for f in frames} == {"btcusdt@kline_1m"}
        volumes = [float(f["data"]["k"]["v"]) for f in frames]
        assert volumes == sorted(volumes)
        closed = await until_closed_kline(ws, "ethusdt@kline_5m")
    k = closed["data"]["k"]
    (truth,) = [t for t in handle.truth.closed("ETHUSDT", "5m") if t.open_time == k["t"]]
    assert k == truth.stream_payload("ETHUSDT", k["T"] + 1, closed=True)["k"]
    assert closed["data"]["E"] == k["T"] + 1
    assert k["t"] in handle.truth.sent("ETHUSDT", "5m")


async def test_subscribe_unsubscribe_list(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange()
    async with connect(f"{handle.ws_url}/stream") as ws:
        await ws.send_message(
            json.dumps({"method": "SUBSCRIBE", "params": ["solusdt@kline_1m"], "id": 1})
        )
        assert await recv(ws) == {"result": None, "id": 1}
        await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        assert await recv(ws) == {"result": ["solusdt@kline_1m"], "id": 2}
        assert (await recv(ws))["stream"] == "solusdt@kline_1m"
        await ws.send_message(
            json.dumps({"method": "UNSUBSCRIBE", "params": ["solusdt@kline_1m"], "id": 3})
        )
        while (reply := await recv(ws)).get("id") != 3:
            assert "stream" in reply  # frames already queued may still arrive
        with trio.move_on_after(30) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught


async def test_raw_stream_is_unwrapped(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange()
    async with connect(f"{handle.ws_url}/ws/btcusdt@ticker") as ws:
        frame = await recv(ws)
    assert frame["e"] == "24hrTicker"
    assert frame["s"] == "BTCUSDT"


async def test_more_than_five_messages_a_second_closes(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange()
    async with connect(f"{handle.ws_url}/stream") as ws:
        for i in range(6):
            await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.reason.code == 1008


async def test_too_many_streams_in_the_url_is_refused(
    start_exchange: StartExchange, clock: MockClock
) -> None:
    handle = await start_exchange(max_streams=2)
    async with rest(handle) as client:
        ok = await client.get("/stream?streams=a@ticker/b@ticker", headers=UPGRADE)
        refused = await client.get("/stream?streams=a@ticker/b@ticker/c@ticker", headers=UPGRADE)
    assert ok.status_code == 101
    assert refused.status_code == 400
    assert refused.json()["code"] == -1121


async def test_drop_connections(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange()
    async with connect(f"{handle.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        await recv(ws)
        assert handle.faults.drop_connections() == 1
        with pytest.raises(ConnectionClosed):
            await drain(ws)
    assert handle.faults.statistics().dropped == 1
    assert handle.statistics().connections == 0


async def test_stall_withholds_frames_then_resumes(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange(speed=6)
    async with connect(f"{handle.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        await recv(ws)
        handle.faults.stall(120)
        stalled_at = handle.clock.now_ms()
        with trio.move_on_after(119) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught
        frame = await recv(ws)
    # 120 trio seconds at speed 6 = 12 market minutes without a frame.
    assert frame["data"]["E"] >= stalled_at + 120 * 6_000 - 15_000


async def test_malformed_frames_then_normal_service(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange()
    async with connect(f"{handle.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        await recv(ws)
        handle.faults.send_malformed(3)
        bad = []
        while len(bad) < 3:
            text = await ws.get_message()
            try:
                frame = json.loads(text)
            except ValueError:
                bad.append(text)
                continue
            data = frame.get("data") if isinstance(frame, dict) else None
            if not (isinstance(data, dict) and isinstance(data.get("k"), dict)):
                bad.append(text)
        assert (await recv(ws))["stream"] == "btcusdt@kline_1m"
    assert handle.faults.statistics().malformed_sent == 3


async def test_server_shutdown_event_then_close(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange()
    async with connect(f"{handle.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        await recv(ws)
        handle.faults.server_shutdown(close_after=5)
        while (frame := await recv(ws)).get("e") != "serverShutdown":
            pass
        assert isinstance(frame["E"], int)
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    assert closed.value.reason.code == 1001


async def test_connection_lifetime(
    start_exchange: StartExchange, clock: MockClock, connect: Connect
) -> None:
    handle = await start_exchange(connection_lifetime_s=30)
    async with connect(f"{handle.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
        start = trio.current_time()
        with pytest.raises(ConnectionClosed):
            await drain(ws)
    assert trio.current_time() - start == pytest.approx(30, abs=1)


@pytest.mark.parametrize("status", [429, 418, 500, 503])
async def test_injected_rest_failures(
    start_exchange: StartExchange, clock: MockClock, status: int
) -> None:
    handle = await start_exchange()
    handle.faults.fail_rest(2, status, retry_after=7)
    async with rest(handle) as client:
        answers = [await client.get("/api/v3/ping") for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert isinstance(answers[0].json()["code"], int)
    if status in (429, 418):
        assert answers[0].headers["retry-after"] == "7"


async def test_slow_rest(start_exchange: StartExchange, clock: MockClock) -> None:
    handle = await start_exchange()
    handle.faults.slow_rest(30, n=1)
    async with rest(handle) as client:
        start = trio.current_time()
        await client.get("/api/v3/ping", timeout=60)
        slow = trio.current_time() - start
        await client.get("/api/v3/ping")
        fast = trio.current_time() - start - slow
    assert slow >= 30
    assert fast < 1


async def test_cancellation_closes_the_listener(clock: MockClock) -> None:
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(run_exchange, ExchangeConfig(symbols=2, start_ms=START_MS))
        nursery.cancel_scope.cancel()
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", handle.port)


async def test_a_restricted_location_is_refused_with_451(
    start_exchange: StartExchange, clock: MockClock
) -> None:
    """As from a US address: every REST path and the stream handshake answer 451 with Binance's
    body; a real shard supervisor (trio-websocket) reports it once and stops connecting."""
    handle = await start_exchange()
    handle.faults.restrict()
    async with rest(handle) as client:
        refused = [await client.get(p) for p in ("/api/v3/ping", "/api/v3/nowhere")]
        handshake = await client.get("/stream?streams=btcusdt@ticker", headers=UPGRADE)
    for answer in (*refused, handshake):
        assert answer.status_code == 451
        assert is_restricted(answer.status_code, answer.content)
        assert "restricted location" in answer.json()["msg"]
    told: list[tuple[str, str]] = []
    out, _frames = trio.open_memory_channel[Kline | Ticker](8)
    shard = Shard(0, ["btcusdt@ticker"])
    with trio.move_on_after(600):
        await run_shard(
            StreamConfig(ws_url=handle.ws_url),
            shard,
            out,
            on_restricted=lambda where, reason: told.append((where, reason)),
        )
    assert len(told) == 1
    assert told[0][1].startswith("Service unavailable from a restricted location")
    assert shard.restricted == told[0][1]
    assert shard.reconnects == 0
    assert handle.faults.statistics().restricted_refused == 4  # 2 REST, 2 handshakes, no more
    handle.faults.restrict(on=False)
    async with rest(handle) as client:
        assert (await client.get("/api/v3/ping")).status_code == 200
