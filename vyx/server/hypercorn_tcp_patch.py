"""Fixes for hypercorn 0.18's Trio TCP server: one connection could stop the whole listener.

1. ``TCPServer._close`` calls ``stream.send_eof()`` without the connection's send lock, and Trio's
   ``send_eof`` holds the stream's send-conflict detector across a checkpoint: a send from another
   task at that moment (a WebSocket ping, a session's writer) raises ``trio.BusyResourceError``,
   which hypercorn does not expect there. It escapes the connection's task group and
   ``trio.serve_listeners`` stops the listener with it: every browser disconnected, the port
   closed, the daemon's server gone (found by the load benchmark: among 1,000 bad connection
   attempts, one closed just as its first ping went out). The patched close sends the EOF only
   when it can take the send lock without waiting; if a send holds it (maybe blocked on a peer
   that stopped reading), the socket is closed without the EOF, which ends that send, as before.
2. Defence in depth: any other exception escaping one connection's handler is logged and ends
   that connection only (hypercorn has already closed its socket), never the listener.

Applied by :func:`vyx.server.service.run_server` when a server starts (idempotent; importing
changes nothing), and only on the hypercorn release they were written for
(:data:`~vyx.server.hypercorn_patch.PATCHED_VERSION`, pinned exactly in ``pyproject.toml``). The
upstream reports are drafted in ``docs/upstream/hypercorn.md``.
"""

from __future__ import annotations

import trio
from hypercorn.trio.tcp_server import TCPServer
from loguru import logger

from vyx.server.hypercorn_patch import check_version

_close = TCPServer._close
_run = TCPServer.run


async def _close_under_send_lock(self: TCPServer) -> None:
    try:
        self.send_lock.acquire_nowait()
    except trio.WouldBlock:
        pass  # a send is in flight: no EOF, closing the socket ends that send
    else:
        try:
            await self.stream.send_eof()
        except (
            trio.BrokenResourceError,
            trio.BusyResourceError,
            trio.ClosedResourceError,
            AttributeError,  # an SSL stream has no send_eof
        ):
            pass
        finally:
            self.send_lock.release()
    await self.stream.aclose()


async def _run_isolated(self: TCPServer) -> None:
    try:
        await _run(self)
    except* Exception:
        logger.exception("a connection's handler failed; only that connection was closed")


def apply() -> None:
    """Install the fixes (idempotent); raises ``RuntimeError`` on another hypercorn."""
    check_version()
    if TCPServer._close is _close:
        TCPServer._close = _close_under_send_lock  # type: ignore[method-assign]
        TCPServer.run = _run_isolated  # type: ignore[method-assign]
