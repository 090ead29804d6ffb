"""The connected browser clients and the broadcast to them.

Each client has a bounded send queue drained by its own writer task. :meth:`Hub.broadcast` is
synchronous and never blocks: it encodes the message once and offers it to every authenticated
client (a batched message -- ``signals_created``, ``signal_outcomes`` -- goes whole to a browser
whose protocol version knows it, one message per item to an older one: each form encoded
once). A client is dropped (closed 1013 "client too slow") and never slows the others when its
backlog passes ``queue_size`` messages and its writer has not sent one for ``stall_s`` seconds,
or when the backlog reaches ``BURST_FACTOR × queue_size`` whatever it does. A browser that keeps
reading therefore survives a burst bigger than its queue (a close of a large universe can fire
hundreds of signals at once); only one that stopped reading, or cannot keep up for long, goes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from vyx.server.batches import BATCHES, per_item
from vyx.server.protocol import encode
from vyx.telemetry.metrics import Metrics

#: Close codes used by the server.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN = 1013

_ids = itertools.count(1)

#: A client still reading may fall this many queues behind before it is dropped anyway.
BURST_FACTOR = 8


class Client:
    """One WebSocket connection, from accept to close.

    Args:
        peer: ``host:port`` of the browser (for logs).
        queue_size: how many messages may wait to be sent before the client may count as slow.
        stall_s: a client with more than ``queue_size`` waiting is slow once its writer has
            sent nothing for this long.
    """

    def __init__(self, peer: str, queue_size: int, stall_s: float = 5.0) -> None:
        self.id = next(_ids)
        self.peer = peer
        self.authenticated = False
        #: The session's protocol version (:func:`~vyx.server.protocol.session_version`).
        self.protocol = 1
        #: Set when the server decided to close this client.
        self.close_code: int | None = None
        self.close_reason = ""
        #: The session runs inside it; :meth:`drop` cancels it.
        self.cancel_scope = trio.CancelScope()
        self.queue_size = queue_size
        self.stall_s = stall_s
        self._send, self.outbox = trio.open_memory_channel[str](queue_size * BURST_FACTOR)
        #: When the writer last sent a message or found the queue empty (trio time).
        self.progress_at = trio.current_time()
        #: Messages queued, and sent by the writer, since the connection opened.
        self.queued = 0
        self.delivered = 0
        self._progressed = trio.Event()
        self._ended = False

    def sent(self) -> None:
        """The writer delivered a message."""
        self.progress_at = trio.current_time()
        self.delivered += 1
        self._progressed.set()
        self._progressed = trio.Event()

    async def sent_upto(self, count: int) -> None:
        """Return once the writer sent ``count`` messages (or the client is closing).
        Cancellation: safe."""
        while self.delivered < count and self.close_code is None and not self._ended:
            await self._progressed.wait()

    def offer(self, text: str) -> bool:
        """Queue ``text`` without blocking; a slow client is dropped instead. True if queued."""
        if self.close_code is not None:
            return False
        waiting = self._send.statistics().current_buffer_used
        now = trio.current_time()
        if waiting == 0:
            self.progress_at = now
        elif waiting >= self.queue_size and now - self.progress_at >= self.stall_s:
            self.drop(CLOSE_TRY_AGAIN, "client too slow")
            return False
        try:
            self._send.send_nowait(text)
        except trio.WouldBlock:
            self.drop(CLOSE_TRY_AGAIN, "client too slow")
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        self.queued += 1
        return True

    def drop(self, code: int, reason: str) -> None:
        """Close this client with ``code``/``reason`` (its session sends the close frame)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self.cancel_scope.cancel()
        self._progressed.set()  # nobody waits for its writer any more

    def close_queue(self) -> None:
        """Release the queue (the session has ended)."""
        self._send.close()
        self.outbox.close()
        self._ended = True
        self._progressed.set()


@attrs.frozen
class HubStatistics:
    """Counts of the hub."""

    #: Open connections (authenticated or not yet).
    connections: int
    #: Authenticated clients receiving broadcasts.
    clients: int
    #: Clients dropped because their send queue was full, since start.
    dropped_slow: int
    #: Messages broadcast (each counted once, whatever the number of clients).
    broadcasts: int


class Hub:
    """The set of connections; broadcasts to the authenticated ones."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._connections: dict[int, Client] = {}
        self._changed = trio.Event()
        self._dropped_slow = 0
        self._broadcasts = 0

    def _notify(self) -> None:
        self._metrics.ws_clients.set(sum(c.authenticated for c in self._connections.values()))
        self._changed.set()
        self._changed = trio.Event()

    def add(self, client: Client) -> None:
        """Track a new connection."""
        self._connections[client.id] = client
        self._notify()

    def authenticated(self, client: Client) -> None:
        """``client`` starts receiving broadcasts (call right after queueing hello+snapshot)."""
        client.authenticated = True
        self._notify()

    def remove(self, client: Client) -> None:
        """Forget a connection (its session has ended)."""
        if self._connections.pop(client.id, None) is not None:
            if client.close_reason == "client too slow":
                self._dropped_slow += 1
            if client.close_code is not None:
                self._metrics.ws_dropped.labels(client.close_reason).inc()
            self._notify()

    def broadcast(self, message: Mapping[str, Any]) -> int:
        """Queue ``message`` to every authenticated client, never blocking.

        Returns the number of clients it was queued to; slow clients are dropped. A batched
        message (:data:`~vyx.server.protocol.BATCHES`) reaches a client of an older version as
        one message per item (counted as one message queued here, as many in
        ``vyx_ws_messages_sent``).
        """
        self._broadcasts += 1
        text: str | None = None
        singles: list[str] | None = None
        queued = sent = 0
        batch = BATCHES.get(message.get("type", ""))
        for client in list(self._connections.values()):
            if not client.authenticated:
                continue
            if batch is None or client.protocol >= batch.version:
                text = encode(message) if text is None else text
                ok = client.offer(text)
                sent += ok
            else:
                if singles is None:
                    singles = [encode(m) for m in per_item(message, client.protocol) or ()]
                ok = all(client.offer(t) for t in singles)
                sent += len(singles) if ok else 0
            queued += ok
        self._metrics.ws_messages_sent.inc(sent)
        return queued

    async def sent(self, timeout_s: float) -> None:
        """Return once every client's writer has sent what was queued to it before the call
        (the bytes are in its socket), or after ``timeout_s`` (a browser that reads slowly
        holds nobody up for longer). Cancellation: safe."""
        waits = [(c, c.queued) for c in self._connections.values() if c.authenticated]
        with trio.move_on_after(timeout_s):
            for client, count in waits:
                await client.sent_upto(count)

    def close_all(self, code: int, reason: str) -> None:
        """Ask every connection to close with ``code``/``reason``."""
        for client in list(self._connections.values()):
            client.drop(code, reason)

    async def wait_until(
        self, *, clients: int | None = None, connections: int | None = None
    ) -> None:
        """Wait until exactly ``clients`` authenticated clients and/or ``connections`` are open.

        Cancellation: safe.
        """
        while True:
            stats = self.statistics()
            if (clients is None or stats.clients == clients) and (
                connections is None or stats.connections == connections
            ):
                return
            await self._changed.wait()

    def statistics(self) -> HubStatistics:
        """The current counts."""
        return HubStatistics(
            connections=len(self._connections),
            clients=sum(c.authenticated for c in self._connections.values()),
            dropped_slow=self._dropped_slow,
            broadcasts=self._broadcasts,
        )
