"""A lean WebSocket client (wsproto over a Trio socket)."""

from __future__ import annotations

import socket
import time
from contextlib import suppress

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

#: Deadline of one step of a client (connect, handshake, a reply).
STEP_S = 10.0


class Rejected(Exception):
    """The upgrade was refused with an HTTP status (0: the connection just closed)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Ws:
    """One client connection; :meth:`receive` yields ``(arrival, message)`` pairs."""

    def __init__(self, stream: trio.SocketStream, conn: WSConnection) -> None:
        self.stream = stream
        self.conn = conn
        #: (code, reason) once the server closed (1006: without a close frame).
        self.close: tuple[int, str] | None = None
        self._parts: list[str | bytes] = []
        self._pending: list[tuple[float, str | bytes]] = []

    @classmethod
    async def open(cls, port: int, target: str, *, rcvbuf: int | None = None) -> Ws:
        """Connect to ``127.0.0.1:port`` and upgrade ``target`` (path and query).

        Raises:
            Rejected: the server answered the upgrade with an HTTP status.
        """
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            with trio.fail_after(STEP_S):
                await sock.connect(("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        ws = cls(trio.SocketStream(sock), WSConnection(ConnectionType.CLIENT))
        try:
            await ws.send_raw(ws.conn.send(Request(host=f"127.0.0.1:{port}", target=target)))
            with trio.fail_after(STEP_S):
                while True:
                    data = await ws.stream.receive_some(65536)
                    arrival = time.perf_counter()
                    if not data:
                        raise Rejected(0)
                    ws.conn.receive_data(data)
                    for event in ws.conn.events():
                        if isinstance(event, AcceptConnection):
                            # Frames that came in the same chunk as the 101 (a hello, or a
                            # close right after the accept) are parsed now, not lost.
                            ws._pending = await ws._events(arrival)
                            return ws
                        if isinstance(event, RejectConnection):
                            raise Rejected(event.status_code)
        except BaseException:
            await ws.aclose()
            raise

    async def send_raw(self, data: bytes) -> None:
        with trio.fail_after(STEP_S):
            await self.stream.send_all(data)

    async def send_text(self, text: str) -> None:
        await self.send_raw(self.conn.send(TextMessage(data=text)))

    async def send_bytes(self, data: bytes) -> None:
        await self.send_raw(self.conn.send(BytesMessage(data=data)))

    async def receive(self) -> list[tuple[float, str | bytes]]:
        """The messages of the next chunk from the socket (maybe none), with its arrival time;
        ``[]`` and :attr:`close` set once closed."""
        if self._pending:
            out, self._pending = self._pending, []
            return out
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        arrival = time.perf_counter()
        if not data:
            self.close = self.close or (1006, "")
            return []
        self.conn.receive_data(data)
        return await self._events(arrival)

    async def _events(self, arrival: float) -> list[tuple[float, str | bytes]]:
        out: list[tuple[float, str | bytes]] = []
        for event in self.conn.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
                if event.message_finished:
                    if isinstance(event, TextMessage):
                        out.append((arrival, "".join(p for p in self._parts if isinstance(p, str))))
                    else:
                        joined = b"".join(p for p in self._parts if isinstance(p, bytes))
                        out.append((arrival, joined))
                    self._parts = []
            elif isinstance(event, CloseConnection):
                self.close = (event.code, event.reason or "")
                if self.conn.state is ConnectionState.REMOTE_CLOSING:
                    with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        await self.send_raw(self.conn.send(event.response()))
            elif isinstance(event, Ping):
                await self.send_raw(self.conn.send(event.response()))
        return out

    async def until_closed(self, deadline_s: float = STEP_S) -> list[str | bytes]:
        """Read until the server closes (messages read on the way are returned)."""
        got: list[str | bytes] = []
        with trio.move_on_after(deadline_s):
            while self.close is None or self._pending:
                got.extend(m for _, m in await self.receive())
        return got

    async def aclose(self) -> None:
        with trio.move_on_after(2) as scope:
            scope.shield = True
            if self.conn.state is ConnectionState.OPEN:
                with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await self.send_raw(self.conn.send(CloseConnection(code=1000)))
            await self.stream.aclose()
