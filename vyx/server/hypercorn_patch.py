"""Fixes for two hypercorn 0.18 WebSocket bugs.

1. A client can crash the whole server.

When a message exceeds ``websocket_max_message_size``, hypercorn closes with 1009 but leaves the
partial message in its buffer; a next message of the other kind (binary after text or the
reverse), already on the wire, is then written into the wrong buffer type and the ``TypeError``
escapes the connection task and brings down the listener (found by this package's protocol
fuzzing). The patched buffer keeps refusing every message once the limit was exceeded, so the
connection just finishes closing.

2. A closed connection's ping task sleeps out its ping interval (20 s) before it notices, and
hypercorn's graceful shutdown waits for it: every SIGTERM with a browser connected took the
whole ``graceful_timeout`` (5 s) longer (found by the chaos test). The patched stream cancels
its ping task as soon as it is closed.

Applied by :func:`vyx.server.service.run_server` when a server starts (idempotent; importing
changes nothing), and only on the hypercorn release they were written for
(:data:`PATCHED_VERSION`, pinned exactly in ``pyproject.toml``; another one is refused). The
upstream reports are drafted in ``docs/upstream/hypercorn.md``.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import trio
from hypercorn.protocol import ws_stream
from wsproto.events import Message, Ping

#: The hypercorn release these fixes replace private methods of.
PATCHED_VERSION = "0.18.0"


def check_version(found: str | None = None) -> None:
    """Refuse to patch another hypercorn than the one the fixes were written for: its private
    methods may have changed (raises ``RuntimeError`` naming both versions). ``found`` is the
    installed version unless given."""
    found = version("hypercorn") if found is None else found
    if found != PATCHED_VERSION:
        raise RuntimeError(
            f"vyx's hypercorn fixes fit hypercorn {PATCHED_VERSION}, not {found}: "
            "install the version pinned in pyproject.toml"
        )


_Base = ws_stream.WebsocketBuffer


class _ClosingWebsocketBuffer(_Base):
    def extend(self, event: Message) -> None:  # type: ignore[type-arg]
        if self.length > self.max_length:
            raise ws_stream.FrameTooLargeError
        super().extend(event)


_Stream = ws_stream.WSStream
_handle = _Stream.handle
_app_send = _Stream.app_send


async def _send_pings(self: Any) -> None:
    self._vyx_pings = scope = trio.CancelScope()
    with scope:
        while not self.closed:
            await self._send_wsproto_event(Ping())
            await self.context.sleep(self.config.websocket_ping_interval)


def _stop_pings_once_closed(self: Any) -> None:
    scope: trio.CancelScope | None = getattr(self, "_vyx_pings", None)
    if scope is not None and self.closed:
        scope.cancel()


async def _handle_then_stop_pings(self: Any, event: Any) -> None:
    try:
        await _handle(self, event)
    finally:
        _stop_pings_once_closed(self)


async def _app_send_then_stop_pings(self: Any, message: Any) -> None:
    try:
        await _app_send(self, message)
    finally:
        _stop_pings_once_closed(self)


def apply() -> None:
    """Install the fixes (idempotent); raises ``RuntimeError`` on another hypercorn."""
    check_version()
    if ws_stream.WebsocketBuffer is _Base:
        ws_stream.WebsocketBuffer = _ClosingWebsocketBuffer  # type: ignore[misc]
    if _Stream.handle is _handle:
        _Stream._send_pings = _send_pings  # type: ignore[method-assign]
        _Stream.handle = _handle_then_stop_pings  # type: ignore[method-assign]
        _Stream.app_send = _app_send_then_stop_pings  # type: ignore[method-assign]
