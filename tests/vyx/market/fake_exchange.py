"""An in-memory Binance stand-in: REST via httpx.MockTransport, streams via memory streams.

Market time runs off trio's clock (``speed`` market seconds per trio second), so tests use
autojump clocks. Every stream connection gets, at each market minute, a forming frame of the
current bar of every subscribed kline stream, preceded at a bar boundary by the closed frame of
the bar that just ended, plus a ticker frame (a quiet timeframe, see ``forming_timeframes``,
sends only its closed frames). Faults: drop every connection, send garbage,
announce ``serverShutdown``. ``truth`` gives every closed bar the exchange has produced.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import trio
import trio.testing
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_server_stream

from kernels.timeframes import MINUTE_MS, bar_open, timeframe_ms
from tests.vyx.market.fakes import rest_row, ws_frame
from vyx.exchange.rest import RESTRICTED_BODY
from vyx.market.websocket import HandshakeFailed, MarketSocket, handshake

T0 = 1_700_000_000_000 // 3_600_000 * 3_600_000


@attrs.define(eq=False)
class _Peer:
    ws: WebSocketConnection
    streams: set[str]
    closed: bool = False
    #: trio times of the control (SUBSCRIBE/UNSUBSCRIBE) messages received.
    control_times: list[float] = attrs.Factory(list)


@attrs.define(eq=False)
class FakeExchange:
    symbols: tuple[str, ...]
    timeframes: tuple[str, ...]
    speed: float = 60.0
    #: First bar of history (market ms).
    history_start: int = T0 - 3000 * MINUTE_MS
    start_ms: int = T0
    #: Market time stops here (frames of the frozen forming bar keep coming).
    end_ms: int | None = None
    #: Timeframes whose forming frames are sent (None: every one). The others are quiet: only
    #: their closed frames come (the simulated exchange sends a 1h bar's forming updates 15
    #: market minutes apart, Binance when trades change it).
    forming_timeframes: tuple[str, ...] | None = None
    t0: float = 0.0
    peers: list[_Peer] = attrs.Factory(list)
    all_peers: list[_Peer] = attrs.Factory(list)
    connections: int = 0
    rest_requests: int = 0
    sent: int = 0
    #: Answer the next REST requests with these statuses (status, Retry-After).
    rest_failures: list[tuple[int, int]] = attrs.Factory(list)
    #: No frame is sent before this trio time (a stalled stream).
    stalled_until: float = 0.0
    #: Refuse every REST request and stream handshake with 451 (a location Binance refuses).
    restricted: bool = False
    #: Requests and handshakes refused so.
    refused: int = 0

    def now_ms(self) -> int:
        now = self.start_ms + int((trio.current_time() - self.t0) * self.speed * 1000)
        return now if self.end_ms is None else min(now, self.end_ms)

    def current(self, tf: str) -> int:
        return bar_open(tf, self.now_ms())

    def truth(self, symbol: str, tf: str) -> list[int]:
        """Open times of every closed bar produced (from the history start)."""
        step = timeframe_ms(tf)
        first = bar_open(tf, self.history_start)
        return list(range(first, self.current(tf), step))

    # -- REST ------------------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._rest)

    def _rest(self, request: httpx.Request) -> httpx.Response:
        self.rest_requests += 1
        headers = {"x-mbx-used-weight-1m": "10"}
        if self.restricted:
            self.refused += 1
            return httpx.Response(451, json=RESTRICTED_BODY)
        if self.rest_failures:
            status, retry_after = self.rest_failures.pop(0)
            return httpx.Response(status, headers={**headers, "Retry-After": str(retry_after)})
        path = request.url.path
        if path == "/api/v3/time":
            return httpx.Response(200, json={"serverTime": self.now_ms()}, headers=headers)
        if path == "/api/v3/exchangeInfo":
            symbols = [
                {"symbol": s, "status": "TRADING", "baseAsset": s[:-4], "quoteAsset": "USDT"}
                for s in self.symbols
            ]
            return httpx.Response(200, json={"symbols": symbols}, headers=headers)
        if path == "/api/v3/ticker/24hr":
            rows = [
                {
                    "symbol": s,
                    "lastPrice": "1.5",
                    "priceChangePercent": "2",
                    "quoteVolume": str(1e6 - i),
                }
                for i, s in enumerate(self.symbols)
            ]
            return httpx.Response(200, json=rows, headers=headers)
        p = request.url.params
        tf, step = p["interval"], timeframe_ms(p["interval"])
        first, current = bar_open(tf, self.history_start), self.current(tf)
        times = list(range(first, current + 1, step))
        limit = int(p.get("limit", 500))
        if "startTime" in p:
            times = [t for t in times if t >= int(p["startTime"])]
        if "endTime" in p:
            times = [t for t in times if t <= int(p["endTime"])]
        times = times[:limit] if "startTime" in p else times[-limit:]
        return httpx.Response(
            200, json=[rest_row(p["symbol"], tf, t) for t in times], headers=headers
        )

    # -- streams ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def connect(self, url: str) -> AsyncIterator[MarketSocket]:
        if self.restricted:
            self.refused += 1
            raise HandshakeFailed("refused", 451, json.dumps(RESTRICTED_BODY).encode())
        parts = urlsplit(url)
        streams = set(parse_qs(parts.query).get("streams", [""])[0].split("/")) - {""}
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._serve, nursery, server_stream, streams)
            ws = await handshake(client_stream, f"ws://fake{parts.path}?{parts.query}")
            try:
                yield ws
            finally:
                nursery.cancel_scope.cancel()

    async def _serve(
        self, nursery: trio.Nursery, stream: trio.abc.Stream, streams: set[str]
    ) -> None:
        request = await wrap_server_stream(nursery, stream)
        ws = await request.accept()
        peer = _Peer(ws, streams)
        self.peers.append(peer)
        self.all_peers.append(peer)
        self.connections += 1
        try:
            while True:
                msg = json.loads(await ws.get_message())
                peer.control_times.append(trio.current_time())
                names = set(msg["params"])
                if msg["method"] == "SUBSCRIBE":
                    peer.streams |= names
                else:
                    peer.streams -= names
                await ws.send_message(json.dumps({"result": None, "id": msg["id"]}))
        except ConnectionClosed:
            pass
        finally:
            peer.closed = True
            with contextlib.suppress(ValueError):
                self.peers.remove(peer)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Emit frames every market minute, forever."""
        self.t0 = trio.current_time()
        task_status.started()
        minute = 0
        while True:
            minute += 1
            await trio.sleep_until(self.t0 + minute * 60 / self.speed)
            now = self.now_ms()
            if trio.current_time() < self.stalled_until:
                continue
            for peer in list(self.peers):
                frames = self._frames(peer.streams, now)
                with contextlib.suppress(
                    ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError
                ):
                    for frame in frames:
                        await peer.ws.send_message(frame)
                        self.sent += 1

    def _frames(self, streams: set[str], now: int) -> list[str]:
        out = []
        for symbol in self.symbols:
            for tf in self.timeframes:
                if f"{symbol.lower()}@kline_{tf}" not in streams:
                    continue
                current = bar_open(tf, now)
                step = timeframe_ms(tf)
                if current == now:
                    out.append(ws_frame(symbol, tf, current - step, closed=True))
                if self.forming_timeframes is None or tf in self.forming_timeframes:
                    out.append(ws_frame(symbol, tf, current, closed=False))
            if f"{symbol.lower()}@ticker" in streams:
                out.append(self._ticker(symbol, now))
        return out

    def _ticker(self, symbol: str, now: int) -> str:
        data: dict[str, Any] = {
            "e": "24hrTicker",
            "E": now,
            "s": symbol,
            "c": "1.5",
            "P": "2.5",
            "q": "1000",
        }
        return json.dumps({"stream": f"{symbol.lower()}@ticker", "data": data})

    # -- faults ----------------------------------------------------------------------------------

    async def drop_all(self) -> None:
        """Close every stream connection at once (an abrupt network drop, as the client sees it)."""
        for peer in list(self.peers):
            # Bounded: once the client answered the close and left, this connection's reader
            # task is cancelled with it, and trio-websocket would wait for the answer forever.
            with contextlib.suppress(Exception), trio.move_on_after(1.0):
                await peer.ws.aclose(1011)

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (connections stay open)."""
        self.stalled_until = trio.current_time() + seconds

    async def broadcast(self, raw: str) -> None:
        """Send ``raw`` on every connection (malformed frames, serverShutdown)."""
        for peer in list(self.peers):
            with contextlib.suppress(ConnectionClosed):
                await peer.ws.send_message(raw)
