"""The I/O shell: one raw ASGI app (served by hypercorn's trio worker) for REST and WebSocket, the
connection hub, and the pump that turns the market timeline into frames.

Each WebSocket connection has a bounded queue of outgoing frames; the pump encodes a frame once
per stream and offers it to every subscribed connection without blocking. After each event the
pump waits (up to ``slow_consumer_s``) for queues more than half full to drain below a quarter,
so a busy server delays frames (their ``E`` stays the market time they were due) instead of
losing them; a connection that does not drain in time, or whose queue overflows, is dropped as a
slow consumer.
Dropping a connection (the fault) ends its ASGI handler without a close message; hypercorn then
sends close code 1011 and closes the socket (ASGI cannot express a TCP abort).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from kernels.timeframes import bar_open, timeframe_ms
from vyx.exchange.clock import MarketClock
from vyx.exchange.faults import FaultControl
from vyx.exchange.market import Event, Market
from vyx.exchange.rest import JSON_TYPE, RESTRICTED_MSG, RestApi
from vyx.exchange.streams import (
    CLOSE_POLICY,
    StreamKey,
    Subscriptions,
    combined_frame,
    dumps,
    streams_from_path,
)

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
CLOSE_GOING_AWAY = 1001
#: How many closed-candle open times the truth keeps per stream.
SENT_HISTORY = 100_000


@attrs.frozen
class _Close:
    code: int
    reason: str = ""


@attrs.define(eq=False)
class Connection:
    """One open WebSocket connection."""

    subs: Subscriptions
    combined: bool
    queue: trio.MemorySendChannel[str | _Close]
    capacity: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    #: Set by the writer when the queue has drained to a quarter (the pump waits on it).
    drained: trio.Event | None = None

    def pending(self) -> int:
        """Frames queued and not yet written."""
        return self.queue.statistics().current_buffer_used

    def note_sent(self) -> None:
        """The writer wrote one item: wake a waiting pump once the queue is low enough."""
        if self.drained is not None and self.pending() <= self.capacity // 4:
            self.drained.set()
            self.drained = None

    def offer(self, item: str | _Close) -> bool:
        """Queue ``item`` without waiting; False when the queue is full."""
        try:
            self.queue.send_nowait(item)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True


@attrs.define
class StreamHub:
    """The open connections, and what they subscribe to."""

    clock: MarketClock
    connections: set[Connection] = attrs.field(factory=set)
    frames_published: int = 0
    slow_consumers_closed: int = 0

    def wanted(self) -> set[StreamKey]:
        """Every fed stream at least one connection subscribes to."""
        return {key for conn in self.connections for key in conn.subs.fed()}

    def publish(self, payloads: dict[str, str]) -> int:
        """Offer encoded payloads (stream name -> data JSON) to their subscribers, in the order of
        ``payloads``; returns sends."""
        sent = 0
        for conn in list(self.connections):
            subscribed = conn.subs.streams
            for name, data in payloads.items():
                if name not in subscribed:
                    continue
                if not conn.offer(combined_frame(name, data) if conn.combined else data):
                    self.slow_consumers_closed += 1
                    self.close(conn)
                    break
                sent += 1
        self.frames_published += sent
        return sent

    async def wait_for_room(self, patience: float) -> None:
        """Wait until no queue is more than half full; drop those still full after ``patience``."""
        for conn in list(self.connections):
            if conn.pending() <= conn.capacity // 2:
                continue
            conn.drained = event = trio.Event()
            with trio.move_on_after(patience):
                await event.wait()
            if not event.is_set() and conn in self.connections:
                self.slow_consumers_closed += 1
                self.close(conn)

    def close(self, conn: Connection) -> None:
        """End a connection abruptly (its handler returns without a close frame)."""
        self.connections.discard(conn)
        conn.scope.cancel()

    def drop_all(self) -> int:
        """Fault: end every connection abruptly."""
        conns = list(self.connections)
        for conn in conns:
            self.close(conn)
        return len(conns)

    def inject(self, frames: list[str]) -> int:
        """Fault: queue raw ``frames`` on every connection; returns how many connections."""
        for conn in self.connections:
            for frame in frames:
                conn.offer(frame)
        return len(self.connections)

    def shutdown_all(self, close_after: float | None) -> int:
        """Fault: send ``serverShutdown`` to every connection, close each ``close_after`` later."""
        event = dumps({"e": "serverShutdown", "E": self.clock.now_ms()})
        conns = list(self.connections)
        for conn in conns:
            conn.offer(event)
            if close_after is not None:
                conn.scope.deadline = min(conn.scope.deadline, trio.current_time() + close_after)
        return len(conns)


@attrs.define
class Truth:
    """What the exchange produced: every closed candle, and the closed frames it actually sent."""

    market: Market
    clock: MarketClock
    _sent: dict[tuple[str, str], deque[int]] = attrs.field(factory=dict, init=False)

    @property
    def start_ms(self) -> int:
        """Market time the exchange started at."""
        return self.clock.start_ms

    def closed(
        self,
        symbol: str,
        interval: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[Any]:
        """Klines of ``symbol``/``interval`` that closed in ``(since_ms, until_ms]`` market time.

        Defaults: since the exchange started, until now. Whether or not anyone was connected,
        these are the candles a client must end up with, each exactly once.
        """
        since = self.clock.start_ms if since_ms is None else since_ms
        until = self.clock.now_ms() if until_ms is None else until_ms
        return self.market.closed_between(symbol, interval, since, until)

    def record_sent(self, symbol: str, interval: str, open_time: int) -> None:
        """Note that a closed frame for this bar went out to subscribers."""
        self._sent.setdefault((symbol, interval), deque(maxlen=SENT_HISTORY)).append(open_time)

    def sent(self, symbol: str, interval: str) -> list[int]:
        """Open times of the closed frames sent for ``symbol``/``interval`` (oldest first)."""
        return list(self._sent.get((symbol, interval), ()))


def build_payloads(market: Market, event: Event, wanted: set[StreamKey]) -> dict[str, str]:
    """Encoded ``data`` JSON per stream name for everything in ``wanted`` due at ``event``.

    Closed klines come first (by symbol), then forming ones, then tickers: Binance's streams
    are independent, so nothing makes a close wait behind another stream's frames of the same
    instant.
    """
    closed_out: list[tuple[str, str]] = []
    forming_out: list[tuple[str, str]] = []
    tickers_out: list[tuple[str, str]] = []
    at = event.at
    for key in sorted(wanted, key=lambda k: k.name):
        if key.kind == "ticker":
            if event.tickers and key.symbol in market.symbols:
                ticker = market.ticker(key.symbol, at)
                if ticker is not None:
                    tickers_out.append((key.name, dumps(ticker.stream_payload(at))))
            continue
        assert key.interval is not None
        if key.interval in event.closing:
            open_time, closed = at - timeframe_ms(key.interval), True
        elif key.interval in event.forming:
            open_time, closed = bar_open(key.interval, at), False
        else:
            continue
        if key.symbol not in market.symbols:
            continue
        kline = market.kline_at(key.symbol, key.interval, open_time, at)
        if kline is not None:
            payload = dumps(kline.stream_payload(key.symbol, at, closed=closed))
            (closed_out if closed else forming_out).append((key.name, payload))
    return dict(closed_out + forming_out + tickers_out)


async def run_pump(
    market: Market,
    clock: MarketClock,
    hub: StreamHub,
    faults: FaultControl,
    truth: Truth,
    timeframes: tuple[str, ...],
    *,
    slow_consumer_s: float = 10.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Walk the market timeline forever, publishing due frames; cancel to stop."""
    t = clock.start_ms
    task_status.started()
    while True:
        event = market.next_event(t, timeframes)
        await trio.sleep_until(clock.trio_time(event.at))
        t = event.at
        wanted = hub.wanted()
        if not wanted or faults.stalled(trio.current_time()):
            continue
        payloads = build_payloads(market, event, wanted)
        hub.publish(payloads)
        for key in wanted:
            if key.interval in event.closing and key.name in payloads:
                truth.record_sent(key.symbol, key.interval, t - timeframe_ms(key.interval))
        await hub.wait_for_room(slow_consumer_s)


@attrs.define
class ExchangeApp:
    """The raw ASGI application: REST under ``/api/v3``, streams at ``/stream`` and ``/ws``."""

    rest: RestApi
    hub: StreamHub
    clock: MarketClock
    faults: FaultControl
    max_streams: int
    max_messages_per_s: int
    send_queue: int
    connection_lifetime_s: float | None
    #: Called with each frame's text once written (see ``ExchangeConfig.on_sent``).
    on_sent: Callable[[str], None] | None = None
    rest_requests: int = 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            await self._http(scope, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Message, send: Send) -> None:
        self.rest_requests += 1
        client = scope.get("client") or ("unknown", 0)
        query = scope.get("query_string", b"").decode("latin-1")
        response = self.rest.handle(
            scope["method"],
            scope["path"],
            query,
            client[0],
            trio.current_time(),
            self.clock.now_ms(),
        )
        delay = self.faults.take_rest_delay()
        if delay > 0:
            await trio.sleep(delay)
        body = b"" if scope["method"] == "HEAD" else response.body
        headers = [
            (b"content-type", JSON_TYPE.encode()),
            (b"content-length", str(len(response.body)).encode()),
            *((k.encode(), v.encode()) for k, v in response.headers),
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _reject(self, send: Send, status: int, code: int, msg: str) -> None:
        body = dumps({"code": code, "msg": msg}).encode()
        headers = [
            (b"content-type", JSON_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})

    async def _websocket(self, scope: Message, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if self.faults.take_restricted():
            await self._reject(send, 451, 0, RESTRICTED_MSG)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        endpoint = streams_from_path(scope["path"], query)
        if endpoint is None:
            await self._reject(send, 404, -1000, f"Unknown stream endpoint {scope['path']}.")
            return
        combined, names = endpoint
        subs = Subscriptions(self.max_streams, self.max_messages_per_s)
        if not subs.add(names):
            msg = f"A connection can have at most {self.max_streams} streams."
            await self._reject(send, 400, -1121, msg)
            return
        await send({"type": "websocket.accept"})
        queue_in, queue_out = trio.open_memory_channel[str | _Close](self.send_queue)
        conn = Connection(subs, combined, queue_in, self.send_queue)
        if self.connection_lifetime_s is not None:
            conn.scope.deadline = trio.current_time() + self.connection_lifetime_s
        self.hub.connections.add(conn)
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader, conn, receive, nursery.cancel_scope)
                    await self._writer(conn, queue_out, send)
                    nursery.cancel_scope.cancel()
            if conn.scope.cancelled_caught and conn.scope.deadline <= trio.current_time():
                # Lifetime over or shutdown grace elapsed: a proper goodbye, like Binance's.
                with trio.move_on_after(1) as cleanup:
                    cleanup.shield = True
                    await send({"type": "websocket.close", "code": CLOSE_GOING_AWAY})
        finally:
            self.hub.connections.discard(conn)
            queue_in.close()

    async def _reader(self, conn: Connection, receive: Receive, done: trio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                done.cancel()
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            outcome = conn.subs.handle(text, trio.current_time())
            if outcome.reply is not None:
                conn.offer(outcome.reply)
            if outcome.close_code is not None:
                conn.offer(_Close(outcome.close_code, outcome.close_reason))
                return

    async def _writer(
        self, conn: Connection, queue: trio.MemoryReceiveChannel[str | _Close], send: Send
    ) -> None:
        async for item in queue:
            if isinstance(item, _Close):
                self.hub.connections.discard(conn)
                await send({"type": "websocket.close", "code": item.code, "reason": item.reason})
                return
            await send({"type": "websocket.send", "text": item})
            conn.note_sent()
            if self.on_sent is not None:
                self.on_sent(item)


__all__ = [
    "CLOSE_POLICY",
    "Connection",
    "ExchangeApp",
    "StreamHub",
    "Truth",
    "build_payloads",
    "run_pump",
]
