"""The market's WebSocket client: wsproto speaks the protocol, data frames take a fast path.

A combined stream is thousands of small unfragmented text frames a second. wsproto (the
sans-IO protocol library) builds several objects per frame and trio-websocket adds a reader
task and a channel hop on top: most of a frame's cost was there, not in its JSON. So:

- :class:`FrameReader` (sans-IO) slices each *complete, unfragmented, unmasked text or binary
  frame* out of the receive buffer itself: a few byte reads, no object but the payload;
- every other frame -- ping, pong, close, the fragments of a message, anything malformed -- is
  handed, whole and in order, to a :class:`wsproto.connection.Connection`, which stays the
  authority on the protocol (it answers pings, closes, assembles fragments, raises on protocol
  errors). It only ever sees whole frames, so its parser is always at a frame boundary;
- :class:`MarketSocket` is the I/O shell: :meth:`~MarketSocket.receive` returns every message
  that one read of the socket completed, as one batch.

The opening handshake is wsproto's (:class:`wsproto.handshake.H11Handshake`); bytes after the
101 response go to the reader. Payloads are returned as they came (bytes, or str for a message
wsproto assembled): their UTF-8 is checked by the JSON decoder, which fails on bad bytes -- the
frame is then counted as malformed and skipped, the connection kept.

Limits: a message over ``max_message`` bytes (default 1 MiB; Binance's largest are a few KiB)
closes the connection with :class:`WebSocketClosed` (code 1009) before it is buffered.

Errors: :class:`HandshakeFailed` (the server refused the upgrade or spoke no HTTP) and
:class:`WebSocketClosed` (closed by the server, lost, or a protocol error), both subclasses of
:class:`WebSocketError`. Cancellation of :meth:`~MarketSocket.receive` loses nothing already
read: what was parsed stays queued for the next call.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import ProtocolError

#: Largest message accepted (bytes).
MAX_MESSAGE = 1 << 20
#: Bytes asked of the socket per read: a bucket's frames queued behind each other arrive in a
#: few reads, each returning them as one batch.
RECEIVE_SIZE = 64 * 1024

#: Largest handshake response read (bytes).
MAX_HANDSHAKE = 64 * 1024
#: Bytes kept of a refusal's body (Binance's reason).
MAX_REFUSAL_BODY = 4096

#: Opens the byte stream to a ``ws://`` or ``wss://`` URL's host (the test seam).
OpenStream = Callable[[str], contextlib.AbstractAsyncContextManager[trio.abc.Stream]]


class WebSocketError(Exception):
    """Base of this module's errors."""


class HandshakeFailed(WebSocketError):
    """The server did not accept the WebSocket upgrade.

    ``status_code`` and ``body`` (its first 4 KiB) when it answered with an HTTP refusal
    (Binance's 451 for a restricted location), else None and empty.
    """

    def __init__(self, message: str, status_code: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class WebSocketClosed(WebSocketError):
    """The connection is closed: by the server (its code and reason), lost, or broken."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}".strip())
        self.code = code
        self.reason = reason


class FrameReader:
    """Splits received bytes into messages (fast path) and wsproto events (everything else).

    Args:
        protocol: the client connection, fed every frame that is not taken by the fast path.
        max_message: the largest message (or announced frame) accepted, in bytes.
    """

    def __init__(self, protocol: Connection, max_message: int = MAX_MESSAGE) -> None:
        self.protocol = protocol
        self.max_message = max_message
        self._buf = bytearray()
        #: Inside a fragmented message (its frames go to wsproto until the final one).
        self._fragmented = False
        self._parts: list[bytes | str] = []
        self._part_bytes = 0

    def feed(
        self, data: bytes | bytearray
    ) -> tuple[list[bytes | str], list[CloseConnection | Ping]]:
        """Every message ``data`` completes, in order, and the control events to act on.

        Raises :class:`WebSocketClosed` on a protocol error or an oversized message.
        """
        buf = self._buf
        buf += data
        messages: list[bytes | str] = []
        controls: list[CloseConnection | Ping] = []
        n, pos = len(buf), 0
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if length > self.max_message:
                raise WebSocketClosed(1009, f"frame of {length} bytes over the limit")
            end = start + length + (4 if b1 & 0x80 else 0)
            if end > n:
                break
            if (b0 == 0x81 or b0 == 0x82) and not b1 & 0x80 and not self._fragmented:
                messages.append(bytes(buf[start:end]))
            else:
                self._slow(bytes(buf[pos:end]), b0, messages, controls)
            pos = end
        if pos:
            del buf[:pos]
        return messages, controls

    def _slow(
        self,
        frame: bytes,
        b0: int,
        messages: list[bytes | str],
        controls: list[CloseConnection | Ping],
    ) -> None:
        """One whole frame through wsproto."""
        opcode, fin = b0 & 0x0F, bool(b0 & 0x80)
        if opcode in (0x0, 0x1, 0x2):
            self._fragmented = not fin
        try:
            self.protocol.receive_data(frame)
            for event in self.protocol.events():
                if isinstance(event, TextMessage | BytesMessage):
                    self._part_bytes += len(event.data)
                    if self._part_bytes > self.max_message:
                        raise WebSocketClosed(1009, "message over the limit")
                    self._parts.append(
                        event.data if isinstance(event.data, str) else bytes(event.data)
                    )
                    if event.message_finished:
                        messages.append(_join(self._parts))
                        self._parts, self._part_bytes = [], 0
                elif isinstance(event, CloseConnection | Ping):
                    controls.append(event)
        except ProtocolError as exc:
            raise WebSocketClosed(1002, f"protocol error: {exc}") from None


def _join(parts: list[bytes | str]) -> bytes | str:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, str) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    return b"".join(p.encode() if isinstance(p, str) else p for p in parts)


class MarketSocket:
    """An open client connection over ``stream`` (see :func:`open_market_socket`)."""

    def __init__(self, stream: trio.abc.Stream, reader: FrameReader, trailing: bytes = b"") -> None:
        self.stream = stream
        self.reader = reader
        #: Bytes read with the handshake's response, not yet fed to the reader.
        self._trailing = trailing
        self.closed: WebSocketClosed | None = None
        self._queued: list[bytes | str] = []
        self._send_lock = trio.Lock()

    async def receive(self) -> list[bytes | str]:
        """The next batch of messages (at least one); answers pings and closes on the way.

        Raises :class:`WebSocketClosed` once the connection is closed or broken.
        """
        while not self._queued:
            if self.closed is not None:
                raise self.closed
            data: bytes | bytearray = self._trailing
            self._trailing = b""
            try:
                data = data or await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise self._close(1006, f"connection lost: {exc}") from None
            if not data:
                raise self._close(1006, "connection lost")
            try:
                messages, controls = self.reader.feed(data)
            except WebSocketClosed as exc:
                raise self._close(exc.code, exc.reason) from None
            self._queued += messages
            for event in controls:
                if self.closed is not None:
                    break  # nothing is answered after a close
                if isinstance(event, CloseConnection):
                    # wsproto reports the server's close, or its own on a protocol error.
                    # Messages before it are still delivered.
                    self._close(event.code, event.reason or "closed by the server")
                with contextlib.suppress(ProtocolError, WebSocketClosed):
                    await self._send(self.reader.protocol.send(event.response()))
        batch, self._queued = self._queued, []
        return batch

    async def send_text(self, text: str) -> None:
        """Send one text message; raises :class:`WebSocketClosed` once closed."""
        if self.closed is not None:
            raise self.closed
        await self._send(self.reader.protocol.send(TextMessage(data=text)))

    async def _send(self, data: bytes) -> None:
        try:
            async with self._send_lock:
                await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._close(1006, f"connection lost: {exc}") from None

    def _close(self, code: int, reason: str) -> WebSocketClosed:
        if self.closed is None:
            self.closed = WebSocketClosed(code, reason)
        return self.closed

    async def aclose(self, timeout_s: float = 2.0) -> None:
        """Say goodbye (a close frame, bounded by ``timeout_s``) and close the stream."""
        with trio.CancelScope(shield=True), trio.move_on_after(timeout_s):
            if self.closed is None:
                self._close(1000, "closed by the client")
                with contextlib.suppress(WebSocketError, ProtocolError):
                    await self._send(self.reader.protocol.send(CloseConnection(code=1000)))
        await trio.aclose_forcefully(self.stream)


async def handshake(
    stream: trio.abc.Stream, url: str, max_message: int = MAX_MESSAGE
) -> MarketSocket:
    """Upgrade ``stream`` to a WebSocket for ``url``; raises :class:`HandshakeFailed`."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    shake = H11Handshake(ConnectionType.CLIENT)
    received = bytearray()
    refused: int | None = None
    body = bytearray()
    try:
        await stream.send_all(shake.send(Request(host=parts.netloc, target=target)))
        while True:
            data = await stream.receive_some(RECEIVE_SIZE)
            if not data:
                break
            received += data
            if len(received) > MAX_HANDSHAKE:
                break
            shake.receive_data(bytes(data))
            for event in shake.events():
                if isinstance(event, AcceptConnection):
                    head_end = received.find(b"\r\n\r\n") + 4
                    reader = FrameReader(
                        Connection(ConnectionType.CLIENT, event.extensions), max_message
                    )
                    return MarketSocket(stream, reader, bytes(received[head_end:]))
                if isinstance(event, RejectConnection):
                    refused = event.status_code
                    if not event.has_body:
                        raise _refused(refused, body)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished or len(body) >= MAX_REFUSAL_BODY:
                        raise _refused(refused, body)
    except ProtocolError as exc:
        raise HandshakeFailed(f"bad handshake response: {exc}") from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise HandshakeFailed(f"connection lost during the handshake: {exc}") from None
    if refused is not None:
        raise _refused(refused, body)
    if len(received) > MAX_HANDSHAKE:
        raise HandshakeFailed(f"handshake response over {MAX_HANDSHAKE} bytes")
    raise HandshakeFailed("the server closed the connection during the handshake")


def _refused(status: int | None, body: bytearray) -> HandshakeFailed:
    return HandshakeFailed(
        f"the server refused the upgrade (HTTP {status})", status, bytes(body[:MAX_REFUSAL_BODY])
    )


@contextlib.asynccontextmanager
async def tcp_stream(url: str, timeout_s: float = 10.0) -> AsyncIterator[trio.abc.Stream]:
    """A TCP stream to a ``ws://`` URL's host, TLS for ``wss://`` (certificates verified),
    connected within ``timeout_s`` (:class:`trio.TooSlowError`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise HandshakeFailed(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    stream: trio.abc.Stream
    with trio.fail_after(timeout_s):
        if secure:
            context = ssl.create_default_context()
            stream = await trio.open_ssl_over_tcp_stream(
                parts.hostname, port, ssl_context=context, https_compatible=True
            )
        else:
            stream = await trio.open_tcp_stream(parts.hostname, port)
    try:
        yield stream
    finally:
        await trio.aclose_forcefully(stream)


@contextlib.asynccontextmanager
async def open_market_socket(
    url: str,
    *,
    connect_timeout_s: float = 10.0,
    open_stream: OpenStream | None = None,
    max_message: int = MAX_MESSAGE,
) -> AsyncIterator[MarketSocket]:
    """A connected :class:`MarketSocket` for ``url``; closed (bounded) on exit.

    The TCP (and TLS) connection and then the handshake are each bounded by
    ``connect_timeout_s`` (:class:`trio.TooSlowError`). ``open_stream`` replaces the TCP
    connection (tests). Raises :class:`HandshakeFailed` and :class:`OSError`.
    """
    opened = open_stream(url) if open_stream else tcp_stream(url, connect_timeout_s)
    async with opened as stream:
        with trio.fail_after(connect_timeout_s):
            sock = await handshake(stream, url, max_message)
        try:
            yield sock
        finally:
            await sock.aclose()
