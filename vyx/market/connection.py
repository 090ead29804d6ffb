"""Combined-stream WebSocket connections: one supervisor per shard, never giving up.

A shard's supervisor (:func:`run_shard`) keeps one connection serving the shard's streams:

- a connection subscribes to the first streams in its URL and the rest with SUBSCRIBE
  messages, at most ``subscribe_rate`` messages per second, and follows later changes of the
  shard's stream set with SUBSCRIBE/UNSUBSCRIBE;
- it is *ready* once every stream is subscribed and a data frame has arrived;
- no frame for ``stale_after_s`` -> it is closed (stale-stream watchdog) and replaced;
- a lost connection is replaced after a capped, jittered exponential backoff, forever — except
  when Binance refuses the location (HTTP 451 at the handshake): the shard stops for good and
  says so through ``on_restricted`` (:mod:`vyx.market.restriction`);
- before Binance's 24 h cut (``rotate_after_s``) and on ``serverShutdown``, a second connection
  is opened and made ready *before* the old one is closed (make-before-break). Both feed the
  same channel meanwhile; the history writer is idempotent, so overlap costs nothing and
  nothing is lost.

Frames are read by :mod:`vyx.market.websocket` a socket read at a time and parsed here;
malformed ones are counted and skipped. The klines and tickers of one read go to the output
channel as one batch (bounded: a slow writer slows the socket reads, never drops).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

import attrs
import trio
from loguru import logger

from vyx.market.frames import (
    FrameError,
    Kline,
    ServerShutdown,
    SubscriptionReply,
    Ticker,
    parse_frame,
    subscribe_message,
)
from vyx.market.restriction import is_restricted, refusal_reason
from vyx.market.websocket import HandshakeFailed, MarketSocket, WebSocketError, open_market_socket
from vyx.retry import Backoff

#: Real Binance spot streams (``BINANCE_WS_URL``).
DEFAULT_WS_URL = "wss://stream.binance.com:9443"

Connect = Callable[[str], contextlib.AbstractAsyncContextManager[MarketSocket]]
#: What a connection hands the writer: the klines and tickers of one socket read, in order.
Batch = list[Kline | Ticker]
#: Told once when Binance refuses the location at a handshake: ``(where, reason)``.
OnRestricted = Callable[[str, str], None]


class StaleStream(Exception):
    """No frame arrived within the watchdog period."""


@attrs.frozen
class StreamConfig:
    """WebSocket settings."""

    ws_url: str = DEFAULT_WS_URL
    #: Streams named in the connection URL; the rest are SUBSCRIBEd.
    url_streams: int = 100
    #: Streams per SUBSCRIBE message.
    streams_per_message: int = 100
    #: Control messages per second per connection (Binance allows 5, pongs included).
    subscribe_rate: float = 4.0
    stale_after_s: float = 30.0
    connect_timeout_s: float = 10.0
    #: Rotate before Binance's 24 h disconnect.
    rotate_after_s: float = 23.5 * 3600
    #: How long a replacement connection may take to become ready.
    ready_timeout_s: float = 30.0
    #: A connection up this long resets the reconnect backoff.
    stable_after_s: float = 10.0
    backoff: Backoff = attrs.field(factory=lambda: Backoff(initial=0.5, maximum=60.0))


@attrs.frozen
class ConnectionStatistics:
    """One live connection."""

    shard: int
    id: int
    #: "connecting", "subscribing", "ready", "rotating" (being replaced) or "idle" (no streams).
    state: str
    streams: int
    frames: int
    #: Frames per second over the last complete 5 s window.
    frames_per_s: float
    #: Seconds since the last frame (None before the first).
    last_frame_age_s: float | None
    malformed: int
    connected_for_s: float


@attrs.define
class _Conn:
    shard: int
    id: int
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    state: str = "connecting"
    streams: int = 0
    frames: int = 0
    malformed: int = 0
    other: int = 0
    sub_errors: int = 0
    opened_at: float = 0.0
    last_frame_at: float | None = None
    window_start: float = 0.0
    window_frames: int = 0
    rate: float = 0.0
    #: Binance's reason when it refused this connection's location (HTTP 451).
    restricted: str | None = None

    def count_frames(self, n: int, now: float) -> None:
        self.frames += n
        self.last_frame_at = now
        if now - self.window_start >= 5.0:
            self.rate = (self.frames - self.window_frames) / (now - self.window_start)
            self.window_start, self.window_frames = now, self.frames

    def snapshot(self, now: float) -> ConnectionStatistics:
        age = None if self.last_frame_at is None else now - self.last_frame_at
        return ConnectionStatistics(
            self.shard,
            self.id,
            self.state,
            self.streams,
            self.frames,
            self.rate,
            age,
            self.malformed,
            now - self.opened_at,
        )


class Shard:
    """The stream set of one shard and the counters of its connections."""

    def __init__(self, index: int, streams: list[str] | tuple[str, ...] = ()) -> None:
        self.index = index
        self.streams: tuple[str, ...] = tuple(streams)
        self._changed = trio.Event()
        self.conns: dict[int, _Conn] = {}
        self.reconnects = 0
        self.rotations = 0
        self.malformed = 0
        self.frames = 0
        #: Set when Binance refused the location: the shard no longer connects.
        self.restricted: str | None = None

    def set_streams(self, streams: list[str] | tuple[str, ...]) -> None:
        """Change the stream set; live connections (un)subscribe the difference."""
        self.streams = tuple(streams)
        self._changed.set()
        self._changed = trio.Event()

    @property
    def changed(self) -> trio.Event:
        """Set by the next :meth:`set_streams` call."""
        return self._changed

    def statistics(self) -> list[ConnectionStatistics]:
        """Every live connection of the shard."""
        now = trio.current_time()
        return [c.snapshot(now) for c in self.conns.values()]


_ids = itertools.count(1)


@contextlib.asynccontextmanager
async def open_stream(url: str, cfg: StreamConfig) -> AsyncIterator[MarketSocket]:
    """A connected :class:`~vyx.market.websocket.MarketSocket` (its socket always closed on
    exit); connecting and the handshake are each bounded by ``connect_timeout_s``."""
    async with open_market_socket(url, connect_timeout_s=cfg.connect_timeout_s) as ws:
        yield ws


async def run_shard(
    cfg: StreamConfig,
    shard: Shard,
    out: trio.MemorySendChannel[Batch],
    *,
    connect: Connect | None = None,
    on_restricted: OnRestricted | None = None,
    on_reconnected: Callable[[], None] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep the shard's streams flowing into ``out`` forever; started once first ready;
    ``on_reconnected()`` each time a connection replacing a lost one is ready (bars may have
    closed meanwhile without a frame; a rotation loses nothing and is not told).

    A handshake refused for the location (HTTP 451) stops the shard: ``on_restricted`` is told,
    no connection is opened again, and the task waits for cancellation (it is then never started
    if that happens before the first connection was ready). Cancellation closes the connections
    (bounded by the close handshake timeout).
    """
    opener: Connect = connect or (lambda url: open_stream(url, cfg))
    backoff = cfg.backoff
    started = False
    notify_send, notify_recv = trio.open_memory_channel[tuple[str, _Conn]](16)
    link = _Link(cfg, shard, out, notify_send, opener)
    async with trio.open_nursery() as nursery:

        def launch() -> _Conn:
            conn = _Conn(shard.index, next(_ids), opened_at=trio.current_time())
            conn.window_start = conn.opened_at
            shard.conns[conn.id] = conn
            nursery.start_soon(_connection, link, conn)
            return conn

        current = launch()
        candidate: _Conn | None = None
        async for kind, conn in notify_recv:
            if kind == "ready":
                if conn is current and not started:
                    started = True
                    task_status.started()
                elif conn is current and on_reconnected is not None:
                    on_reconnected()
                elif conn is candidate:
                    current.state = "rotating"
                    current.scope.cancel()
                    current, candidate = conn, None
                    shard.rotations += 1
                    logger.info("shard {}: rotated to connection {}", shard.index, conn.id)
            elif kind == "rotate" and conn is current and candidate is None:
                candidate = launch()
                nursery.start_soon(_ready_deadline, cfg, candidate)
            elif kind == "closed":
                shard.conns.pop(conn.id, None)
                if conn is candidate:
                    candidate = None
                    # The old one still serves; ask again after a while.
                    nursery.start_soon(_rotate_later, backoff.delay(), current, notify_send)
                elif conn is current:
                    if candidate is not None:
                        current, candidate = candidate, None
                        continue
                    if conn.restricted is not None:
                        shard.restricted = conn.restricted
                        if on_restricted is not None:
                            on_restricted(f"{cfg.ws_url} (shard {shard.index})", conn.restricted)
                        await trio.sleep_forever()
                    if trio.current_time() - conn.opened_at >= cfg.stable_after_s:
                        backoff = backoff.succeeded()
                    shard.reconnects += 1
                    delay = backoff.delay()
                    backoff = backoff.failed()
                    logger.warning("shard {}: reconnecting in {:.1f}s", shard.index, delay)
                    await trio.sleep(delay)
                    current = launch()


async def _ready_deadline(cfg: StreamConfig, conn: _Conn) -> None:
    await trio.sleep(cfg.ready_timeout_s)
    if conn.state != "ready":
        conn.scope.cancel()


async def _rotate_later(
    delay: float, conn: _Conn, notify: trio.MemorySendChannel[tuple[str, _Conn]]
) -> None:
    await trio.sleep(delay)
    await notify.send(("rotate", conn))


@attrs.frozen
class _Link:
    """What every connection of one shard shares: its settings, where frames go, whom to tell
    about its life (``ready``/``rotate``/``closed``), how to open a socket."""

    cfg: StreamConfig
    shard: Shard
    out: trio.MemorySendChannel[Batch]
    notify: trio.MemorySendChannel[tuple[str, _Conn]]
    connect: Connect


async def _connection(link: _Link, conn: _Conn) -> None:
    shard, notify = link.shard, link.notify
    with conn.scope:
        try:
            await _serve(link, conn)
        except* (
            WebSocketError,
            OSError,
            StaleStream,
            trio.TooSlowError,
        ) as group:
            leaves = _leaves(group)
            conn.restricted = _restriction(leaves)
            if conn.restricted is None:
                reason = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)
                logger.warning("shard {} connection {}: {}", shard.index, conn.id, reason)
    with trio.CancelScope(shield=True):
        await notify.send(("closed", conn))


def _restriction(leaves: list[BaseException]) -> str | None:
    """Binance's reason when one of the failures is a handshake refused for the location."""
    for leaf in leaves:
        if (
            isinstance(leaf, HandshakeFailed)
            and leaf.status_code is not None
            and is_restricted(leaf.status_code, leaf.body)
        ):
            return refusal_reason(leaf.body)
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


async def _serve(link: _Link, conn: _Conn) -> None:
    cfg, shard, out, notify = link.cfg, link.shard, link.out, link.notify
    while not shard.streams:
        # Nothing to serve (the universe shrank): no connection, so no stale-stream churn.
        conn.state = "idle"
        await shard.changed.wait()
    first = list(shard.streams[: cfg.url_streams])
    base = cfg.ws_url.rstrip("/")
    url = f"{base}/stream?streams={'/'.join(first)}" if first else f"{base}/stream"
    async with link.connect(url) as ws, trio.open_nursery() as nursery:
        conn.state = "subscribing"
        subscribed = set(first)
        pending: set[int] = set()
        conn.streams = len(subscribed)
        nursery.start_soon(_subscriber, cfg, shard, conn, ws, subscribed, pending)
        nursery.start_soon(_rotation_timer, cfg, conn, notify)
        nursery.start_soon(_watchdog, cfg, conn, trio.current_time())
        got_data = False
        while True:
            batch = await ws.receive()
            conn.count_frames(len(batch), trio.current_time())
            shard.frames += len(batch)
            data: Batch = []
            for raw in batch:
                try:
                    event = parse_frame(raw)
                except FrameError as exc:
                    conn.malformed += 1
                    shard.malformed += 1
                    if conn.malformed <= 3 or conn.malformed % 1000 == 0:
                        logger.warning("malformed frame #{} skipped: {}", conn.malformed, exc)
                    continue
                if type(event) is Kline or type(event) is Ticker:
                    data.append(event)
                elif isinstance(event, ServerShutdown):
                    logger.info("shard {}: serverShutdown on connection {}", shard.index, conn.id)
                    await notify.send(("rotate", conn))
                elif isinstance(event, SubscriptionReply):
                    if event.id is not None:
                        pending.discard(event.id)
                    if event.error is not None:
                        conn.sub_errors += 1
                        logger.error("shard {}: subscription refused: {}", shard.index, event.error)
                else:
                    conn.other += 1
            if data:
                # No checkpoint while the writer keeps up (receive is one already).
                try:
                    out.send_nowait(data)
                except trio.WouldBlock:
                    await out.send(data)
                got_data = True
            if (
                conn.state == "subscribing"
                and got_data
                and not pending
                and subscribed == set(shard.streams)
            ):
                conn.state = "ready"
                await notify.send(("ready", conn))


async def _watchdog(cfg: StreamConfig, conn: _Conn, since: float) -> None:
    """Raise :class:`StaleStream` once no frame came for ``stale_after_s`` (counting from
    ``since``, the start of serving). One task per connection instead of a timeout around
    every receive: a cancel scope per frame costs more than parsing the frame."""
    while True:
        last = since if conn.last_frame_at is None else max(since, conn.last_frame_at)
        deadline = last + cfg.stale_after_s
        if trio.current_time() >= deadline:
            raise StaleStream(f"no frame for {cfg.stale_after_s:.0f}s")
        await trio.sleep_until(deadline)


async def _rotation_timer(
    cfg: StreamConfig, conn: _Conn, notify: trio.MemorySendChannel[tuple[str, _Conn]]
) -> None:
    await trio.sleep(cfg.rotate_after_s)
    await notify.send(("rotate", conn))


async def _subscriber(
    cfg: StreamConfig,
    shard: Shard,
    conn: _Conn,
    ws: MarketSocket,
    subscribed: set[str],
    pending: set[int],
) -> None:
    """Send SUBSCRIBE/UNSUBSCRIBE for the difference to the shard's set, rate limited."""
    request_ids = itertools.count(1)
    interval = 1.0 / cfg.subscribe_rate
    next_send = trio.current_time()
    while True:
        changed = shard.changed
        wanted = set(shard.streams)
        batches: list[tuple[bool, list[str]]] = []
        gone = sorted(subscribed - wanted)
        new = [s for s in shard.streams if s not in subscribed]
        for on, names in ((False, gone), (True, new)):
            n = cfg.streams_per_message
            batches += [(on, names[i : i + n]) for i in range(0, len(names), n)]
        for on, names in batches:
            await trio.sleep_until(next_send)
            rid = next(request_ids)
            pending.add(rid)
            await ws.send_text(subscribe_message(names, rid, on=on))
            next_send = trio.current_time() + interval
            if on:
                subscribed.update(names)
            else:
                subscribed.difference_update(names)
            conn.streams = len(subscribed)
        await changed.wait()
