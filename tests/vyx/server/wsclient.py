"""A small WebSocket test client: wsproto over a Trio socket, always closing its socket.

(trio-websocket's client leaves its TCP socket open when the server initiates the close, which
``filterwarnings = error`` turns into failures; this client also lets tests shrink the receive
buffer and send raw frames.)
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

STEP_S = 5.0


@attrs.frozen
class CloseReason:
    code: int
    reason: str


class Closed(Exception):
    """The connection is closed; ``close`` says how (1006: without a close frame)."""

    def __init__(self, close: CloseReason) -> None:
        super().__init__(f"closed {close.code} {close.reason!r}")
        self.close = close


class Rejected(Exception):
    """The server refused the upgrade with an HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"upgrade rejected with HTTP {status}")
        self.status = status


class WsClient:
    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self._stream = stream
        self._ws = ws
        self._messages: deque[str | bytes] = deque()
        self._parts: list[str | bytes] = []
        self.close: CloseReason | None = None

    async def _send(self, data: bytes) -> None:
        with trio.fail_after(STEP_S):
            await self._stream.send_all(data)

    async def send_text(self, text: str) -> None:
        await self._send(self._ws.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self._send(self._ws.send(BytesMessage(data=data)))

    async def get_message(self) -> str | bytes:
        """The next message; raises :class:`Closed` once the server closed."""
        with trio.fail_after(STEP_S):
            while not self._messages:
                if self.close is not None:
                    raise Closed(self.close)
                await self._pump()
        return self._messages.popleft()

    async def _pump(self) -> None:
        try:
            data = await self._stream.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        if not data:
            self.close = self.close or CloseReason(1006, "")
            return
        self._ws.receive_data(data)
        await self._process()

    async def _process(self) -> None:
        for event in self._ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
                if event.message_finished:
                    joined = (
                        "".join(p for p in self._parts if isinstance(p, str))
                        if isinstance(event, TextMessage)
                        else b"".join(p for p in self._parts if isinstance(p, bytes))
                    )
                    self._messages.append(joined)
                    self._parts = []
            elif isinstance(event, CloseConnection):
                self.close = CloseReason(event.code, event.reason or "")
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await self._send(self._ws.send(event.response()))
            elif isinstance(event, Ping):
                await self._send(self._ws.send(event.response()))

    async def closed(self) -> CloseReason:
        """Read (and discard) until the server closes; how it closed."""
        with trio.fail_after(STEP_S):
            while True:
                try:
                    await self.get_message()
                except Closed as exc:
                    return exc.close

    async def aclose(self) -> None:
        with trio.move_on_after(STEP_S) as scope:
            scope.shield = True
            if self._ws.state is ConnectionState.OPEN:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._send(self._ws.send(CloseConnection(code=1000)))
            await self._stream.aclose()


@asynccontextmanager
async def connect(url: str, *, receive_buffer: int | None = None) -> AsyncIterator[WsClient]:
    """A connected client for ``ws://host:port/path?query``."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    try:
        with trio.fail_after(STEP_S):
            await sock.connect((parts.hostname, parts.port))
    except BaseException:
        sock.close()
        raise
    stream = trio.SocketStream(sock)
    ws = WSConnection(ConnectionType.CLIENT)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    client = WsClient(stream, ws)
    try:
        await client._send(ws.send(Request(host=parts.netloc, target=target)))
        with trio.fail_after(STEP_S):
            accepted = False
            while not accepted:
                data = await stream.receive_some(65536)
                if not data:
                    raise Rejected(0)
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        accepted = True
                        break  # what came in the same read is the client's (hello...)
                    if isinstance(event, RejectConnection):
                        raise Rejected(event.status_code)
            await client._process()
        yield client
    finally:
        await client.aclose()
